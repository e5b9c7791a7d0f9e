"""The replay's picture (matplotlib): a year of production on one chart, written beside the timeline CSV, and a
small HTML page that shows it above the timeline table.

Top panel: the drift share per period, raw and weighted by feature importance. Bottom panel: the primary metric,
estimated (no labels needed) and realised (labelled periods), the champion's holdout figure, the actions as
markers, and the champion version as a step line on a second axis. matplotlib is imported inside write_chart
(Agg backend, no display), so importing this module costs nothing.
"""

from __future__ import annotations

import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

ACTION_KINDS = ("alert", "held back", "retrain", "promoted", "stopped")


@dataclass(frozen=True)
class ChartSeries:
    """One value per period (None where there is none), as read from the timeline CSV."""

    metric: str
    periods: list[str]
    drift_share: list[float | None]
    weighted_drift_share: list[float | None]
    estimated: list[float | None]
    realised: list[float | None]
    reference: list[float | None]
    champion: list[int | None]
    actions: list[str]  # per period: "" | alert | held back | retrain | promoted | stopped
    in_sample: list[bool] = field(default_factory=list)  # inside the serving model's training window


def action_kind(action: str) -> str:
    """The marker a timeline action gets: a promoted retrain, a rejected or failed one, an alert (drift or a
    quality drop without a retrain), a stopped or skipped period, or nothing."""
    text = action.strip()
    if "retrain: v" in text:
        return "promoted" if "promoted" in text else "retrain"
    if text.startswith(("stopped", "skipped")):
        return "stopped"
    if text.startswith("drift (no retrain"):
        return (
            "held back"  # the verdict asked for a retrain; a cooldown or the episode's retries held it back
        )
    if text in ("", "none"):
        return ""
    return "alert"


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def chart_series(rows: list[dict[str, str]], metric: str) -> ChartSeries:
    """The series of the chart from the timeline CSV's rows (csv.DictReader). Realised quality comes from
    `realised_<metric>`, else the batch column `<metric>`; columns a timeline does not have give None."""

    def column(name: str, fallback: str | None = None) -> list[float | None]:
        return [
            _number(r.get(name) if r.get(name) not in (None, "") else r.get(fallback or "")) for r in rows
        ]

    champion: list[int | None] = []
    for r in rows:
        version = (r.get("champion_version") or "").strip().lstrip("v")
        champion.append(int(version) if version.isdigit() else None)
    return ChartSeries(
        metric=metric,
        periods=[r.get("period", "") for r in rows],
        drift_share=column("drift_share"),
        weighted_drift_share=column("weighted_drift_share"),
        estimated=column(f"estimated_{metric}"),
        realised=column(f"realised_{metric}", metric),
        reference=column(f"reference_{metric}"),
        champion=champion,
        actions=[action_kind(r.get("action", "")) for r in rows],
        in_sample=[bool((r.get("in_training_window") or "").strip()) for r in rows],
    )


def read_timeline(csv_path: Path) -> list[dict[str, str]]:
    with Path(csv_path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def write_chart(series: ChartSeries, path: Path) -> Path:
    """The PNG, written to a temporary file and renamed when complete."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global state, nothing kept open

    x = list(range(len(series.periods)))
    fig = Figure(figsize=(max(8.0, 0.45 * len(x) + 4) + 3, 6.5), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
    top.plot(x, _nan(series.drift_share), "o-", color="tab:gray", label="drift share (raw)")
    if any(v is not None for v in series.weighted_drift_share):
        top.plot(
            x, _nan(series.weighted_drift_share), "s-", color="tab:purple", label="drift share (weighted)"
        )
    styles = {"alert": ("v", "tab:orange"), "held back": ("P", "tab:pink"), "retrain": ("X", "tab:red"),
              "promoted": ("*", "tab:red"), "stopped": ("x", "black")}  # fmt: skip
    for kind, (marker, colour) in styles.items():  # the actions along the top of the drift panel
        at = [i for i, a in enumerate(series.actions) if a == kind]
        if at:
            top.scatter(at, [1.08] * len(at), marker=marker, s=90, color=colour, zorder=5, label=kind)
    shade_in_sample(series.in_sample, (top, bottom))
    top.set_ylim(0, 1.15)
    top.set_ylabel("share of features")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    top.grid(alpha=0.3)

    m = series.metric
    if any(v is not None for v in series.estimated):
        bottom.plot(x, _nan(series.estimated), "^-", color="tab:blue", label=f"estimated {m}")
    bottom.plot(x, _nan(series.realised), "o-", color="tab:green", label=f"realised {m} (labelled)")
    if any(v is not None for v in series.reference):
        bottom.step(
            x, _nan(series.reference), "--", where="mid", color="black", lw=1, label="champion's holdout"
        )
    bottom.set_ylabel(m)
    bottom.grid(alpha=0.3)
    versions = bottom.twinx()
    known = [c for c in series.champion if c is not None]
    versions.step(x, _nan([float(c) if c is not None else None for c in series.champion]), where="mid",
                  color="tab:brown", alpha=0.5, lw=2, label="champion version (after the period)")  # fmt: skip
    if known:
        versions.set_ylim(min(known) - 0.5, max(known) + 0.5)
        versions.set_yticks(range(min(known), max(known) + 1))
    versions.set_ylabel("champion version")
    handles, labels = bottom.get_legend_handles_labels()
    more_handles, more_labels = versions.get_legend_handles_labels()
    bottom.legend(handles + more_handles, labels + more_labels, loc="upper left", bbox_to_anchor=(1.08, 1),
                  fontsize=8)  # fmt: skip
    bottom.set_xticks(x)
    bottom.set_xticklabels(series.periods, rotation=45, ha="right", fontsize=8)
    fig.suptitle(f"Replay: drift, {m} and actions per period")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fig.savefig(partial, format="png")
    partial.replace(path)
    return path


def shade_in_sample(marks: list[bool], axes: tuple[object, ...]) -> None:
    """Shade the periods the serving model trained on: their realised quality is in-sample, no evidence."""
    for n, at in enumerate(i for i, m in enumerate(marks) if m):
        for ax in axes:
            label = (
                "in the serving model's training window (in-sample)" if n == 0 and ax is axes[-1] else None
            )
            ax.axvspan(at - 0.5, at + 0.5, color="gold", alpha=0.25, lw=0, zorder=0, label=label)  # type: ignore[attr-defined]


def write_page(rows: list[dict[str, str]], chart: Path, path: Path, title: str) -> Path:
    """A self-contained HTML page beside the chart: the picture, then the timeline table."""
    head = list(rows[0]) if rows else []
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(h, '')))}</td>" for h in head) + "</tr>" for r in rows
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif} td,th{padding:2px 8px;border-bottom:1px solid #ddd;font-size:13px}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p><a href='{html.escape(chart.name)}'>"
        f"<img src='{html.escape(chart.name)}' alt='replay chart' style='max-width:100%'></a></p>"
        f"<table><thead><tr>{cells}</tr></thead><tbody>\n{body}\n</tbody></table></body></html>\n"
    )
    path.write_text(page)
    return path


def replay_chart(csv_path: str | Path, metric: str, title: str = "Replay") -> Path:
    """timeline.png and timeline.html beside the timeline CSV; returns the PNG's path."""
    csv_path = Path(csv_path)
    rows = read_timeline(csv_path)
    png = write_chart(chart_series(rows, metric), csv_path.with_suffix(".png"))
    write_page(rows, png, csv_path.with_suffix(".html"), title)
    return png
