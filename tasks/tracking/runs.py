"""The MLflow runs of a pipeline: a training run (params, metrics, lineage, the spec, the model and the monitor's
reference sample), the run a quality gate stopped, and a monitor run. Finding a finished training run again is
here too, so a resumed or repeated retrain reuses its model instead of fitting again."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError
from tasks.tracking import lineage
from tasks.tracking.monitoring import log_monitoring, log_quality_floor
from tasks.tracking.store import (
    TAG,
    client,
    experiment_id,
    is_not_found,
    is_transient,
    param_text,
    registry_error,
    run_url,
    shown_tags,
    start_run,
)
from tasks.tracking.trained_rows import log_trained_rows

if TYPE_CHECKING:
    import pandas as pd

    from mlops.quality_floor import QualityFloor
    from tasks.data.splits import TrainedRows
    from tasks.estimate_fit import MonitoringFit
    from tasks.quality import ValidationOutcome
    from tasks.search import Outcome

REFERENCE_DIR = "reference"
# What a logged model needs to load again; passing it skips MLflow's slow requirement inference.
PIP_REQUIREMENTS = ["scikit-learn>=1.9,<2", "pandas>=2.2,<3", "numpy", "skops"]
# The distributions a boosting estimator's module may come from (the [boost] extra installs xgboost-cpu on Linux)
_DISTRIBUTIONS = {"lightgbm": ("lightgbm",), "xgboost": ("xgboost-cpu", "xgboost"), "catboost": ("catboost",)}


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    experiment_id: str
    model_uri: str
    run_url: str


@dataclass(frozen=True)
class FinishedTraining:
    run: TrainingRun
    model: Any


def log_training_run(
    *,
    pipeline: str,
    spec_path: Path,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    model: Any,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    features: list[str],
    target: str,
    source: str,
    quality: ValidationOutcome | None,
    reference: pd.DataFrame | None = None,
    trained_rows: TrainedRows | None = None,
    feature_kinds: dict[str, Any] | None = None,
    monitoring: MonitoringFit | None = None,
    quality_floor: QualityFloor | None = None,
    search: Outcome | None = None,
) -> TrainingRun:
    """One MLflow run: params, holdout metrics, dataset lineage, the spec, and the model with its signature."""
    import warnings

    import mlflow
    from mlflow.models import infer_signature

    warnings.filterwarnings("ignore", message=".*Integer columns in Python cannot represent missing values.*")
    warnings.filterwarnings("ignore", message=".*dataset source can be interpreted in multiple ways.*")
    exp = experiment_id(pipeline)
    with start_run(exp, f"retrain-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags(shown_tags(tags, TAG))
        mlflow.log_params({k: param_text(v) for k, v in params.items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if not math.isnan(v)})
        for context, frame in (("training", train), ("holdout", holdout)):
            mlflow.log_input(
                lineage.dataset(frame, lineage.source(source), f"{pipeline}-{context}", target),
                context=context,
            )
        mlflow.log_artifact(str(spec_path), artifact_path="spec")
        if quality is not None:
            mlflow.log_dict(quality.to_dict(), "quality/validation.json")
            mlflow.log_metric("quality_failed_expectations", len(quality.failed))
        if reference is not None:
            _log_reference(reference, feature_kinds or {})
        if trained_rows is not None:  # so a later retrain never judges this model on rows it trained on
            log_trained_rows(trained_rows)
        if monitoring is not None:  # the quality estimator and importance weights travel with the model too
            log_monitoring(monitoring)
        if quality_floor is not None:  # the default quality rule of the monitor (issue 23)
            log_quality_floor(quality_floor)
        if search is not None:  # its trials as nested runs, its history as a chart
            _log_search(search, run.info.run_id, exp)
        x = train[features]
        example = x.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=pip_requirements(model),
            skops_trusted_types=_own_types(model),
        )
        mlflow.set_tag(f"{TAG}model_uri", info.model_uri)  # last: a FINISHED run with it is complete
    return TrainingRun(run.info.run_id, exp, info.model_uri, run_url(exp, run.info.run_id))


def finished_training(pipeline: str, key: str) -> FinishedTraining | None:
    """The earliest complete training run of this pipeline with the same idempotency key (spec, data, code and
    library versions), with its model: what this run would train again, seeded the same. A run resumed after a
    crash, or repeated on unchanged data, loads it instead of fitting again."""
    import mlflow

    c = client()
    exp = c.get_experiment_by_name(pipeline)
    if exp is None:
        return None
    found = c.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{TAG}idempotency_key` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
    )
    for r in found:
        uri = r.data.tags.get(f"{TAG}model_uri")
        if not uri:
            continue
        try:
            model = mlflow.sklearn.load_model(uri)
        except Exception as exc:
            if is_transient(exc):
                raise
            if not is_not_found(exc):  # the store failed to answer: not a reason to fit and register again
                raise registry_error(
                    exc, f"load the model of the finished training run {r.info.run_id}"
                ) from exc
            # its model is gone (artifacts deleted): train again, and say so on the run that cannot be reused
            why = f"not reused: its model {uri} is gone ({str(exc)[:200]}); a later run trained again"
            c.set_tag(r.info.run_id, f"{TAG}reuse_skipped", why)
            logging.getLogger(__name__).warning("training run %s %s", r.info.run_id, why)
            continue
        exp_id = str(exp.experiment_id)
        return FinishedTraining(
            TrainingRun(r.info.run_id, exp_id, uri, run_url(exp_id, r.info.run_id)), model
        )
    return None


def log_failed_gate(pipeline: str, spec_path: Path, tags: dict[str, str], quality: ValidationOutcome) -> str:
    """A FAILED run holding the gate's report, so the stop is visible in MLflow next to the successful runs."""
    import mlflow

    exp = experiment_id(pipeline)
    with start_run(exp, f"quality-gate-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags(shown_tags(tags, TAG) | {f"{TAG}stopped_by": "quality-gate"})
        mlflow.log_dict(quality.to_dict(), "quality/validation.json")
        mlflow.log_metric("quality_failed_expectations", len(quality.failed))
        mlflow.log_artifact(str(spec_path), artifact_path="spec")
        if quality.report_path:
            mlflow.log_artifact(quality.report_path, artifact_path="quality")
        mlflow.end_run(status="FAILED")
    return run_url(exp, run.info.run_id)


def _log_reference(reference: pd.DataFrame, feature_kinds: dict[str, Any]) -> None:
    """The sample of training rows the monitor compares batches against: it travels with the model."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        reference.to_parquet(Path(tmp) / "reference.parquet", index=False)
        (Path(tmp) / "features.json").write_text(json.dumps(feature_kinds, indent=2))
        mlflow.log_artifacts(tmp, artifact_path=REFERENCE_DIR)


def load_reference(run_id: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The champion's reference sample and its feature kinds, from its training run."""
    import tempfile

    import mlflow
    import pandas as pd

    if run_id is None:
        raise MlopsError(
            "the champion has no training run, so it has no reference data; retrain once with this version of "
            "mlops so the reference travels with the model."
        )
    client()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE_DIR, dst_path=tmp)
            )
        except Exception as exc:
            if is_transient(exc):
                raise
            if not is_not_found(exc):  # a failed read is not "no reference data"
                raise registry_error(
                    exc, f"download the reference data of the champion's run {run_id}"
                ) from exc
            raise MlopsError(
                f"the champion's training run {run_id} has no reference data ({exc}); "
                "retrain once with this version of mlops so the reference travels with the model."
            ) from None
        return pd.read_parquet(local / "reference.parquet"), json.loads((local / "features.json").read_text())


def log_monitor_run(
    *,
    pipeline: str,
    model_name: str,
    champion_version: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    files: list[str],
    summary: dict[str, Any],
) -> str:
    """An MLflow run of the monitor: the verdict, the drift figures, the HTML report and the snapshot, tagged
    with the champion version it judged (and linked from that version)."""
    import mlflow

    def artifacts() -> None:
        mlflow.log_dict(summary, "drift/summary.json")
        for f in files:
            mlflow.log_artifact(f, artifact_path="drift")

    model_tags = {
        "champion_version": champion_version,
        "champion_uri": f"models:/{model_name}/{champion_version}",
    }
    return log_kind_run(
        pipeline, "monitor", tags | model_tags, metrics, (model_name, champion_version), artifacts
    )[1]


def log_kind_run(
    pipeline: str,
    kind: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    model: tuple[str, str],
    artifacts: Callable[[], None],
) -> tuple[str, str]:
    """A `kind` run (monitor, predict) of a pipeline on a model version: named `kind-<time>`, the tags (prefixed,
    with `kind` and `model_name`), the metrics (NaN left out), the artifacts `artifacts()` logs inside the run; and
    the version (name, version) tagged with it as its last `kind` run. Returns (run id, run URL)."""
    import mlflow

    model_name, version = model
    exp = experiment_id(pipeline)
    with start_run(exp, f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags(shown_tags(tags, TAG) | {f"{TAG}kind": kind, f"{TAG}model_name": model_name})
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        artifacts()
    client().set_model_version_tag(model_name, version, f"{TAG}last_{kind}_run", run.info.run_id)
    return run.info.run_id, run_url(exp, run.info.run_id)


def pip_requirements(model: Any) -> list[str]:
    """PIP_REQUIREMENTS, plus the boosting library of the model's estimator as installed here (same major
    version: its booster is saved in the library's own model text inside the skops file)."""
    from importlib import metadata

    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    library = type(estimator).__module__.split(".", 1)[0]
    for dist in _DISTRIBUTIONS.get(library, ()):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        return [*PIP_REQUIREMENTS, f"{dist}>={version},<{int(version.split('.')[0]) + 1}"]
    return list(PIP_REQUIREMENTS)


def _own_types(model: Any) -> list[str]:
    """Types skops will not load without being told. The model was built here from an allowlisted estimator,
    and models are loaded only from the configured registry, so its own types are trusted, and nothing else."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def _log_search(outcome: Outcome, parent_id: str, exp: str) -> None:
    """model.search on the training run: the best trial's values (params `search.best.<name>`), every trial as a
    nested run (its values, its validation score, its state), the trials as JSON and the history chart."""
    import dataclasses
    import tempfile

    import mlflow
    from mlflow.entities import Metric, Param

    from tasks.search_chart import draw_history

    mlflow.log_params({f"search.best.{k}": param_text(v) for k, v in outcome.best.params.items()})
    mlflow.log_metrics(
        {
            f"search_best_validation_{outcome.metric}": float(outcome.best.value or math.nan),
            **{f"search_trials_{k}": v for k, v in outcome.counts().items()},
        }
    )
    mlflow.log_dict(
        {
            "study": outcome.study,
            "best": outcome.best.number,
            "trials": [dataclasses.asdict(t) for t in outcome.trials],
        },
        "search/trials.json",
    )
    with tempfile.TemporaryDirectory() as tmp:
        chart = draw_history(outcome.trials, outcome.metric, outcome.direction, Path(tmp) / "history.png")
        mlflow.log_artifact(str(chart), artifact_path="search")
    c = client()
    for t in outcome.trials:
        child = c.create_run(
            exp,
            run_name=f"trial-{t.number}",
            tags={
                "mlflow.parentRunId": parent_id,
                f"{TAG}kind": "search-trial",
                f"{TAG}trial_state": t.state,
                **({f"{TAG}trial_error": t.error[:500]} if t.error else {}),
                **({f"{TAG}trial_resumed": "true"} if t.resumed else {}),
            },
        )
        cid, now = child.info.run_id, int(time.time() * 1000)
        scores = {
            f"validation_{outcome.metric}": t.value,
            "fit_seconds": t.seconds,
            "pruned_at_round": t.pruned_at,
        }
        c.log_batch(
            cid,
            metrics=[Metric(k, float(v), now, 0) for k, v in scores.items() if v is not None],
            params=[Param(k, param_text(v)) for k, v in t.params.items()],
        )
        # a pruned trial was stopped on purpose (KILLED), its tag says why; a failed one failed
        c.set_terminated(cid, {"complete": "FINISHED", "pruned": "KILLED"}.get(t.state, "FAILED"))
