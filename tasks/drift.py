"""Drift and model-quality reports. The only module that imports evidently.

One Evidently Report compares a (sampled) batch with the reference data: per-column data drift, drift of the
model's predictions, and the model's quality on the batch when it carries labels. The result is boiled down
to a small `DriftSummary`; the full report is kept as HTML for people and as a snapshot JSON that reloads.
What needs no Evidently (the summary types, the seeded sample, the input checks) is in tasks/drift_summary.py.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.drift_summary import ColumnDrift, DriftSummary, check_columns, check_overrides, sample

__all__ = ["TASKS", "ColumnDrift", "DriftSummary", "drift_report", "load_snapshot", "sample", "stattest_name"]

TASKS = ("classification", "regression")

# Evidently metric type -> our quality key. MAE's value is a {"mean", "std"} pair; the others are numbers.
_QUALITY_METRICS = {
    "evidently:metric_v2:Accuracy": "accuracy",
    "evidently:metric_v2:F1Score": "f1",
    "evidently:metric_v2:RocAuc": "roc_auc",
    "evidently:metric_v2:RMSE": "rmse",
    "evidently:metric_v2:MAE": "mae",
    "evidently:metric_v2:R2Score": "r2",
}
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
# Our facts (rows, sampling, notes) ride in the snapshot's metadata: a reloaded snapshot summarizes alike.
_META = "mlops"


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    target: str | None = None,
    prediction: str | None = None,
    prediction_proba: str | None = None,
    task: str = "classification",
    column_methods: dict[str, str] | None = None,
    column_thresholds: dict[str, float] | None = None,
    max_rows: int = 50_000,
    seed: int = 0,
    html_path: Path | None = None,
    snapshot_path: Path | None = None,
) -> DriftSummary:
    """Compare the current batch with the reference data in one Evidently report.

    Both frames are sampled to max_rows (seeded). Drift is checked per feature column with Evidently's default
    test for its type and size, or the stattest named in column_methods (e.g. {"distance": "psi"}) and the
    threshold in column_thresholds; prediction drift when `prediction` is given; the model's quality when the
    batch has labels in `target` (classification: accuracy, f1, and roc_auc from `prediction_proba`, the
    positive class's probability; regression: rmse, mae, r2). ValueError, naming the columns, when the frames
    cannot be compared.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got '{task}'")
    features = check_columns(reference, current, numeric, categorical, target, prediction, prediction_proba)
    methods, thresholds = dict(column_methods or {}), dict(column_thresholds or {})
    check_overrides(methods, thresholds, features, prediction)

    ref, cur = sample(reference, max_rows, seed), sample(current, max_rows, seed)
    notes: list[str] = []
    for side, full, part in (("reference", reference, ref), ("current", current, cur)):
        if len(part) < len(full):
            notes.append(f"{side}: sampled {len(part):,} of {len(full):,} rows (seed {seed})")

    empty = [c for c in features if ref[c].isna().all() or cur[c].isna().all()]
    if empty:
        notes.append(f"no values on one side, drift not checked: {', '.join(empty)}")
    checked = [c for c in features if c not in empty]
    if not checked:
        raise ValueError(f"no feature column has values in both frames (checked: {', '.join(features)})")
    if prediction is not None and (ref[prediction].isna().all() or cur[prediction].isna().all()):
        notes.append(
            f"the prediction column '{prediction}' has no values on one side: prediction drift skipped"
        )
        prediction = None

    plan = _quality_plan(ref, cur, target, prediction, prediction_proba, task, notes)
    sampled = len(ref) < len(reference) or len(cur) < len(current)
    snapshot = _run(
        ref, cur, checked, numeric, prediction, task, plan, methods, thresholds, seed, sampled, notes
    )

    if html_path is not None:
        html_path = Path(html_path)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))  # save_html silently ignores a Path: it only writes for a str
    if snapshot_path is not None:
        snapshot_path = Path(snapshot_path)
        snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot_path.write_text(snapshot.dumps(), encoding="utf-8")
    summary = _summarize(snapshot.dict(), snapshot.report.metadata)
    return replace(
        summary,
        html_path=None if html_path is None else str(html_path),
        snapshot_path=None if snapshot_path is None else str(snapshot_path),
    )


def load_snapshot(path: Path) -> DriftSummary:
    """Reload a snapshot saved by drift_report and summarize it again (same figures, no paths)."""
    from evidently import Run  # the public name of a report's result, evidently.core.report.Snapshot

    try:
        snapshot = Run.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as an Evidently snapshot ({exc})") from None
    metadata = snapshot.to_snapshot_model().metadata
    return _summarize(snapshot.dict(), metadata)


# --- the report ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _QualityPlan:
    target: str
    prediction: str
    proba: str | None  # binary classification with roc_auc only
    binary: bool
    pos_label: Any


def _quality_plan(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    target: str | None,
    prediction: str | None,
    proba: str | None,
    task: str,
    notes: list[str],
) -> _QualityPlan | None:
    """Whether (and how) the report scores the model on the batch; every skip leaves a note saying why."""
    if target is None or target not in cur.columns or cur[target].isna().all():
        notes.append("no labels in the batch: model quality skipped")
        return None
    if prediction is None:
        notes.append(
            f"the batch has labels in '{target}' but no prediction column was given: model quality skipped"
        )
        return None
    if ref[target].isna().all():
        notes.append(f"the reference data has no values in '{target}': model quality skipped")
        return None
    labelled = int(cur[target].notna().sum())
    if labelled < len(cur):
        notes.append(f"model quality on the {labelled:,} labelled rows of {len(cur):,}")
    if task == "regression":
        return _QualityPlan(target, prediction, None, binary=False, pos_label=None)
    labels = _sorted_labels([ref[target], cur[target], cur[prediction], ref[prediction]])
    binary = len(labels) <= 2
    pos_label = labels[-1] if labels else 1  # as scikit-learn's classes_[1]: the larger of the two labels
    use_proba = proba
    if proba is None:
        notes.append("no probability column given: roc_auc skipped")
    elif not binary:
        notes.append(f"roc_auc skipped: {len(labels)} classes, and '{proba}' is a single probability column")
        use_proba = None
    elif ref[target].isna().any() or cur[target].isna().any():
        # Evidently 0.7.23 scores probabilities on the unlabelled rows too and fails; labels are fine.
        notes.append(
            "roc_auc skipped: some rows have no label, and Evidently cannot score probabilities then"
        )
        use_proba = None
    elif cur[target].nunique() < 2:
        notes.append("roc_auc skipped: the batch's labels have a single class")
        use_proba = None
    return _QualityPlan(target, prediction, use_proba, binary=binary, pos_label=pos_label)


def _sorted_labels(series: list[pd.Series]) -> list[Any]:
    values: set[Any] = set()
    for s in series:
        values.update(v.item() if hasattr(v, "item") else v for v in s.dropna().unique())
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _run(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    checked: list[str],
    numeric: list[str],
    prediction: str | None,
    task: str,
    plan: _QualityPlan | None,
    methods: dict[str, str],
    thresholds: dict[str, float],
    seed: int,
    sampled: bool,
    notes: list[str],
) -> Any:
    """Build and run the one Evidently report; the columns it sees are exactly the ones it needs."""
    from evidently import (
        BinaryClassification,
        DataDefinition,
        Dataset,
        MulticlassClassification,
        Regression,
        Report,
    )
    from evidently.metrics import MAE, RMSE, Accuracy, F1Score, R2Score, RocAuc, ValueDrift
    from evidently.presets import DataDriftPreset

    num = [c for c in checked if c in numeric]
    cat = [c for c in checked if c not in numeric]
    feature_methods = {c: m for c, m in methods.items() if c in checked}
    feature_thresholds = {c: t for c, t in thresholds.items() if c in checked}
    metrics: list[Any] = [
        DataDriftPreset(
            columns=checked,
            per_column_method=feature_methods or None,
            per_column_threshold=feature_thresholds or None,
        )
    ]
    if prediction is not None:
        metrics.append(
            ValueDrift(
                column=prediction, method=methods.get(prediction), threshold=thresholds.get(prediction)
            )
        )
        (num if task == "regression" else cat).append(prediction)

    classification: list[Any] | None = None
    regression: list[Any] | None = None
    if plan is not None and task == "regression":
        num.append(plan.target)
        regression = [Regression(target=plan.target, prediction=plan.prediction)]
        metrics += [RMSE(), MAE(), R2Score()]
    elif plan is not None:
        cat.append(plan.target)
        if plan.binary:
            classification = [
                BinaryClassification(
                    name="labels",
                    target=plan.target,
                    prediction_labels=plan.prediction,
                    pos_label=plan.pos_label,
                )
            ]
        else:
            classification = [
                MulticlassClassification(name="labels", target=plan.target, prediction_labels=plan.prediction)
            ]
        # Accuracy and F1 from the model's own labels; given probabilities, Evidently would re-threshold them.
        metrics += [Accuracy(classification_name="labels"), F1Score(classification_name="labels")]
        if plan.proba is not None:
            num.append(plan.proba)
            classification.append(
                BinaryClassification(
                    name="probas", target=plan.target, prediction_probas=plan.proba, pos_label=plan.pos_label
                )
            )
            metrics.append(RocAuc(classification_name="probas"))

    definition = DataDefinition(
        numerical_columns=num, categorical_columns=cat, classification=classification, regression=regression
    )
    used = [*num, *cat]
    metadata = {
        _META: json.dumps(
            {
                "rows_reference": len(ref),
                "rows_current": len(cur),
                "sampled": sampled,
                "prediction": prediction,
                "notes": notes,
                "seed": seed,
            }
        )
    }
    report = Report(metrics, include_tests=True, metadata=metadata)
    try:
        with warnings.catch_warnings():  # pandas and plotly chatter from inside Evidently
            for category in (UserWarning, FutureWarning, RuntimeWarning, DeprecationWarning):
                warnings.simplefilter("ignore", category)
            return report.run(
                current_data=Dataset.from_pandas(cur[used], data_definition=definition),
                reference_data=Dataset.from_pandas(ref[used], data_definition=definition),
            )
    except ValueError as exc:
        if "stattest" in str(exc):
            raise ValueError(f"column_methods: {exc}") from None
        raise


# --- the snapshot, boiled down ------------------------------------------------------------------------------


def _summarize(result: dict[str, Any], metadata: dict[str, Any]) -> DriftSummary:
    """Our summary of snapshot.dict(): each ValueDrift metric gives a column's score and, in its config, the
    method and threshold Evidently used (it writes back what it chose itself); its "drift" test the verdict."""
    facts = json.loads(metadata[_META]) if _META in metadata else {}
    prediction = facts.get("prediction")
    notes = [str(n) for n in facts.get("notes", [])]
    verdicts: dict[str, bool] = {}
    for test in result.get("tests", []):
        if test.get("id") != "drift":
            continue
        status = str(getattr(test.get("status"), "value", test.get("status")))
        verdicts[test.get("metric_config", {}).get("metric_id")] = status == "FAIL"

    columns: list[ColumnDrift] = []
    prediction_drift: ColumnDrift | None = None
    quality: dict[str, float] = {}
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        kind = config.get("type")
        if kind == _VALUE_DRIFT:
            score, threshold = float(metric["value"]), float(config["threshold"])
            method = stattest_name(str(config.get("method")))
            drifted = verdicts.get(metric["id"], _drifted_by_rule(method, score, threshold))
            drift = ColumnDrift(str(config["column"]), method, score, threshold, drifted)
            if prediction is not None and drift.column == prediction:
                prediction_drift = drift
            else:
                columns.append(drift)
        elif kind in _QUALITY_METRICS:
            value = metric.get("value")
            value = value.get("mean") if isinstance(value, dict) else value
            if value is not None and math.isfinite(float(value)):
                quality[_QUALITY_METRICS[kind]] = float(value)
            else:
                notes.append(f"{_QUALITY_METRICS[kind]} could not be computed on this batch")

    has_quality = any(m.get("config", {}).get("type") in _QUALITY_METRICS for m in result.get("metrics", []))
    n_drifted = sum(c.drifted for c in columns)
    return DriftSummary(
        rows_reference=int(facts.get("rows_reference", 0)),
        rows_current=int(facts.get("rows_current", 0)),
        sampled=bool(facts.get("sampled", False)),
        columns=columns,
        drifted_share=n_drifted / len(columns) if columns else 0.0,
        prediction_drift=prediction_drift,
        quality=quality if has_quality else None,
        notes=notes,
    )


def _drifted_by_rule(method: str, score: float, threshold: float) -> bool:
    """Evidently's rule, for a drift metric without its test: p-values drift below, distances at or above."""
    return score < threshold if "p_value" in method else score >= threshold


def stattest_name(method: str) -> str:
    """A stattest's display name ("K-S p_value", "PSI"): a ValueDrift config holds the display name when
    Evidently chose the test and the id ("psi") when it was given one; Evidently's stattest registry maps ids."""
    from evidently import ColumnType
    from evidently.legacy.calculations.stattests import get_stattest

    empty = pd.Series(dtype=float)
    for kind in ColumnType:  # an id names one test, whatever the column types it is registered for
        try:
            return get_stattest(empty, empty, kind, method).display_name
        except ValueError:  # not an id (so already a display name), or not for this column type
            continue
    return method
