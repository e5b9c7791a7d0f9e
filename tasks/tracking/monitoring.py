"""The champion's quality estimator and importance weights, as artifacts of its training run (issue 14):
`monitoring/importance.json` ({feature: weight}) and `monitoring/estimator.pkl` (the calibrator or loss model with
the holdout's reference figures, saved with skops as the model is); and `monitoring/quality_floor.json`, what the
champion scores on 95% of batches of each size drawn from its holdout (issue 23, mlops/quality_floor.py). They travel with the model, beside its
reference sample (runs.REFERENCE_DIR), so the monitor reads what the champion was fitted with and nothing else.

Fail closed: a champion trained before they existed has none (the monitor says so and judges drift only); a
record that exists but cannot be read stops the monitor, never turns into silence."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError
from mlops.quality_floor import FILE as FLOOR
from mlops.quality_floor import QualityFloor
from mlops.text import first_line
from tasks.tracking.store import client, is_transient

if TYPE_CHECKING:
    from tasks.estimate_fit import MonitoringFit

MONITORING_DIR = "monitoring"
IMPORTANCE, ESTIMATOR = "importance.json", "estimator.pkl"
SINCE = "0.2.0"  # the first version that stored them with each model
# the only module trees a saved estimator may hold types of (skops refuses anything else)
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


class EstimatorUnreadable(MlopsError):
    """The champion's quality estimator exists but cannot be read: the monitor stops rather than guess."""

    exit_code = 1


@dataclass(frozen=True)
class Monitoring:
    """What the monitor has of the champion: importance weights and the estimator payload, or a note saying why
    not."""

    importance: dict[str, float] = field(default_factory=dict)
    estimator: dict[str, Any] | None = None
    note: str | None = None
    floor: QualityFloor | None = None
    floor_missing: str | None = None  # why there is no floor (an older champion), for the verdict's reasons

    def reference_estimate(self, metric: str) -> float | None:
        """The estimator's own (cross-fitted) estimate of `metric` on the holdout, when it has one."""
        value = ((self.estimator or {}).get("reference_estimated") or {}).get(metric)
        return None if value is None else float(value)


def log_monitoring(fit: MonitoringFit) -> None:
    """Inside an active MLflow run: the importance weights and the estimator payload."""
    import mlflow
    import skops.io

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / IMPORTANCE).write_text(json.dumps(fit.importance, indent=2))
        skops.io.dump(fit.estimator, Path(tmp) / ESTIMATOR)
        mlflow.log_artifacts(tmp, artifact_path=MONITORING_DIR)
    mlflow.log_metric("monitoring_fit_seconds", fit.seconds)


def log_quality_floor(floor: QualityFloor) -> None:
    """Inside an active MLflow run: the champion's holdout bootstrap, a small JSON beside the estimator."""
    import mlflow

    mlflow.log_dict(floor.to_dict(), f"{MONITORING_DIR}/{FLOOR}")


def load_monitoring(run_id: str | None, version: str = "") -> Monitoring:
    """The champion's importance, estimator and quality floor; a note instead when its run predates them (or it has
    no run)."""
    import mlflow

    label = f"v{version}" if version else "the champion"
    no_floor = (
        f"the champion, {label}, was trained before its holdout bootstrap (what it scores on 95% of batches of each "
        "size) was stored with each model"
    )
    missing = Monitoring(
        note=(
            f"estimated quality: not available (the champion, {label}, was trained before mlops "
            f"{SINCE} stored a quality estimator and importance weights with each model; retrain to "
            "enable); judged on drift only"
        ),
        floor_missing=no_floor,
    )
    if run_id is None:
        return missing
    try:
        names = {Path(f.path).name for f in client().list_artifacts(run_id, MONITORING_DIR)}
    except Exception as exc:
        if is_transient(exc):
            raise
        raise _unreadable(run_id, exc) from exc
    floor = None
    if FLOOR in names:
        try:
            floor = QualityFloor.from_dict(
                mlflow.artifacts.load_dict(f"runs:/{run_id}/{MONITORING_DIR}/{FLOOR}")
            )
        except Exception as exc:
            if is_transient(exc):
                raise
            raise _unreadable(run_id, exc) from exc
        names.discard(FLOOR)
    if not names:
        return Monitoring(note=missing.note, floor=floor, floor_missing=None if floor else no_floor)
    if not {IMPORTANCE, ESTIMATOR} <= names:
        absent = ", ".join(sorted({IMPORTANCE, ESTIMATOR} - names))
        raise _unreadable(run_id, ValueError(f"{absent} missing beside {', '.join(sorted(names))}"))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=MONITORING_DIR, dst_path=tmp)
            )
            importance = _importance(json.loads((local / IMPORTANCE).read_text()))
            estimator = _estimator(local / ESTIMATOR)
        except Exception as exc:
            if is_transient(exc):
                raise
            raise _unreadable(run_id, exc) from exc
    return Monitoring(importance, estimator, floor=floor, floor_missing=None if floor else no_floor)


def _importance(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(isinstance(v, int | float) for v in raw.values()):
        raise ValueError(f"{IMPORTANCE} is not a {{feature: weight}} object")
    return {str(k): float(v) for k, v in raw.items()}


def _estimator(path: Path) -> dict[str, Any]:
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise ValueError(f"it holds types that are not scikit-learn's or numpy's: {', '.join(foreign[:5])}")
    payload = skops.io.load(path, trusted=untrusted)
    if not isinstance(payload, dict) or payload.get("format") != 1 or payload.get("task") not in (
        "classification", "regression"
    ):  # fmt: skip
        raise ValueError("it is not a format-1 quality estimator")
    return payload


def _unreadable(run_id: str, exc: BaseException) -> EstimatorUnreadable:
    said = first_line(exc)
    return EstimatorUnreadable(
        f"the champion's quality estimator could not be read from its training run {run_id} "
        f"('{MONITORING_DIR}/' artifacts; {type(exc).__name__}: {said}); without it the batch's estimated quality "
        f"and importance-weighted drift are unknown, so nothing was judged. Check the run's '{MONITORING_DIR}' "
        "artifacts and the artifact store, or retrain to replace them, then rerun."
    )
