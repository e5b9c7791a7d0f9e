"""What a person sees of a run: Prefect artifacts in the UI and the summary the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.baselines import Summary
from mlops.policy import IMPROVEMENT_HEADER, Decision, metric_improvement

if TYPE_CHECKING:
    from mlops.catalog import Direction
    from mlops.drift_policy import DriftVerdict
    from mlops.labels import LabelReport
    from tasks.drift import DriftSummary
    from tasks.estimate import QualitySignals


@dataclass(frozen=True)
class RetrainResult:
    pipeline: str
    model_name: str
    quality: str  # one line: the gate's headline, or "no suite declared"
    quality_warning: bool
    split: str
    metric: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    champion_before: str | None
    decision: Decision
    version: str
    champion_after: str | None
    run_url: str
    version_url: str
    run_id: str
    fit_seconds: float
    mode: str = "auto"
    duplicate_of: str | None = None
    notes: list[str] = field(default_factory=list)
    reused_run: bool = False  # the model of an earlier, finished run with the same idempotency key
    candidates: list[CandidateScore] = field(default_factory=list)  # model.candidates, when declared
    candidates_ran_on: str = ""  # "3 fits on Dask tcp://host:port" or "3 fits on 3 threads"
    search: list[str] = field(
        default_factory=list
    )  # model.search: its headline, then the best trial's values


@dataclass(frozen=True)
class CandidateScore:
    """One of model.candidates: its parameters, its score on the validation part of the training data, and
    whether it won (became the challenger)."""

    params: dict[str, Any]
    metric: str
    value: float
    chosen: bool

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items()) or "model.params as declared"
        score = "not computed" if math.isnan(self.value) else f"{self.value:.4f}"
        return f"{params}: validation {self.metric} {score}" + ("  <- chosen" if self.chosen else "")


def candidate_scores(tried: list[Any], direction: Direction) -> list[CandidateScore]:
    """The candidates' validation scores (tasks.train.CandidateResult), the winner marked as the flow chose it."""
    if not tried:
        return []
    from mlops.policy import best_candidate

    values = [t.value for t in tried]
    try:
        best = best_candidate(values, direction)
    except ValueError:
        best = -1
    # what tells the candidates apart (model.params they all share would only repeat on every line)
    keys = {k for t in tried for k in t.params}
    varying = {k for k in keys if len({repr(t.params.get(k)) for t in tried}) > 1}
    return [
        CandidateScore(
            {k: v for k, v in t.params.items() if k in varying or not varying}, t.metric, t.value, i == best
        )
        for i, t in enumerate(tried)
    ]


def search_lines(outcome: Any) -> list[str]:
    """'Search: 20 trials (...)' and the best trial's values (tasks.search.Outcome), or nothing without a search."""
    if outcome is None:
        return []
    where = f" ({outcome.ran_on})" if outcome.ran_on else ""
    stopped = "; stopped by timeout_minutes" if outcome.stopped_by == "timeout" else ""
    values = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in outcome.best.params.items()
    )
    return [
        f"Search: {outcome.headline()}{where}{stopped}; the best trial's values trained on all the training rows",
        f"  best #{outcome.best.number}: {values}",
    ]


def candidate_lines(result: RetrainResult) -> list[str]:
    """'Candidates: ...' then one line per candidate, numbered as in model.candidates."""
    if not result.candidates:
        return []
    chosen = next((i for i, c in enumerate(result.candidates) if c.chosen), None)
    ran_on = getattr(result, "candidates_ran_on", "")  # "3 fits on Dask tcp://...", "3 fits on 3 threads"
    trained = f"{len(result.candidates)} trained" + (f" ({ran_on})" if ran_on else "")
    head = (
        f"Candidates: {trained}; candidate #{chosen + 1} won on validation and is the "
        "challenger (scored on a validation part of the training data, never on the holdout)"
        if chosen is not None
        else f"Candidates: {trained}"
    )
    return [head] + [f"  #{i + 1} {c.describe()}" for i, c in enumerate(result.candidates)]


def metric_rows(result: RetrainResult) -> list[tuple[str, str, str, str]]:
    """(metric, champion, challenger, improvement) with the primary metric first; the improvement is signed as
    the decision's reasons sign it, + when the challenger is better (lower rmse is +)."""
    names = sorted(result.challenger_metrics, key=lambda n: (n != result.metric, n))
    d = result.decision
    rows = []
    for name in names:
        new = result.challenger_metrics[name]
        old = (result.champion_metrics or {}).get(name)
        gain = metric_improvement(name, new, old, result.metric, d.direction)
        rows.append((name, _num(old), _num(new), "" if gain is None else f"{gain:+.4f}"))
    return rows


def comparison_line(result: RetrainResult) -> str | None:
    """The line 'Compared on N holdout rows (K rows the champion trained on excluded)', when there was a
    champion to compare with."""
    ev = result.decision.evidence
    if result.champion_before is None or ev is None:
        return None
    text = ev.compared_text()
    return text[0].upper() + text[1:]


def evidence_markdown(decision: Decision) -> str:
    """The evidence of a decision for a person: the metric, the interval, the slices, the holdout."""
    lines = [f"**Decision by the policy**: {decision.verdict} ({decision.rule})", ""]
    lines += [f"- {r}" for r in decision.reasons]
    ev = decision.evidence
    if ev is not None:
        lines.append(f"- holdout: {ev.compared_text()}; sha256 {ev.holdout_sha256[:16]}")
        if ev.interval is not None:
            lines.append(f"- {ev.interval.describe()}")
        if ev.slices:
            lines += ["", "| slice | rows | challenger | champion |", "|---|---|---|---|"]
            lines += [
                f"| {s.column}={s.value} | {s.rows} | {s.challenger:.4f} | {s.champion:.4f} |"
                for s in ev.slices
            ]
    return "\n".join(lines)


def summary_markdown(result: RetrainResult) -> str:
    d = result.decision
    champ = f"v{result.champion_before}" if result.champion_before else "none"
    lines = [
        f"# {result.pipeline}: challenger v{result.version} **{d.verdict}**",
        "",
        f"- **Decision** ({d.rule}, mode {result.mode}): " + "; ".join(d.reasons),
        f"- **Champion** before: {champ}, after: v{result.champion_after}",
        f"- **Data quality**: {result.quality}",
        f"- **Split**: {result.split}"
        + (
            " (model reused from an earlier run with the same spec, data and code: not refitted)"
            if result.reused_run
            else ""
        ),
        f"- **MLflow**: [run]({result.run_url}) · [model version v{result.version}]({result.version_url})",
        *([f"- **Comparison**: {line}"] if (line := comparison_line(result)) else []),
        "",
        f"| metric | champion ({champ}) | challenger (v{result.version}) | {IMPROVEMENT_HEADER} |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {'**' + m + '**' if m == result.metric else m} | {a} | {b} | {c} |"
        for m, a, b, c in metric_rows(result)
    ]
    if cands := candidate_lines(result):
        lines += ["", f"**{cands[0]}**", "", *[f"- {c.strip()}" for c in cands[1:]]]
    if found := getattr(result, "search", []):
        lines += ["", f"**{found[0]}**", "", *[f"- {c.strip()}" for c in found[1:]]]
    lines += [f"\n> {n}" for n in result.notes]
    return "\n".join(lines)


def publish_summary(result: RetrainResult) -> None:
    """Markdown summary and links as Prefect artifacts, shown on the flow run's page in the UI."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = result.pipeline.replace("_", "-")
    create_markdown_artifact(
        key=f"{key}-retrain-summary", markdown=summary_markdown(result), description="Champion vs challenger"
    )
    create_link_artifact(key=f"{key}-mlflow-run", link=result.run_url, link_text="MLflow run")
    create_link_artifact(
        key=f"{key}-model-version",
        link=result.version_url,
        link_text=f"{result.model_name} v{result.version}",
    )


def publish_quality_stop(pipeline: str, markdown: str, run_url: str | None) -> None:
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = pipeline.replace("_", "-")
    create_markdown_artifact(
        key=f"{key}-quality-gate", markdown=markdown, description="The batch failed its suite"
    )
    if run_url:
        create_link_artifact(
            key=f"{key}-quality-run", link=run_url, link_text="MLflow run of the failed gate"
        )


def _num(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def _whole(value: float | None) -> str:
    """A number at full precision (for files scripts read back), '' when missing."""
    return "" if value is None or math.isnan(value) else repr(float(value))


@dataclass(frozen=True)
class MonitorResult:
    pipeline: str
    model_name: str
    batch: str  # what was monitored: a file, or a window of the source
    rows: int
    quality: str
    champion_version: str
    drift: DriftSummary
    verdict: DriftVerdict
    metric: str
    reference_metric: float | None  # the champion's holdout value of promotion.metric
    batch_end: str
    run_url: str
    retrain_reason: str
    retrain: RetrainResult | None = None
    event_id: str | None = None
    notes: list[str] = field(default_factory=list)
    # the champion's quality on the batch's labelled rows, by the metric function that scored its holdout
    model_quality: dict[str, float] | None = None
    retrain_window: str | None = None  # the training window of the drift retrain, when one was started
    # drift_share, weighted_drift_share, estimated, realised, reference (tasks/estimate.py; issue 14)
    signals: QualitySignals | None = None
    # labels that arrived later, joined to the kept predictions (tasks/labels.py; issue 26)
    labels: LabelReport | None = None

    @property
    def batch_metric(self) -> float | None:
        value = (self.model_quality or {}).get(self.metric)
        return None if value is None or math.isnan(value) else value


def monitor_markdown(result: MonitorResult) -> str:
    v = result.verdict
    state = f"**{v.state}**" if v.state != "no drift" else "no drift"
    lines = [
        f"# {result.pipeline}: {state} on {result.batch}",
        "",
        f"- **Action**: {v.action}; retrain: {result.retrain_reason}",
        f"- **Champion judged**: v{result.champion_version}",
        f"- **Data quality**: {result.quality}",
        "- **Reasons**: " + "; ".join(v.reasons),
        f"- **MLflow**: [monitor run]({result.run_url})",
    ]
    if result.drift.unjudgeable:
        lines.append(
            "- **Counted as drifted, cannot be judged**: "
            + ", ".join(f"{c} ({why})" for c, why in result.drift.unjudgeable.items())
        )
    if result.model_quality is not None:
        ref = (
            ""
            if result.reference_metric is None
            else f" (champion's holdout {result.metric}: {_num(result.reference_metric)})"
        )
        shown = ", ".join(f"{k} {_num(x) or 'not computed'}" for k, x in result.model_quality.items())
        lines.append(f"- **Model quality on the batch**: {shown}{ref}")
    if result.signals is not None:
        lines += [f"- {line}" for line in result.signals.lines(result.metric)]
    if result.labels is not None:
        lines += [f"- {line.strip()}" for line in result.labels.lines()]
    if result.drift.html_path:
        lines.append(f"- **Evidently report**: `{result.drift.html_path}`")
    if result.retrain is not None:
        lines.append(f"- **Retrain**: challenger v{result.retrain.version} {result.retrain.decision.verdict}")
    lines += ["", result.drift.to_markdown()]
    lines += [f"> {n}" for n in result.notes]
    return "\n".join(lines)


def publish_monitor(result: MonitorResult) -> None:
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = result.pipeline.replace("_", "-")
    create_markdown_artifact(
        key=f"{key}-monitor-summary", markdown=monitor_markdown(result), description="Drift"
    )
    create_link_artifact(key=f"{key}-monitor-run", link=result.run_url, link_text="MLflow monitor run")
    if result.drift.html_path:
        create_link_artifact(
            key=f"{key}-drift-report",
            link=Path(result.drift.html_path).resolve().as_uri(),
            link_text="Evidently report",
        )


@dataclass(frozen=True)
class TimelineRow:
    period: str
    rows: int
    quality_gate: str
    drift_share: float | None
    model_metric: float | None
    action: str
    champion_version: str | None
    # the primary metric estimated without labels, and the champion's holdout figure; drift weighted by importance
    weighted_drift_share: float | None = None
    estimated_metric: float | None = None
    reference_metric: float | None = None
    # the serving model whose training window holds this period: its realised figure is in-sample
    in_sample_of: str | None = None
    # models trained during the period (the monitor's retrain, the schedule's) and how many were promoted
    retrains: int = 0
    promotions: int = 0


def timeline_signals(result: MonitorResult) -> dict[str, float | None]:
    """The TimelineRow fields a monitor result gives beyond the raw drift share and the realised metric."""
    signals = result.signals
    return {
        "weighted_drift_share": signals.weighted_drift_share if signals else None,
        "estimated_metric": signals.estimated.get(result.metric) if signals else None,
        "reference_metric": result.reference_metric,
    }


@dataclass(frozen=True)
class Timeline:
    rows: list[TimelineRow]
    csv_path: str
    metric: str
    notes: list[str] = field(default_factory=list)  # "periods X..Y are inside the training window of vN: ..."
    # with --baselines: the spec's policy against never retrain and retrain every period (mlops/baselines.py)
    baselines: list[Summary] = field(default_factory=list)


def in_sample_text(version: str | None) -> str:
    """The timeline's in-sample mark: "v3 (in-sample)" where the serving v3 trained on the period, else ""."""
    return f"v{version} (in-sample)" if version else ""


def publish_timeline(pipeline: str, metric: str, rows: list[TimelineRow], folder: Path) -> Path:
    """The replay's timeline as a CSV and Markdown file, and a Prefect table artifact."""
    import csv

    from prefect.artifacts import create_table_artifact

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "timeline.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["period", "rows", "quality_gate", "drift_share", metric, "action", "champion_version",
             "weighted_drift_share", f"estimated_{metric}", f"realised_{metric}", f"reference_{metric}",
             "in_training_window"]
        )  # fmt: skip
        for r in rows:
            writer.writerow([r.period, r.rows, r.quality_gate, _whole(r.drift_share), _whole(r.model_metric),
                             r.action, r.champion_version or "", _whole(r.weighted_drift_share),
                             _whole(r.estimated_metric), _whole(r.model_metric), _whole(r.reference_metric),
                             in_sample_text(r.in_sample_of)])  # fmt: skip
    table = [
        {"period": r.period, "rows": r.rows, "quality gate": r.quality_gate, "drift share": _num(r.drift_share),
         metric: _num(r.model_metric), "action": r.action, "champion": r.champion_version or "",
         "in training window": in_sample_text(r.in_sample_of)}
        for r in rows
    ]  # fmt: skip
    create_table_artifact(
        key=f"{pipeline.replace('_', '-')}-replay-timeline", table=table, description="Replay"
    )
    return path


def publish_baselines(pipeline: str, metric: str, summaries: list[Summary], folder: Path) -> Path:
    """The replay's comparison with the two baselines: baselines.csv beside the timeline, and a Prefect table."""
    import csv

    from prefect.artifacts import create_table_artifact

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "baselines.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["strategy", "periods_judged", "rows", f"mean_{metric}_weighted_by_rows",
                         f"mean_{metric}_plain", "retrains", "promotions", "models_served"])  # fmt: skip
        for b in summaries:
            writer.writerow([b.strategy, b.periods, b.rows, _whole(b.mean), _whole(b.plain_mean), b.retrains,
                             b.promotions, b.models])  # fmt: skip
    table = [
        {"strategy": b.strategy, "periods judged": b.periods, f"mean {metric} (by rows)": _num(b.mean),
         "retrains": b.retrains, "promotions": b.promotions, "models served": b.models}
        for b in summaries
    ]  # fmt: skip
    create_table_artifact(
        key=f"{pipeline.replace('_', '-')}-replay-baselines", table=table,
        description=f"Replay: the mean realised {metric} of the models served, weighted by rows",
    )  # fmt: skip
    return path
