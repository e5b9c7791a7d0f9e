"""The listing commands, `mlops status` and `mlops history`, and what every listing prints: tables that wrap
rather than cut (piped output and 80-column terminals included) or, with `--json`, one JSON document on stdout
for scripts. Replay's timeline (`mlops replay --json`) is printed here too."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlops.cli.arguments import anchor_spec
from mlops.cli.render import out, pct
from mlops.cli.runtime import spec_problems, user_errors
from mlops.errors import SpecError

SpecArg = Annotated[
    Path, typer.Argument(help="The pipeline spec, e.g. deployments/flight_delays.yaml", callback=anchor_spec)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


def status(spec: SpecArg, as_json: JsonOption = False) -> None:
    """Show the champion (since when, and the ledger entry that made it champion), its holdout metrics, the last
    decision and the recent versions."""
    from mlops.settings import get_settings

    loaded = _load(spec)
    from tasks.tracking.snapshot import registry_view

    name = loaded.spec.registry.model_name
    with user_errors(False):
        versions, entries = registry_view(name)
    metric = loaded.spec.promotion.metric
    if as_json:
        emit_json(status_document(name, versions, entries, metric))
        return
    if not versions:
        out.print(f"No versions of '{name}' yet. Train one: mlops run retrain {spec}")
        return
    print_status(name, versions, entries, metric, get_settings().mlflow_ui_command())


def history(spec: SpecArg, as_json: JsonOption = False) -> None:
    """Every promotion decision, rollback and approval of the pipeline's model, oldest first (the ledger)."""
    loaded = _load(spec)
    from tasks.tracking.snapshot import registry_view

    name = loaded.spec.registry.model_name
    with user_errors(False):
        entries = registry_view(name)[1]
    if as_json:
        emit_json({"model": name, "entries": [asdict(e) for e in entries]})
        return
    if not entries:
        out.print(f"No decisions recorded for '{name}' yet. Train one: mlops run retrain {spec}")
        return
    print_history(name, entries)


# --- what changed the champion ------------------------------------------------------------------------------


def champion_change(entries: list[Any], version: str) -> Any | None:
    """The last ledger entry that made `version` champion (a promotion, an approval, a rollback), or None."""
    for e in reversed(entries):
        if e.champion_after == version and e.champion_before != version:
            return e
    return None


def rollback_message(name: str, before: str, after: str, target: Any | None, spec: Path) -> str:
    """What a rollback did, in words: back to an older champion, or forward to a newer version, or to a version
    the policy had rejected (said, with its rule)."""
    direction = "back" if int(after) < int(before) else "forward"
    text = f"{name}: champion moved {direction} from v{before} to v{after}"
    if direction == "forward":
        text += f" (v{after} is newer than v{before})"
    decision = target.tag("decision") if target is not None else ""
    if target is not None and decision and decision != "promoted":
        rule = target.tag("decision.rule")
        text += f"; v{after} had been {decision} by the policy" + (f" ({rule})" if rule else "")
        text += " and is now champion by your decision"
    return f"{text}; recorded in the ledger (mlops history {spec})."


# --- output ------------------------------------------------------------------------------------------------


def emit_json(document: Any) -> None:
    """One JSON document on stdout, no colours or wrapping (scripts parse it)."""
    from mlops.secrets import hide_secrets

    typer.echo(hide_secrets(json.dumps(_plain(document), indent=2)))


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def status_document(name: str, versions: list[Any], entries: list[Any], metric: str) -> dict[str, Any]:
    champ = next((v for v in versions if "champion" in v.aliases), None)
    change = champion_change(entries, champ.version) if champ else None
    last = versions[0] if versions else None
    return {
        "model": name,
        "metric": metric,
        "champion": None
        if champ is None
        else {
            "version": champ.version,
            "since": change.at if change else champ.tag("decision.at") or champ.created,
            "changed_by": asdict(change) if change else None,
            "metrics": champ.metrics,
        },
        "last_decision": None
        if last is None
        else {
            "version": last.version,
            "decision": last.tag("decision"),
            "rule": last.tag("decision.rule"),
            "reasons": last.tag("decision.reasons").splitlines(),
        },
        "versions": [
            {
                "version": v.version,
                "aliases": sorted(v.aliases),
                "created": v.created,
                "metrics": v.metrics,
                "decision": v.tag("decision"),
                "data_sha256": v.tag("data_sha256"),
            }
            for v in versions
        ],  # fmt: skip
    }


WHOLE = {"when (UTC)": 20, "created": 19, "period": 10}  # timestamps: never split, never cut


def table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells wrap (long words fold) instead of being cut with '…'; timestamps keep their width."""
    t = Table(title=title)
    for c in columns:
        width = WHOLE.get(c)
        t.add_column(c, overflow="fold", no_wrap=width is not None, min_width=width)
    return t


def print_status(name: str, versions: list[Any], entries: list[Any], metric: str, ui_command: str) -> None:
    doc = status_document(name, versions, entries, metric)
    champ = doc["champion"]
    if champ:
        out.print(f"[bold]{name}[/bold]: champion v{champ['version']} (since {champ['since']})")
        change = champ["changed_by"]
        if change:
            why = "; ".join(change["reasons"])
            moved = f"v{change['champion_before'] or '-'} -> v{change['champion_after']}"
            out.print(
                f"  made champion by: {change['action']} ({change['rule']}) by {change['actor']} at "
                f"{change['at']}, {moved}" + (f": {why}" if why else ""),
                markup=False,
            )
        out.print("  holdout: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(champ["metrics"].items())))
    else:
        out.print(f"[bold]{name}[/bold]: no champion (no version has been promoted)")
    last = doc["last_decision"]
    out.print(f"Last decision: v{last['version']} {last['decision'] or '?'} ({last['rule']})")
    for reason in last["reasons"]:
        out.print(f"  - {reason}", markup=False)
    t = table("version", "aliases", "created", metric, "decision", "data sha256", title="Recent versions")
    for v in doc["versions"][:10]:
        value = v["metrics"].get(metric)
        t.add_row(
            v["version"], ", ".join(v["aliases"]), v["created"], "" if value is None else f"{value:.4f}",
            v["decision"], v["data_sha256"][:12],
        )  # fmt: skip
    out.print(t)
    out.print(f"MLflow UI: {ui_command}", markup=False)


def print_history(name: str, entries: list[Any]) -> None:
    t = table("when (UTC)", "action", "version", "champion", "by", "why", title=f"{name}: ledger")
    for e in entries:
        moved = f"v{e.champion_before or '-'} -> v{e.champion_after or '-'}"
        t.add_row(e.at, e.action, f"v{e.version}" if e.version else "", moved, e.actor, "\n".join(e.reasons))
    out.print(t)


def print_replay(timeline: Any, as_json: bool = False) -> None:
    if as_json:
        emit_json(timeline)
        return
    marked = any(r.in_sample_of for r in timeline.rows)
    columns = [
        "period",
        "rows",
        "quality gate",
        "drift share",
        f"batch {timeline.metric}",
        "action",
        "champion",
    ]
    t = table(*columns, *(["in-sample"] if marked else []), title="Replay timeline")
    for r in timeline.rows:
        t.add_row(
            r.period, f"{r.rows:,}", r.quality_gate, pct(r.drift_share),
            "" if r.model_metric is None else f"{r.model_metric:.4f}", r.action,
            f"v{r.champion_version}" if r.champion_version else "",
            *([f"v{r.in_sample_of}" if r.in_sample_of else ""] if marked else []),
        )  # fmt: skip
    out.print(t)
    if timeline.baselines:
        print_baselines(timeline)
    for note in timeline.notes:
        out.print(f"Note: {note}.", markup=False)
    out.print(f"Timeline saved: {timeline.csv_path}", markup=False)
    chart = Path(timeline.csv_path).with_suffix(".png")
    if chart.is_file():
        out.print(f"Chart: {chart} (with the timeline: {chart.with_suffix('.html')})", markup=False)


def print_baselines(timeline: Any) -> None:
    """The outcome that matters: the mean realised quality of the models actually served, by strategy."""
    t = table(
        "strategy", "periods", "mean (by rows)", "plain mean", "retrains", "promoted", "models served",
        title=f"Outcome: realised {timeline.metric} of the models served",
    )  # fmt: skip
    for b in timeline.baselines:
        t.add_row(
            b.strategy, str(b.periods), "" if b.mean is None else f"{b.mean:.4f}",
            "" if b.plain_mean is None else f"{b.plain_mean:.4f}", str(b.retrains), str(b.promotions), b.models,
        )  # fmt: skip
    out.print(t)


def _load(spec: Path) -> Any:
    from mlops.spec import load_spec

    try:
        return load_spec(spec)
    except SpecError as exc:
        spec_problems(exc.problems)
