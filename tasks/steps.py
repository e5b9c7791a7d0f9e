"""The Prefect tasks the flows call: each a thin wrapper (its name in the UI, its retries) over a plain function
of the module that owns the work. The functions stay plain, so code and tests call them without Prefect, and
importing a task module never imports Prefect."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.hashing import file_hash

from mlops.secrets import secrets_hidden
from tasks import (
    baselines,
    bootstrap,
    data,
    drift,
    estimate,
    estimate_fit,
    evaluate,
    events,
    labels,
    objects,
    predictions_table,
    promotion,
    quality_memo,
    replay_chart,
    report,
    train,
)
from tasks import predict as batch_predict
from tasks import quality_chunks as chunked_quality
from tasks.data import stream
from tasks.tracking import champion, is_transient, owner, predictions, registry, runs, state, trained_rows
from tasks.tracking import monitoring as champion_monitoring

P = ParamSpec("P")
R = TypeVar("R")


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry connection trouble, never a user error."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - a retry condition sees every failure and retries only transient ones
        return is_transient(exc)
    return False


# Tracking calls ride out a tracking server that restarts; every other step fails at once (a user error).
RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 8, 30],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}


def step(fn: Callable[P, R], name: str, retried: bool = False) -> Task[P, R]:
    # NO_CACHE: Prefect's default policy hashes every input (1M-row frames too) for a key nothing uses.
    # secrets_hidden: an error leaves the task masked, before Prefect makes its failed state's message of it.
    options: dict[str, Any] = RETRIES if retried else {}
    return task(name=name, cache_policy=NO_CACHE, **options)(secrets_hidden(fn))


def masked_flow(**options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """Prefect's `@flow(**options)`, masked as each step is: an error leaves the flow with its secrets hidden (a
    failed flow's state message is shown by the Prefect API). The version is the flow's own file's hash, as Prefect
    gives an undecorated flow (given the wrapper, it would hash mlops/secrets.py for every flow)."""

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        version = file_hash(inspect.getsourcefile(fn) or "")
        return flow(version=version, **options)(secrets_hidden(fn))

    return decorate


# data
# retried: a database that is down or restarting (ServiceDown from a sql source) is read again
load_data = step(data.load, "load-data", retried=True)
load_batch = step(data.load_batch, "load-batch", retried=True)
open_batch = step(stream.open_batch, "open-batch", retried=True)
fingerprint_batch = step(stream.batch_hashes, "fingerprint-batch")  # a batch held whole, hashed once
# the data's identity and its rows' content order: the same rows read in any order are the same data and model
identify_data = step(data.identify, "identify-data")
check_batch = step(data.check_batch, "check-batch")
set_aside_unscorable = step(data.set_aside_unscorable, "set-aside-unscorable")
split = step(data.split, "split")
validation_split = step(data.validation_split, "validation-split")
# what the monitor compares batches with, and the rows the model trains on (as key hashes): whole-frame work
reference_sample = step(data.reference_sample, "reference-sample")
training_rows = step(data.training_rows, "training-rows")
# quality (Great Expectations)
validate_data = step(quality_memo.validate, "validate-data")  # GX, unless this data passed before
validate_chunks = step(chunked_quality.validate_batch, "validate-data")
# training and scoring (scikit-learn)
train_model = step(train.train, "train")
fit_candidate = step(train.fit_candidate, "fit-candidate")
fit_trial = step(train.fit_trial, "search-trial")
rescore = step(train.rescore, "score-trained-model")
predict = step(train.predict, "predict")
batch_quality = step(train.batch_quality, "batch-quality")
score_batch = step(batch_predict.score_batch, "score-batch")
reuse_predictions = step(batch_predict.reuse_logged, "reuse-logged-predictions")
score_champion = step(evaluate.score_champion, "score-champion")
comparison_set = step(evaluate.comparison_set, "comparison-set")
gather_evidence = step(evaluate.gather_evidence, "gather-evidence")
quality_floor = step(bootstrap.quality_floor, "bootstrap-quality-floor")
decide_promotion = step(promotion.decide_promotion, "decide-promotion")
# estimated quality and importance (scikit-learn; issue 14)
fit_monitoring = step(estimate_fit.fit_monitoring, "fit-quality-estimator")
quality_signals = step(estimate.quality_signals, "estimate-quality")
# drift (Evidently)
drift_report = step(drift.drift_report, "drift-report")
profile_columns = step(drift.column_facts, "profile-columns")
sample_batch = step(drift.sample, "sample-batch")
# tracking and registry (MLflow)
load_champion = step(champion.load_champion, "load-champion", retried=True)
load_model = step(predictions.load_model, "load-model", retried=True)
track_predict_run = step(predictions.log_predict_run, "track-predict-run", retried=True)
find_logged_predictions = step(predictions.logged_predictions, "find-logged-predictions", retried=True)
load_trained_rows = step(trained_rows.load_trained_rows, "load-champion-training-rows", retried=True)
find_finished_training = step(runs.finished_training, "find-finished-training", retried=True)
track_training_run = step(runs.log_training_run, "track-training-run", retried=True)
record_quality_failure = step(runs.log_failed_gate, "record-quality-failure", retried=True)
track_monitor_run = step(runs.log_monitor_run, "track-monitor-run", retried=True)
load_reference = step(runs.load_reference, "load-reference", retried=True)
load_monitoring = step(champion_monitoring.load_monitoring, "load-quality-estimator", retried=True)
undo_unpublished = step(registry.undo_unpublished, "undo-unpublished", retried=True)
register_and_promote = step(registry.publish, "register-and-promote", retried=True)
read_model_owner = step(owner.read_owner_tags, "read-model-owner", retried=True)
claim_model = step(owner.claim, "claim-model", retried=True)
champion_version = step(champion.champion_version, "read-champion-version", retried=True)
trained_span = step(champion.trained_span, "read-training-window", retried=True)
read_drift_episode = step(state.read_drift_episode, "read-drift-episode", retried=True)
record_drift_episode = step(state.record_drift_episode, "record-drift-episode", retried=True)
# events and artifacts (Prefect)
emit_drift = step(events.emit_drift, "emit-drift-event")
publish_summary = step(report.publish_summary, "publish-summary")
publish_quality_stop = step(report.publish_quality_stop, "publish-quality-stop")
publish_monitor = step(report.publish_monitor, "publish-monitor-summary")
publish_timeline = step(report.publish_timeline, "publish-timeline")
draw_replay_chart = step(replay_chart.replay_chart, "draw-replay-chart")
# labels that arrive later (tasks/labels.py)
check_ids = step(labels.check_ids, "check-batch-ids")
keep_predictions = step(labels.keep_predictions, "keep-predictions-by-id")
label_report = step(labels.label_report, "join-arrived-labels")
write_table = step(predictions_table.write_table, "write-predictions-table")
# retried: an object store that does not answer (ServiceDown) is tried again
upload_predictions = step(objects.upload_predictions, "upload-predictions", retried=True)
publish_baselines = step(report.publish_baselines, "publish-replay-baselines")
# the replay's baselines (issue 23): computed in memory, the store only read
first_contender = step(baselines.first_contender, "load-first-champion", retried=True)
replay_baselines = step(baselines.run_baselines, "replay-baselines")
