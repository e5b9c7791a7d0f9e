"""Drift reports. The only module that imports evidently.

One Evidently Report compares a (sampled) batch with the reference data: per-column data drift and drift of the
model's predictions. The model's quality on a labelled batch is not Evidently's: the monitor scores it with the
metric functions that scored the champion's holdout (tasks.train.batch_quality), one definition of each metric.
The result is boiled down to a small `DriftSummary`; the full report is kept as HTML for people and as a
snapshot JSON that reloads. What needs no Evidently (the summary types, the seeded sample, the input checks) is
in tasks/drift_summary.py.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.drift_policy import counted_share, unjudgeable
from tasks.drift_summary import (
    ColumnDrift,
    DriftSummary,
    check_columns,
    check_overrides,
    column_facts,
    sample,
)

__all__ = [
    "TASKS",
    "ColumnDrift",
    "DriftSummary",
    "column_facts",
    "drift_report",
    "load_snapshot",
    "sample",
    "stattest_name",
]

TASKS = ("classification", "regression")

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
# Our facts (rows, sampling, notes) ride in the snapshot's metadata: a reloaded snapshot summarizes alike.
_META = "mlops"


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    prediction: str | None = None,
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
    threshold in column_thresholds; prediction drift when `prediction` is given (a regressor's values, or a
    classifier's labels or probabilities). ValueError, naming the columns, when the frames cannot be compared.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got '{task}'")
    features = check_columns(reference, current, numeric, categorical, prediction)
    methods, thresholds = dict(column_methods or {}), dict(column_thresholds or {})
    check_overrides(methods, thresholds, features, prediction)

    ref, cur = sample(reference, max_rows, seed), sample(current, max_rows, seed)
    notes: list[str] = []
    for side, full, part in (("reference", reference, ref), ("current", current, cur)):
        if len(part) < len(full):
            notes.append(f"{side}: sampled {len(part):,} of {len(full):,} rows (seed {seed})")

    # a column no test can judge (no values, another kind of value, one value where there were several) is a
    # finding: it counts as drifted and is named, never silently left out of the share
    unjudged = unjudgeable(column_facts(reference, current, features))
    checked = [c for c in features if c not in unjudged]
    if prediction is not None and (ref[prediction].isna().all() or cur[prediction].isna().all()):
        notes.append(
            f"the prediction column '{prediction}' has no values on one side: prediction drift skipped"
        )
        prediction = None

    sampled = len(ref) < len(reference) or len(cur) < len(current)
    snapshot = _run(
        ref,
        cur,
        checked,
        numeric,
        prediction,
        task,
        methods,
        thresholds,
        seed,
        sampled,
        notes,
        unjudged,
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


def _run(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    checked: list[str],
    numeric: list[str],
    prediction: str | None,
    task: str,
    methods: dict[str, str],
    thresholds: dict[str, float],
    seed: int,
    sampled: bool,
    notes: list[str],
    unjudged: dict[str, str],
) -> Any:
    """Build and run the one Evidently report; the columns it sees are exactly the ones it needs."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    num = [c for c in checked if c in numeric]
    cat = [c for c in checked if c not in numeric]
    feature_methods = {c: m for c, m in methods.items() if c in checked}
    feature_thresholds = {c: t for c, t in thresholds.items() if c in checked}
    # the metrics of Evidently's DataDriftPreset (the drifted-columns count, then one ValueDrift a column, with the
    # same methods and thresholds), without the preset: its page is a legacy DataDriftTable that tests every column
    # again, twice, and draws every column's plots again, on top of the ValueDrifts' own. Same figures and
    # verdicts; the HTML shows the count and each column's drift widget. 30 columns of 569 rows, report, HTML and
    # snapshot: 7.6 s of CPU with the preset, 4.5 s this way (bench/drift_report.py, docs/performance.md)
    metrics: list[Any] = (
        [
            DriftedColumnsCount(
                columns=checked,
                per_column_method=feature_methods or None,
                per_column_threshold=feature_thresholds or None,
            ),
            *(
                ValueDrift(column=c, method=feature_methods.get(c), threshold=feature_thresholds.get(c))
                for c in checked
            ),
        ]
        if checked
        else []
    )
    if prediction is not None:
        metrics.append(
            ValueDrift(
                column=prediction, method=methods.get(prediction), threshold=thresholds.get(prediction)
            )
        )
        # a regressor's values and a classifier's probabilities are numbers; a classifier's labels are categories
        score = task == "regression" or pd.api.types.is_float_dtype(ref[prediction])
        (num if score else cat).append(prediction)
        if score and task != "regression":
            # probabilities of a batch far from the reference crowd at 0 or 1 within float noise, and Evidently's
            # histogram fails on a range that small ("Too many bins"): 6 decimals keep every real difference
            ref, cur = (f.assign(**{prediction: f[prediction].round(6)}) for f in (ref, cur))

    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
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
                "unjudgeable": unjudged,
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

    n_drifted, judged = sum(c.drifted for c in columns), len(columns)
    unjudged = {str(k): str(v) for k, v in facts.get("unjudgeable", {}).items()}
    nan = float("nan")
    columns += [
        ColumnDrift(c, "cannot be judged", nan, nan, True, unjudgeable=why) for c, why in unjudged.items()
    ]
    return DriftSummary(
        rows_reference=int(facts.get("rows_reference", 0)),
        rows_current=int(facts.get("rows_current", 0)),
        sampled=bool(facts.get("sampled", False)),
        columns=columns,
        drifted_share=counted_share(n_drifted, judged, len(unjudged)),
        prediction_drift=prediction_drift,
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


def known_stattests() -> list[str]:
    """The stattest ids `monitoring.column_methods` may name (Evidently's registry: "ks", "psi", "wasserstein", ...),
    for `mlops validate`: an unknown one would otherwise stop the first monitor run."""
    import evidently.legacy.calculations.stattests  # noqa: F401 (importing it registers every stattest)
    from evidently.legacy.calculations.stattests import registry

    return sorted(str(name) for name in getattr(registry, "_registered_stat_tests", {}))
