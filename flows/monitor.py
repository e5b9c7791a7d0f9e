"""monitor: load a batch -> quality gate -> the champion's predictions -> Evidently report against the champion's
reference data -> verdict -> MLflow run and Prefect artifacts -> drift event -> retrain when the policy says so."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flows.gates import gate_batch
from flows.retrain import retrain
from mlops.drift_policy import (
    Episode,
    after_failed_retrain,
    after_retrain,
    after_verdict,
    drift_event,
    reconcile,
    retrain_trigger,
    unjudgeable,
    unjudgeable_stop_message,
    window_label,
)
from mlops.errors import DataError, NoChampion
from mlops.monitor_run import judge_batch, run_record
from mlops.ownership import check_ownership, owner_of
from mlops.settings import get_settings
from mlops.spec import LoadedSpec, PipelineSpec, load_spec
from mlops.timeutil import window_before
from tasks import data, report, steps, train
from tasks.predict import predictions_note


@steps.masked_flow(name="monitor", flow_run_name="monitor-{spec_path}", validate_parameters=True)
def monitor(
    spec_path: str,
    batch: str | None = None,
    start: str | None = None,
    end: str | None = None,
    retrain_in_process: bool = True,
) -> report.MonitorResult:
    """Judge a batch (a file, or the [start, end) window of the source) against the current champion.

    With `retrain_in_process=False` (deployments) a drift only emits `mlops.drift.detected`, and the
    deployment's trigger in prefect.yaml starts the retrain."""
    loaded = load_spec(spec_path)
    spec, settings = loaded.spec, get_settings()
    # a model belongs to one pipeline: never judge (or retrain into) another pipeline's model
    check_ownership(
        spec.registry.model_name, owner_of(loaded), steps.read_model_owner(spec.registry.model_name)
    )
    frame = steps.load_batch(loaded, batch, start, end)
    # the batch's identity covers the spec's columns, as predict's does (a sql or dataset read selects only them)
    identity = data.spec_columns(loaded)
    # hashed once: the gate memo's key, and the id of the batch a `predict` run may have scored already
    hashes = steps.fingerprint_batch(frame, sha256=spec.quality is not None, columns=identity)
    batch_id = hashes.fingerprint
    checked, tags = gate_batch(loaded, frame, batch, start, end, "monitor", hashes.sha256)

    champion = steps.load_champion(spec.registry.model_name)
    if champion is None:
        raise NoChampion(
            f"'{spec.registry.model_name}' has no champion yet: train one first with `mlops run retrain {spec_path}`."
        )
    reference, kinds = steps.load_reference(champion.run_id)
    # its quality estimator and importance weights (a note when it predates them; a corrupt record stops here)
    estimator = steps.load_monitoring(champion.run_id, champion.version)
    features = data.Features(kinds["numeric"], kinds["categorical"])
    # rows predict would reject (a number written as text that is not one; the gate tolerated a few): counted
    scorable, set_aside = steps.set_aside_unscorable(frame, features)
    notes = [*set_aside, *steps.check_batch(scorable, reference, features)]
    # score only the seeded sample the report compares (the same rows it would draw from the whole batch)
    current = steps.sample_batch(scorable, spec.monitoring.max_sample_rows, spec.monitoring.seed, identity)
    unjudged = unjudgeable(steps.profile_columns(reference, current, features.all))
    if unjudged and spec.monitoring.on_unjudgeable == "stop":
        raise DataError(unjudgeable_stop_message(unjudged))
    # the predictions a `predict` run of this very batch by this champion logged, else predicted here
    scored, reused_run = _champion_predictions(spec, champion, batch_id, current, features)
    notes = [*notes, predictions_note(reused_run, champion.version)]
    scored_reference = steps.predict(champion.model, reference, features.all, spec.model.task)
    # quality by the metric function that scored the champion's holdout, for every metric of the task
    quality = steps.batch_quality(champion.model, current, features.all, spec.data.target, spec.model.task)
    # a classifier's prediction drift is watched on its probabilities when it gives them, not on its labels
    prediction = train.PROBA if train.PROBA in scored.columns else train.PREDICTION

    stamp = data.run_stamp()
    folder = settings.reports_dir(spec.name) / f"monitor-{stamp}"
    summary = steps.drift_report(
        scored_reference, scored, numeric=features.numeric, categorical=features.categorical,
        prediction=prediction, task=spec.model.task,
        column_methods=spec.monitoring.column_methods, column_thresholds=spec.monitoring.column_thresholds,
        max_rows=spec.monitoring.max_sample_rows, seed=spec.monitoring.seed,
        html_path=folder / "drift.html", snapshot_path=folder / "snapshot.json",
    )  # fmt: skip
    # estimated quality (no labels needed) and importance-weighted drift, next to the realised quality
    signals = steps.quality_signals(
        estimator, champion.model, current, features.all, summary.drifted_share,
        [c.column for c in summary.drifted_columns()], quality.metrics, champion.metrics,
    )  # fmt: skip
    metric = spec.promotion.metric
    # labels that arrived later, joined to the predictions predict kept by id: each period's realised quality,
    # judged from monitoring.min_label_share, beside the estimate given before them (docs/labels.md)
    arrived = steps.label_report(
        loaded, champion_version=champion.version, reference=champion.metrics.get(metric),
        floor=estimator.floor, batch_id=batch_id, estimated=signals.estimated.get(metric),
    )  # fmt: skip
    # look (alert on drift) apart from act (retrain on a quality drop, the batch's or a labelled period's)
    judged = judge_batch(
        spec, summary, signals, quality, estimator, scored_rows=len(current), arrived=arrived
    )
    batch_end = data.batch_end(frame, spec.data.time_column, end)
    window = window_before(batch_end, spec.monitoring.retrain_window_days, spec.data.window)
    model_name = spec.registry.model_name
    # the cooldown starts when a drift retrain PROMOTES; a rejected or failed one leaves the episode open
    stored = Episode.from_tags(steps.read_drift_episode(model_name))
    episode = reconcile(stored, champion.version)
    trigger = retrain_trigger(
        judged.action, batch_end, episode, spec.monitoring.cooldown_days,
        spec.monitoring.max_retries_per_episode, window_label(*window),
    )  # fmt: skip
    run_tags, run_metrics = run_record(tags, judged, trigger, summary, signals, quality, arrived)
    run_url = steps.track_monitor_run(
        pipeline=spec.name, model_name=model_name, champion_version=champion.version, tags=run_tags,
        metrics=run_metrics, files=[p for p in (summary.html_path, summary.snapshot_path) if p],
        summary=summary.to_dict(),
    )  # fmt: skip

    episode = after_verdict(episode, trigger, judged.acts, batch_end, champion.version, retrain_in_process)
    if episode != stored:
        steps.record_drift_episode(model_name, episode.to_tags())
    event_id = None
    if judged.acts:
        event = drift_event(
            judged, trigger, drifted_share=summary.drifted_share, champion=champion.version, batch_end=batch_end,
            unjudgeable=summary.unjudgeable, window=window, run_url=run_url,
        )  # fmt: skip
        event_id = steps.emit_drift(
            spec.name, str(loaded.path), event, retrain=trigger.retrain and not retrain_in_process
        )
    retrained = None
    if trigger.retrain and retrain_in_process:
        retrained = _retrain_for_drift(loaded, episode, batch_end, champion.version, window)

    result = report.MonitorResult(
        pipeline=spec.name, model_name=spec.registry.model_name, batch=tags["batch"], rows=len(frame),
        quality=checked.headline() if checked else "no suite declared", champion_version=champion.version,
        drift=summary, verdict=judged, metric=metric, reference_metric=champion.metrics.get(metric),
        batch_end=batch_end.isoformat(), run_url=run_url, retrain_reason=trigger.reason, retrain=retrained,
        event_id=event_id, notes=[*notes, *quality.notes], model_quality=quality.metrics,
        retrain_window=window_label(*window) if trigger.retrain else None, signals=signals,
        labels=arrived,
    )  # fmt: skip
    steps.publish_monitor(result)
    return result


def _champion_predictions(
    spec: PipelineSpec, champion: Any, batch_id: str, current: Any, features: data.Features
) -> tuple[Any, str | None]:
    """The champion's predictions on the sampled batch: those a `predict` run of this very batch by this champion
    logged (its run id returned beside them), else predicted here."""
    logged = steps.find_logged_predictions(
        spec.name, spec.registry.model_name, champion.version, batch_id,
        spec.monitoring.seed, spec.monitoring.max_sample_rows,
    )  # fmt: skip
    scored = steps.reuse_predictions(current, logged[1]) if logged else None
    if scored is not None:
        return scored, logged[0] if logged else None
    return steps.predict(champion.model, current, features.all, spec.model.task), None


def _retrain_for_drift(
    loaded: LoadedSpec, episode: Episode, batch_end: datetime, champion: str, window: tuple[str | None, str]
) -> report.RetrainResult:
    """The drift retrain, in this run, on `window`; its outcome recorded on the drift episode either way (a failure
    recorded, then raised: a failed retrain is loud)."""
    model_name = loaded.spec.registry.model_name
    try:
        retrained = retrain(str(loaded.path), window_start=window[0], window_end=window[1])
    except Exception as exc:
        steps.record_drift_episode(
            model_name, after_failed_retrain(episode, batch_end, champion, exc).to_tags()
        )
        raise
    answered = after_retrain(
        episode, batch_end, champion, retrained.champion_after, retrained.version, retrained.decision.reasons
    )
    steps.record_drift_episode(model_name, answered.to_tags())
    return retrained
