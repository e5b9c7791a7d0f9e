"""MLflow: runs, dataset lineage, the model registry and its aliases. The only module that imports mlflow.

Aliases say what is in production: `champion` (serving), `challenger` (the newest candidate) and `previous` (the
champion it replaced). Decisions are tags on the version and on its run, so the registry alone answers "why did
the champion change?".
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops.errors import MlopsError, PipelineStopped
from mlops.settings import Settings, get_settings

if TYPE_CHECKING:
    import pandas as pd

    from mlops.policy import Decision
    from tasks.quality import ValidationOutcome

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
ALIASES_BEFORE = "aliases_before"
REFERENCE_DIR = "reference"
TAG = "mlops."
# What a logged model needs to load again; passing it skips MLflow's slow requirement inference.
PIP_REQUIREMENTS = ["scikit-learn>=1.9,<2", "pandas>=2.2,<3", "numpy", "skops"]


class TrackingUnavailable(MlopsError):
    exit_code = 1


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    experiment_id: str
    model_uri: str
    run_url: str


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str | None
    model: Any = None
    features: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # its holdout metrics when it was registered


@dataclass(frozen=True)
class Published:
    version: str
    champion_version: str | None
    version_url: str
    aliases: dict[str, str | None]
    duplicate_of: str | None = None  # set when this run's work had been done before: nothing new registered


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ConnectionError | TimeoutError) or any(
        s in text
        for s in (
            "connection refused",
            "max retries exceeded",
            "database is locked",
            "temporarily unavailable",
        )
    )


def unreachable(exc: BaseException) -> TrackingUnavailable | None:
    """The user's message for a tracking store that could not be reached, even after retrying; None otherwise."""
    if not _is_transient(exc):
        return None
    uri = get_settings().tracking_uri
    return TrackingUnavailable(
        f"cannot reach the MLflow tracking store at {uri}, even after retrying ({type(exc).__name__}: "
        f"{str(exc)[:300]}); start it (or correct MLFLOW_TRACKING_URI), or unset MLFLOW_TRACKING_URI to use the "
        "embedded store, then rerun."
    )


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry connection trouble, never a user error."""
    try:
        state.result()
    except Exception as exc:
        return _is_transient(exc)
    return False


RETRIES = {
    "retries": 3,
    "retry_delay_seconds": [2, 8, 30],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}


# MLflow retries each HTTP request itself: 7 times with backoff factor 2, about 4 minutes per failing call when the
# server is down (and 4 times that under the tasks' RETRIES). The tasks' retries ride out outages, so MLflow's own
# are kept short unless the user set them.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def client(settings: Settings | None = None) -> Any:
    """Point MLflow at the configured store (creating the embedded SQLite store on first use)."""
    import os

    import mlflow
    from mlflow import MlflowClient

    settings = settings or get_settings()
    if not settings.embedded_mlflow:
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
    if settings.embedded_mlflow and settings.tracking_uri not in _READY:
        _create_store_once(settings)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri, settings.tracking_uri)


_READY: set[str] = set()


def _create_store_once(settings: Settings) -> None:
    """Create (migrate) the embedded SQLite store under a file lock: two processes starting on a new store at
    once would otherwise race through MLflow's migrations and one of them fails."""
    import fcntl

    from mlflow import MlflowClient

    settings.home.mkdir(parents=True, exist_ok=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    locks = settings.home / "locks"
    locks.mkdir(exist_ok=True)
    with (locks / "store-init.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            MlflowClient(settings.tracking_uri, settings.tracking_uri).search_experiments(max_results=1)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    _READY.add(settings.tracking_uri)


def experiment_id(pipeline: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    c = client(settings)
    exp = c.get_experiment_by_name(pipeline)
    if exp is not None and exp.lifecycle_stage == "deleted":
        raise MlopsError(
            f"the MLflow experiment '{pipeline}' (id {exp.experiment_id}) at {settings.tracking_uri} was deleted, "
            "so no run can be recorded in it; restore it (MLflow UI, or `mlflow experiments restore "
            f"--experiment-id {exp.experiment_id}`) and rerun."
        )
    if exp is not None:
        return str(exp.experiment_id)
    location = (settings.artifact_root / pipeline).as_uri() if settings.embedded_mlflow else None
    try:
        return str(c.create_experiment(pipeline, artifact_location=location))
    except Exception:  # created meanwhile by a concurrent run
        exp = c.get_experiment_by_name(pipeline)
        if exp is None:
            raise
        return str(exp.experiment_id)


def _start_run(experiment: str, run_name: str) -> Any:
    """`mlflow.start_run`, tagged with the Prefect task run it belongs to. On a retry, the runs that earlier attempts
    of this task run left RUNNING (the tracking server went away mid-run, so they could not be ended) are marked
    FAILED first: a half-written run never looks alive next to the finished one."""
    import mlflow
    from prefect.runtime import task_run

    attempt_of = task_run.id  # None outside a task run
    if attempt_of and task_run.run_count > 1:
        c = client()
        abandoned = c.search_runs(
            [experiment],
            filter_string=f"tags.`{TAG}prefect_task_run_id` = '{attempt_of}' and attributes.status = 'RUNNING'",
        )
        for r in abandoned:
            c.set_tag(r.info.run_id, f"{TAG}abandoned", "tracking server lost mid-run; the task was retried")
            c.set_terminated(r.info.run_id, "FAILED")
    tags = {f"{TAG}prefect_task_run_id": attempt_of} if attempt_of else None
    return mlflow.start_run(experiment_id=experiment, run_name=run_name, tags=tags)


def run_url(experiment: str, run_id: str) -> str:
    return f"{get_settings().mlflow_ui_url}/#/experiments/{experiment}/runs/{run_id}"


def version_url(model_name: str, version: str) -> str:
    return f"{get_settings().mlflow_ui_url}/#/models/{model_name}/versions/{version}"


@task(name="load-champion", cache_policy=NO_CACHE, **RETRIES)
def load_champion(model_name: str) -> Champion | None:
    """The current champion and its model, or None when there is none yet."""
    import mlflow

    c = client()
    try:
        mv = c.get_model_version_by_alias(model_name, CHAMPION)
    except Exception as exc:
        if _is_transient(exc):
            raise
        return None
    model = mlflow.sklearn.load_model(f"models:/{model_name}@{CHAMPION}")
    features = [str(x) for x in getattr(model, "feature_names_in_", [])]
    prefix = f"{TAG}metric."
    metrics = {k[len(prefix) :]: float(v) for k, v in (mv.tags or {}).items() if k.startswith(prefix) and v}
    return Champion(
        version=str(mv.version), run_id=mv.run_id, model=model, features=features, metrics=metrics
    )


@task(name="track-training-run", cache_policy=NO_CACHE, **RETRIES)
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
    feature_kinds: dict[str, Any] | None = None,
) -> TrainingRun:
    """One MLflow run: params, holdout metrics, dataset lineage, the spec, and the model with its signature."""
    import warnings

    import mlflow
    from mlflow.models import infer_signature

    warnings.filterwarnings("ignore", message=".*Integer columns in Python cannot represent missing values.*")
    warnings.filterwarnings("ignore", message=".*dataset source can be interpreted in multiple ways.*")
    exp = experiment_id(pipeline)
    with _start_run(exp, f"retrain-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags({f"{TAG}{k}": v for k, v in tags.items()})
        mlflow.log_params({k: _param(v) for k, v in params.items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if not math.isnan(v)})
        for context, frame in (("training", train), ("holdout", holdout)):
            mlflow.log_input(
                _dataset(frame, _source(source), f"{pipeline}-{context}", target), context=context
            )
        mlflow.log_artifact(str(spec_path), artifact_path="spec")
        if quality is not None:
            mlflow.log_dict(quality.to_dict(), "quality/validation.json")
            mlflow.log_metric("quality_failed_expectations", len(quality.failed))
        if reference is not None:
            _log_reference(reference, feature_kinds or {})
        x = train[features]
        example = x.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
            skops_trusted_types=_own_types(model),
        )
        mlflow.set_tag(f"{TAG}model_uri", info.model_uri)  # last: a FINISHED run with it is complete
    return TrainingRun(run.info.run_id, exp, info.model_uri, run_url(exp, run.info.run_id))


@dataclass(frozen=True)
class FinishedTraining:
    run: TrainingRun
    model: Any


@task(name="find-finished-training", cache_policy=NO_CACHE, **RETRIES)
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
            if _is_transient(exc):
                raise
            continue  # its model is gone (artifacts deleted): train again
        exp_id = str(exp.experiment_id)
        return FinishedTraining(
            TrainingRun(r.info.run_id, exp_id, uri, run_url(exp_id, r.info.run_id)), model
        )
    return None


def _dataset(frame: pd.DataFrame, source: Any, name: str, target: str) -> Any:
    """MLflow dataset lineage for a large frame at the cost of a hash: our own content digest, and a schema
    whose types come from the first 1,000 rows and whose nullability comes from the whole frame, vectorised.
    MLflow's defaults map type() over every cell for the digest and test every value for null in Python for
    the schema: about 27 s for 1M rows against 0.5 s this way (docs/benchmarks.md)."""
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    from tasks.data import frame_sha256

    ds = mlflow.data.from_pandas(
        frame, source=source, name=name, targets=target, digest=frame_sha256(frame)[:32]
    )
    head = frame.head(1_000)
    if head.isna().all().any():  # a column with no value to type in the head: let MLflow read it all
        return ds
    nulls = frame.isna().any()
    columns = infer_signature(head).inputs.inputs
    # a cached_property on PandasDataset: set here, it is never computed the slow way
    ds.schema = Schema([ColSpec(c.type, c.name, required=not bool(nulls[c.name])) for c in columns])
    return ds


@task(name="record-quality-failure", cache_policy=NO_CACHE, **RETRIES)
def log_failed_gate(pipeline: str, spec_path: Path, tags: dict[str, str], quality: ValidationOutcome) -> str:
    """A FAILED run holding the gate's report, so the stop is visible in MLflow next to the successful runs."""
    import mlflow

    exp = experiment_id(pipeline)
    with _start_run(exp, f"quality-gate-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags({f"{TAG}{k}": v for k, v in tags.items()} | {f"{TAG}stopped_by": "quality-gate"})
        mlflow.log_dict(quality.to_dict(), "quality/validation.json")
        mlflow.log_metric("quality_failed_expectations", len(quality.failed))
        mlflow.log_artifact(str(spec_path), artifact_path="spec")
        if quality.report_path:
            mlflow.log_artifact(quality.report_path, artifact_path="quality")
        mlflow.end_run(status="FAILED")
    return run_url(exp, run.info.run_id)


def decision_tags(decision: Decision, champion_version: str | None, extra: dict[str, str]) -> dict[str, str]:
    tags = {
        "decision": decision.verdict,
        "decision.rule": decision.rule,
        "decision.reasons": "\n".join(decision.reasons),
        "decision.metric": decision.metric,
        "decision.challenger_value": _fmt(decision.challenger_value),
        "decision.champion_value": _fmt(decision.champion_value),
        "decision.champion_version": champion_version or "",
        "decision.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    return {f"{TAG}{k}": v for k, v in tags.items()}


@task(name="register-and-promote", cache_policy=NO_CACHE, **RETRIES)
def publish(
    model_name: str,
    run: TrainingRun,
    decision: Decision,
    champion_version: str | None,
    metrics: dict[str, float],
    extra_tags: dict[str, str],
    mode: str = "auto",
    actor: str = "",
    smoke_sample: pd.DataFrame | None = None,
) -> Published:
    """Register the candidate, record the decision on it and in the ledger, and move the aliases as decided.

    All or nothing: when any step fails, the aliases are put back and the new version is deleted, so no orphan
    version and no half-moved alias is left behind. After a move, the champion is loaded by its alias and
    predicts on a sample; if that fails the aliases go back, the failure is recorded, and the run stops.
    `mode="dry_run"` registers and records but moves no alias.
    """
    import mlflow

    c = client()
    try:
        c.create_registered_model(
            model_name, description="Managed by mlops: aliases champion, challenger, previous"
        )
    except Exception as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
            raise
    before = {alias: _alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    tags = decision_tags(decision, champion_version, extra_tags | {"mode": mode})
    tags |= {f"{TAG}metric.{k}": _fmt(v) for k, v in metrics.items()}
    tags[f"{TAG}{ALIASES_BEFORE}"] = json.dumps(before)  # what undo_unpublished restores after a crash
    key = extra_tags.get("idempotency_key", "")
    existing = _version_with_key(c, model_name, key) if key else None
    if existing is not None and (existing.tags or {}).get(f"{TAG}published") == "true":
        return _duplicate(c, model_name, run, decision, existing, before, actor)
    version: str | None = None
    created = False
    moved = decision.promote and mode != "dry_run"
    try:
        if existing is not None:  # an earlier run with the same key died after registering: finish its work
            version = str(existing.version)
            for k, v in tags.items():
                c.set_model_version_tag(model_name, version, k, v)
        else:
            version = str(mlflow.register_model(run.model_uri, model_name, tags=tags).version)
            created = True
        for k, v in tags.items():
            c.set_tag(run.run_id, k, v)
        c.set_tag(run.run_id, f"{TAG}model_version", version)
        if mode != "dry_run":
            c.set_registered_model_alias(model_name, CHALLENGER, version)
        if moved:
            if before[CHAMPION] and before[CHAMPION] != version:
                c.set_registered_model_alias(model_name, PREVIOUS, before[CHAMPION])
            c.set_registered_model_alias(model_name, CHAMPION, version)
        action = "dry-run" if mode == "dry_run" else ("promote" if decision.promote else "reject")
        record(
            model_name, action, version=version, champion_before=before[CHAMPION],
            champion_after=version if moved else before[CHAMPION], actor=actor or f"rule:{decision.rule}",
            rule=decision.rule, reasons=list(decision.reasons), evidence=decision_evidence(decision, run.run_id),
        )  # fmt: skip
    except BaseException:
        _restore(c, model_name, before, version if created else None)
        raise
    if moved and smoke_sample is not None:
        _smoke_test(c, model_name, version, before, smoke_sample)
    c.set_model_version_tag(model_name, version, f"{TAG}published", "true")
    after = {alias: _alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    return Published(version, after[CHAMPION], version_url(model_name, version), after)


@task(name="undo-unpublished", cache_policy=NO_CACHE, **RETRIES)
def undo_unpublished(model_name: str, key: str) -> str | None:
    """Undo what a killed run with the same idempotency key did after registering and before its `published`
    mark (the commit point): the aliases go back to what that run found, and its ledger entries are deleted
    (soft: MLflow keeps them as deleted runs). The version itself stays, to be finished by this run, which
    then compares it with the true champion again. Returns the version, or None when there was nothing to do.
    The caller holds the promotion lock."""
    c = client()
    version = _version_with_key(c, model_name, key)
    tags = (version.tags or {}) if version is not None else {}
    if version is None or tags.get(f"{TAG}published") == "true" or f"{TAG}{ALIASES_BEFORE}" not in tags:
        return None
    number = str(version.version)
    before: dict[str, str | None] = json.loads(tags[f"{TAG}{ALIASES_BEFORE}"])
    for alias in (CHAMPION, CHALLENGER, PREVIOUS):
        if _alias_version(c, model_name, alias) != before.get(alias):
            if before.get(alias):
                c.set_registered_model_alias(model_name, alias, before[alias])
            else:
                c.delete_registered_model_alias(model_name, alias)
    exp = c.get_experiment_by_name(f"{LEDGER_PREFIX}{model_name}")
    if exp is not None:
        for r in c.search_runs([exp.experiment_id], filter_string=f"tags.`{TAG}ledger.version` = '{number}'"):
            if r.data.tags.get(f"{TAG}ledger.action") in ("promote", "reject", "dry-run"):
                c.delete_run(r.info.run_id)
    return number


def _version_with_key(c: Any, model_name: str, key: str) -> Any:
    try:
        found = c.search_model_versions(f"name = '{model_name}' and tags.`{TAG}idempotency_key` = '{key}'")
    except Exception as exc:
        if _is_transient(exc):
            raise
        return None
    return min(found, key=lambda v: int(v.version)) if found else None


def _duplicate(
    c: Any,
    model_name: str,
    run: TrainingRun,
    decision: Decision,
    existing: Any,
    before: dict[str, str | None],
    actor: str,
) -> Published:
    """The same spec, data and code were already trained, registered and decided: register nothing new, but
    record that this run found it so."""
    version = str(existing.version)
    why = f"identical to v{version}: same spec, data and code (idempotency key), so no new version was registered"
    if existing.run_id != run.run_id:  # not the version's own (reused) run
        c.set_tag(run.run_id, f"{TAG}duplicate_of", version)
    record(
        model_name, "duplicate", version=version, champion_before=before[CHAMPION], champion_after=before[CHAMPION],
        actor=actor or "rule:idempotency", rule="duplicate", reasons=[*decision.reasons, why],
        evidence=decision_evidence(decision, run.run_id),
    )  # fmt: skip
    return Published(
        version, before[CHAMPION], version_url(model_name, version), before, duplicate_of=version
    )


def _smoke_test(
    c: Any, model_name: str, version: str, before: dict[str, str | None], sample: pd.DataFrame
) -> None:
    """Load the champion by its alias, as a consumer would, and predict; on failure put the aliases back."""
    import mlflow

    try:
        model = mlflow.sklearn.load_model(f"models:/{model_name}@{CHAMPION}")
        predicted = model.predict(sample)
        if len(predicted) != len(sample):
            raise ValueError(f"{len(predicted)} predictions for {len(sample)} rows")
    except Exception as exc:
        for alias in (CHAMPION, PREVIOUS):
            with contextlib.suppress(Exception):
                if before[alias]:
                    c.set_registered_model_alias(model_name, alias, before[alias])
                else:
                    c.delete_registered_model_alias(model_name, alias)
        c.set_model_version_tag(model_name, version, f"{TAG}smoke_test", f"failed: {exc}")
        record(
            model_name, "smoke-test-rollback", version=version, champion_before=version,
            champion_after=before[CHAMPION], actor="rule:smoke-test",
            rule="smoke-test", reasons=[f"v{version} failed to load and predict by alias: {exc}"], evidence={},
        )  # fmt: skip
        raise PipelineStopped(
            f"v{version} was promoted but failed its smoke test (load by alias and predict: {exc}); "
            f"the champion is back to v{before[CHAMPION]} and the failure is in the ledger."
        ) from None
    c.set_model_version_tag(model_name, version, f"{TAG}smoke_test", "passed")


def decision_evidence(decision: Decision, run_id: str) -> dict[str, Any]:
    """The decision and what it rests on, as JSON for the ledger."""
    from dataclasses import asdict

    data = asdict(decision)
    data["training_run_id"] = run_id
    return json.loads(json.dumps(data, default=str))


LEDGER_PREFIX = "mlops-ledger-"


@dataclass(frozen=True)
class LedgerEntry:
    at: str
    action: str  # promote | reject | dry-run | rollback | approval | smoke-test-rollback
    version: str
    champion_before: str
    champion_after: str
    actor: str
    rule: str
    reasons: list[str]
    run_id: str


def record(
    model_name: str,
    action: str,
    *,
    version: str | None,
    champion_before: str | None,
    champion_after: str | None,
    actor: str,
    rule: str,
    reasons: list[str],
    evidence: dict[str, Any],
) -> str:
    """Append an entry to the model's ledger: one MLflow run in the experiment `mlops-ledger-<model>`, so the
    history of what was in production when, and why, lives in MLflow next to the models."""
    c = client()
    name = f"{LEDGER_PREFIX}{model_name}"
    exp = c.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else experiment_id(name)
    tags = {
        f"{TAG}ledger.action": action, f"{TAG}ledger.version": version or "",
        f"{TAG}ledger.champion_before": champion_before or "", f"{TAG}ledger.champion_after": champion_after or "",
        f"{TAG}ledger.actor": actor, f"{TAG}ledger.rule": rule, f"{TAG}ledger.reasons": "\n".join(reasons)[:5000],
        f"{TAG}ledger.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    run = c.create_run(exp_id, run_name=f"{action}-v{version or '-'}", tags=tags)
    c.log_dict(run.info.run_id, evidence, "evidence.json")
    c.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def history(model_name: str) -> list[LedgerEntry]:
    """Every ledger entry of the model, oldest first."""
    c = client()
    exp = c.get_experiment_by_name(f"{LEDGER_PREFIX}{model_name}")
    if exp is None:
        return []
    runs = c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=10_000)
    out = []
    for r in runs:
        t = r.data.tags
        out.append(
            LedgerEntry(
                at=t.get(f"{TAG}ledger.at", ""),
                action=t.get(f"{TAG}ledger.action", ""),
                version=t.get(f"{TAG}ledger.version", ""),
                champion_before=t.get(f"{TAG}ledger.champion_before", ""),
                champion_after=t.get(f"{TAG}ledger.champion_after", ""),
                actor=t.get(f"{TAG}ledger.actor", ""),
                rule=t.get(f"{TAG}ledger.rule", ""),
                reasons=t.get(f"{TAG}ledger.reasons", "").splitlines(),
                run_id=r.info.run_id,
            )  # fmt: skip
        )
    return out


def rollback(model_name: str, to_version: str | None, reason: str, actor: str) -> tuple[str, str]:
    """Move `champion` back (to `previous`, or to the given version), record it; returns (from, to).

    The caller holds the promotion lock. The target must load and predict on its own input example first."""
    import mlflow

    c = client()
    current = _alias_version(c, model_name, CHAMPION)
    if current is None:
        raise MlopsError(
            f"'{model_name}' has no champion to roll back; train one with `mlops run retrain SPEC`."
        )
    target = to_version or _alias_version(c, model_name, PREVIOUS)
    if target is None:
        raise MlopsError(
            f"'{model_name}' has no previous champion to go back to; name one with --to VERSION "
            "(`mlops history SPEC` lists them)."
        )
    if target == current:
        raise MlopsError(f"v{target} is already the champion of '{model_name}'; nothing to roll back.")
    try:
        c.get_model_version(model_name, target)
    except Exception:
        raise MlopsError(
            f"'{model_name}' has no version {target}; `mlops history SPEC` lists them."
        ) from None
    try:
        mlflow.sklearn.load_model(f"models:/{model_name}/{target}")
    except Exception as exc:
        raise MlopsError(
            f"v{target} of '{model_name}' cannot be loaded ({exc}); choose another with --to."
        ) from None
    c.set_registered_model_alias(model_name, CHAMPION, target)
    c.set_registered_model_alias(model_name, PREVIOUS, current)
    record(
        model_name, "rollback", version=target, champion_before=current, champion_after=target, actor=actor,
        rule="manual-rollback", reasons=[reason], evidence={"from": current, "to": target, "reason": reason},
    )  # fmt: skip
    return current, target


def _restore(c: Any, model_name: str, before: dict[str, str | None], version: str | None) -> None:
    """Best effort: put every alias back, then delete the new version (each step on its own)."""
    for alias, old in before.items():
        with contextlib.suppress(Exception):
            if old:
                c.set_registered_model_alias(model_name, alias, old)
            else:
                c.delete_registered_model_alias(model_name, alias)
    if version:
        with contextlib.suppress(Exception):
            c.delete_model_version(model_name, version)


def _alias_version(c: Any, model_name: str, alias: str) -> str | None:
    try:
        return str(c.get_model_version_by_alias(model_name, alias).version)
    except Exception as exc:
        if _is_transient(exc):
            raise
        return None


@dataclass(frozen=True)
class VersionInfo:
    version: str
    aliases: list[str]
    created: str
    run_id: str | None
    tags: dict[str, str]

    @property
    def metrics(self) -> dict[str, float]:
        p = f"{TAG}metric."
        return {k[len(p) :]: float(v) for k, v in self.tags.items() if k.startswith(p) and v != ""}

    def tag(self, name: str) -> str:
        return self.tags.get(f"{TAG}{name}", "")


def registry_state(model_name: str) -> list[VersionInfo]:
    """Every version of the model, newest first, with aliases and mlops tags (for `mlops status`)."""
    c = client()
    try:
        versions = c.search_model_versions(f"name = '{model_name}'")
    except Exception as exc:
        if _is_transient(exc):
            raise TrackingUnavailable(
                f"cannot reach the MLflow tracking store at {get_settings().tracking_uri} ({exc}); "
                "start it or unset MLFLOW_TRACKING_URI to use the embedded store."
            ) from None
        return []
    holders = {alias: _alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    out = [
        VersionInfo(
            version=str(v.version),
            aliases=[
                a for a, held in holders.items() if held == str(v.version)
            ],  # search results omit aliases
            created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.creation_timestamp / 1000)),
            run_id=v.run_id,
            tags=dict(v.tags or {}),
        )
        for v in versions
    ]
    return sorted(out, key=lambda v: int(v.version), reverse=True)


def _log_reference(reference: pd.DataFrame, feature_kinds: dict[str, Any]) -> None:
    """The sample of training rows the monitor compares batches against: it travels with the model."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        reference.to_parquet(Path(tmp) / "reference.parquet", index=False)
        (Path(tmp) / "features.json").write_text(json.dumps(feature_kinds, indent=2))
        mlflow.log_artifacts(tmp, artifact_path=REFERENCE_DIR)


@task(name="load-reference", cache_policy=NO_CACHE, **RETRIES)
def load_reference(run_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The champion's reference sample and its feature kinds, from its training run."""
    import tempfile

    import mlflow
    import pandas as pd

    client()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE_DIR, dst_path=tmp)
            )
        except Exception as exc:
            if _is_transient(exc):
                raise
            raise MlopsError(
                f"the champion's training run {run_id} has no reference data ({exc}); "
                "retrain once with this version of mlops so the reference travels with the model."
            ) from None
        return pd.read_parquet(local / "reference.parquet"), json.loads((local / "features.json").read_text())


@task(name="track-monitor-run", cache_policy=NO_CACHE, **RETRIES)
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

    exp = experiment_id(pipeline)
    with _start_run(exp, f"monitor-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags(
            {f"{TAG}{k}": v for k, v in tags.items()}
            | {f"{TAG}kind": "monitor", f"{TAG}model_name": model_name, f"{TAG}champion_version": champion_version,
               f"{TAG}champion_uri": f"models:/{model_name}/{champion_version}"}
        )  # fmt: skip
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        mlflow.log_dict(summary, "drift/summary.json")
        for f in files:
            mlflow.log_artifact(f, artifact_path="drift")
    c = client()
    c.set_model_version_tag(model_name, champion_version, f"{TAG}last_monitor_run", run.info.run_id)
    return run_url(exp, run.info.run_id)


def last_retrain_trigger(model_name: str) -> str | None:
    """When (data time, ISO) drift last started a retrain of this model; None when it never did."""
    c = client()
    try:
        return c.get_registered_model(model_name).tags.get(f"{TAG}last_drift_retrain") or None
    except Exception as exc:
        if _is_transient(exc):
            raise
        return None


def record_retrain_trigger(model_name: str, when: str) -> None:
    client().set_registered_model_tag(model_name, f"{TAG}last_drift_retrain", when)


def _own_types(model: Any) -> list[str]:
    """Types skops will not load without being told. The model was built here from an allowlisted estimator,
    and models are loaded only from the configured registry, so its own types are trusted, and nothing else."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def _source(label: str) -> Any:
    """MLflow dataset source for lineage: the file (or folder of a glob) as a URI, or the bundled dataset's name."""
    if label.startswith("builtin:"):
        from mlflow.data.code_dataset_source import CodeDatasetSource

        return CodeDatasetSource(tags={"mlops.builtin_dataset": label.split(":", 1)[1]})
    path = Path(label)
    return (path if path.exists() else path.parent).resolve().as_uri()


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


def _fmt(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6g}"


def champion_version(model_name: str) -> str | None:
    return _alias_version(client(), model_name, CHAMPION)
