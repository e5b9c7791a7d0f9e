"""replay: a stretch of production, period by period, in one run. For each period of the source's time column it
runs the monitor on that period's batch (which retrains when the drift policy says so) and, optionally, a
scheduled retrain every N periods; the timeline says what happened and which version was champion after."""

from __future__ import annotations

from typing import Any

from flows.monitor import monitor
from flows.retrain import retrain
from mlops.baselines import Summary, policy_outcome, reading, summarise
from mlops.drift_policy import periods
from mlops.errors import DataError, QualityGateFailed
from mlops.in_sample import TrainingWindow, in_sample_notes, inside, training_window
from mlops.settings import get_settings
from mlops.spec import load_spec
from mlops.timeutil import parse_time, window_before
from tasks import data, report, steps


@steps.masked_flow(name="replay", flow_run_name="replay-{spec_path}-{start}-{end}")
def replay(
    spec_path: str,
    start: str,
    end: str,
    every: str = "month",
    retrain_every: int = 0,
    baselines: bool = False,
) -> report.Timeline:
    """With `baselines`, also the mean realised quality of the models served against never retraining and
    retraining every period (tasks/baselines.py: computed in memory, nothing registered)."""
    loaded = load_spec(spec_path)
    spec = loaded.spec
    begin, finish = parse_time(start), parse_time(end)
    if begin is None or finish is None:
        raise DataError("replay needs --start and --end dates, e.g. --start 2013-07-01 --end 2014-01-01.")
    rows: list[report.TimelineRow] = []
    model = spec.registry.model_name
    serving = steps.champion_version(model)  # the model judging the period: the champion before it
    first, first_version = steps.first_contender(model) if baselines else None, serving
    windows_replayed = periods(begin, finish, every)
    windows: dict[str, TrainingWindow | None] = {}  # each serving model's training window, read once
    for i, (p0, p1) in enumerate(windows_replayed):
        if serving is not None and serving not in windows:
            windows[serving] = training_window(serving, *steps.trained_span(model, serving))
        in_sample = serving if serving is not None and inside(p0, p1, windows[serving]) else None
        label = p0.date().isoformat()
        row: dict[str, Any] = dict(
            period=label, rows=0, quality_gate="", drift_share=None, model_metric=None, action=""
        )
        try:
            result = monitor(spec_path, start=p0.isoformat(), end=p1.isoformat())
            row |= dict(rows=result.rows, quality_gate="passed" if spec.quality else "none",
                        drift_share=result.drift.drifted_share, model_metric=result.batch_metric,
                        action=result.verdict.action if result.verdict.acts else "none")  # fmt: skip
            row |= report.timeline_signals(result)  # weighted drift, estimated and reference quality
            if result.retrain is not None:
                row["action"] = f"retrain: v{result.retrain.version} {result.retrain.decision.verdict}"
                row |= dict(retrains=1, promotions=int(result.retrain.decision.promote))
            elif result.verdict.action == "retrain":  # a cooldown, or the episode's retries used up
                row["action"] = f"drift (no retrain: {result.retrain_reason.split(':')[0]})"
        except QualityGateFailed as exc:
            row |= dict(
                rows=exc.rows or 0, quality_gate="FAILED", action="stopped: " + "; ".join(exc.failures)
            )
        except DataError as exc:
            row |= dict(action=f"skipped: {exc}")
        if retrain_every and (i + 1) % retrain_every == 0 and "retrain:" not in str(row["action"]):
            window_start, window_end = window_before(
                p1, spec.monitoring.retrain_window_days, spec.data.window
            )
            scheduled = retrain(spec_path, window_start=window_start, window_end=window_end)
            row["action"] = (
                f"{row['action']}; scheduled retrain: v{scheduled.version} {scheduled.decision.verdict}"
            )
            row["retrains"] = row.get("retrains", 0) + 1
            row["promotions"] = row.get("promotions", 0) + int(scheduled.decision.promote)
        serving = steps.champion_version(model)
        rows.append(report.TimelineRow(**row, champion_version=serving, in_sample_of=in_sample))
    folder = get_settings().reports_dir(spec.name) / f"replay-{data.run_stamp()}"
    path = steps.publish_timeline(spec.name, spec.promotion.metric, rows, folder)
    steps.draw_replay_chart(path, spec.promotion.metric, f"{spec.name}: replay {start} to {end} by {every}")
    notes = in_sample_notes([(r.period, r.in_sample_of) for r in rows])
    compared: list[Summary] = []
    if first is not None and first_version is not None:
        ran = steps.replay_baselines(
            loaded, windows_replayed, [r.model_metric is not None for r in rows], first, folder / "baselines"
        )
        policy = policy_outcome(
            first_version, [r.period for r in rows], [r.rows for r in rows], [r.model_metric for r in rows],
            [r.champion_version for r in rows], sum(r.retrains for r in rows), sum(r.promotions for r in rows),
        )  # fmt: skip
        outcomes = [ran.never, ran.every, policy]
        compared = [summarise(o) for o in outcomes]
        steps.publish_baselines(spec.name, spec.promotion.metric, compared, folder)
        notes += reading(outcomes, spec.promotion.metric, spec.direction == "maximize")
    return report.Timeline(
        rows=rows, csv_path=str(path), metric=spec.promotion.metric, notes=notes, baselines=compared
    )
