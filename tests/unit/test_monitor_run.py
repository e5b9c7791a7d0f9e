"""mlops.monitor_run: the monitor's verdict and its MLflow run's tags and metrics, from the tasks' own results, with
no Prefect, MLflow or Evidently."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlops.drift_policy import RetrainTrigger
from mlops.monitor_run import judge_batch, run_record
from mlops.spec import PipelineSpec, load_spec
from mlops.verdict_policy import Signals, policy_of, verdict
from tasks.drift_summary import ColumnDrift, DriftSummary
from tasks.estimate import QualitySignals
from tasks.tracking.monitoring import Monitoring
from tasks.train import BatchQuality
from tests.conftest import spec_text, write_spec


@pytest.fixture
def spec(tmp_path: Path) -> PipelineSpec:
    monitoring = "monitoring: {on_drift: retrain, alert_drift_share: 0.3, retrain_on: quality, max_quality_drop: 0.05}\n"
    return load_spec(write_spec(tmp_path, spec_text(suite=None, extra=monitoring))).spec


def drift(share: float, unjudgeable: str | None = None) -> DriftSummary:
    columns = [
        ColumnDrift("a", "K-S p_value", 0.01, 0.05, True),
        ColumnDrift("b", "K-S p_value", 0.5, 0.05, False, unjudgeable),
    ]
    return DriftSummary(1000, 1000, False, columns, share, None)


def test_the_batch_is_judged_on_the_primary_metric_by_the_specs_policy(spec: PipelineSpec) -> None:
    estimates = QualitySignals(
        0.5, 0.6, {"roc_auc": 0.70, "recall": 0.4}, {"roc_auc": 0.65}, {"roc_auc": 0.9}
    )
    quality = BatchQuality({"roc_auc": 0.65}, 120, {}, [])
    estimator = Monitoring(
        estimator={"reference_estimated": {"roc_auc": 0.88}}, floor_missing="no floor stored"
    )

    judged = judge_batch(spec, drift(0.5), estimates, quality, estimator, scored_rows=400)

    expected = verdict(
        Signals(
            "roc_auc",
            0.5,
            0.6,
            0.70,
            0.65,
            0.9,
            realised_rows=120,
            estimated_rows=400,
            floor_missing="no floor stored",
            reference_estimated=0.88,
        ),  # fmt: skip
        policy_of(spec.monitoring, higher_is_better=True),
    )
    assert judged == expected
    assert judged.action == "retrain" and judged.quality_source == "realised"  # 0.65 is 0.25 below 0.9


def test_a_metric_the_batch_could_not_compute_is_said_with_its_reason(spec: PipelineSpec) -> None:
    estimates = QualitySignals(0.1, None, {"roc_auc": math.nan}, {}, {"roc_auc": 0.9})
    quality = BatchQuality({"roc_auc": math.nan}, 50, {"roc_auc": "roc_auc: one class only"}, [])

    judged = judge_batch(spec, drift(0.1, "all null"), estimates, quality, Monitoring(), scored_rows=50)

    assert judged.broken_feed and judged.action == "alert"  # column b cannot be judged: an alert of its own
    assert any("one class only" in r for r in judged.reasons), judged.reasons


def test_the_run_records_the_verdict_the_retrain_reason_and_every_figure(spec: PipelineSpec) -> None:
    estimates = QualitySignals(0.5, 0.6, {"roc_auc": 0.70}, {}, {})
    quality = BatchQuality({"roc_auc": 0.65, "recall": 0.3}, 120, {}, [])
    judged = judge_batch(spec, drift(0.5, "all null"), estimates, quality, Monitoring(), scored_rows=400)
    trigger = RetrainTrigger(True, "retrain on 2013-07-01..2013-08-01")

    tags, metrics = run_record(
        {"batch": "july.csv"}, judged, trigger, drift(0.5, "all null"), estimates, quality, None
    )

    assert tags == {
        "batch": "july.csv",
        "drift.action": judged.action,
        "drift.retrain": "retrain on 2013-07-01..2013-08-01",
        "drift.unjudgeable": "b",
    }
    assert metrics == {
        "drift_share": 0.5,
        "unjudgeable_columns": 1,
        "batch_roc_auc": 0.65,
        "batch_recall": 0.3,
        "weighted_drift_share": 0.6,
        "estimated_roc_auc": 0.70,
    }


def test_a_period_its_labels_judged_worse_makes_a_calm_batch_retrain(spec: PipelineSpec) -> None:
    from mlops.labels import LabelReport, Period, judge_period

    worse = judge_period(metric="roc_auc", predicted=100, labelled=100, min_share=0.8, realised=0.70, reference=0.95,
                         higher_is_better=True, max_quality_drop=0.05)  # fmt: skip
    report = LabelReport(
        "roc_auc", 0.8, (Period("batches/july.csv", "abc", "3", 100, 100, 0.70, worse),), 100
    )
    estimates = QualitySignals(0.05, 0.05, {"roc_auc": 0.93}, {}, {"roc_auc": 0.95})
    quality = BatchQuality(None, 0, {}, [])

    calm = judge_batch(spec, drift(0.05), estimates, quality, Monitoring(), scored_rows=400)
    judged = judge_batch(spec, drift(0.05), estimates, quality, Monitoring(), scored_rows=400, arrived=report)

    assert calm.action == "none"
    assert (judged.action, judged.quality_dropped) == ("retrain", True)
    assert "batches/july.csv (v3, 100 labelled)" in judged.reasons[0] and judged.reasons[1:] == calm.reasons
