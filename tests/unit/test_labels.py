"""The pure decisions of labels that arrive later (mlops.labels): which labels count, the share rule, the verdict on
a period's realised quality and the record of how far the earlier estimate was off; and the spec's fields."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from mlops.labels import (
    OK,
    UNAVAILABLE,
    WAITING,
    WORSE,
    LabelReport,
    Period,
    claim_order,
    counts,
    judge_period,
    label_share,
    realised_verdict,
    trust,
    unmatched_note,
)
from mlops.quality_floor import QualityFloor
from mlops.spec.schema import PipelineSpec

NOW = datetime(2013, 7, 10, 12)


def test_a_label_counts_once_known_never_before() -> None:
    assert counts(datetime(2013, 7, 10, 12), NOW)
    assert counts(datetime(2013, 7, 1), NOW)
    assert not counts(datetime(2013, 7, 10, 12, 0, 1), NOW)
    assert counts(None, NOW)  # a source without a known_at column: what is there has arrived


def test_the_share_of_labelled_predictions() -> None:
    assert label_share(10, 8) == 0.8
    assert label_share(0, 0) == 0.0
    with pytest.raises(ValueError, match="between 0 and predicted"):
        label_share(10, 11)


def judged(labelled: int, realised: float | None = 0.9, **kw: object) -> object:
    args: dict[str, object] = dict(
        metric="roc_auc", predicted=100, labelled=labelled, min_share=0.8, realised=realised, reference=0.95,
        higher_is_better=True,
    )  # fmt: skip
    return judge_period(**(args | kw))  # type: ignore[arg-type]


def test_below_the_declared_share_a_period_waits_whatever_its_figure() -> None:
    v = judged(79, realised=0.1, max_quality_drop=0.01)
    assert v.state == WAITING and not v.judged  # type: ignore[attr-defined]
    assert "79 of 100 predictions labelled (79%)" in v.reason  # type: ignore[attr-defined]
    assert "min_label_share" in v.reason  # type: ignore[attr-defined]
    assert judged(0, realised=None, min_share=0.01).state == WAITING  # type: ignore[attr-defined]


def test_at_the_share_the_realised_figure_is_judged_by_max_quality_drop() -> None:
    ok = judged(80, realised=0.945, max_quality_drop=0.01)
    worse = judged(80, realised=0.93, max_quality_drop=0.01)
    assert ok.state == OK and ok.limit == pytest.approx(0.94)  # type: ignore[attr-defined]
    assert worse.state == WORSE and "max_quality_drop" in worse.reason  # type: ignore[attr-defined]
    # lower is better (rmse): the drop is upwards
    low = judge_period(
        metric="rmse", predicted=10, labelled=10, min_share=0.8, realised=5.3, reference=5.0,
        higher_is_better=False, max_quality_drop=0.2,
    )  # fmt: skip
    assert low.state == WORSE


def test_without_max_quality_drop_the_champion_floor_at_the_labelled_rows_judges() -> None:
    floor = QualityFloor(
        metric="roc_auc",
        reference=0.95,
        higher_is_better=True,
        holdout_rows=500,
        sizes=(50, 100),
        floors=(0.85, 0.9),
    )
    # at 90 labelled rows the floor lies between 0.85 and 0.90
    assert judged(90, realised=0.93, floor=floor).state == OK  # type: ignore[attr-defined]
    v = judged(90, realised=0.80, floor=floor)
    assert v.state == WORSE and "floor at 90 rows" in v.reason  # type: ignore[attr-defined]


def test_a_figure_that_cannot_be_measured_or_compared_is_said_so() -> None:
    v = judged(100, realised=None, unavailable="its 100 labels hold a single class")
    assert v.state == UNAVAILABLE and "single class" in v.reason  # type: ignore[attr-defined]
    v = judged(100, realised=0.9, reference=None)
    assert v.state == UNAVAILABLE and "no champion figure" in v.reason  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="min_share"):
        judged(100, min_share=0)


def test_the_estimate_given_earlier_is_set_beside_the_realised_figure() -> None:
    t = trust(0.91, 0.86)
    assert t is not None and t.error == pytest.approx(0.05)
    assert "estimated 0.91 before the labels, realised 0.86" in t.line("roc_auc")
    assert trust(None, 0.8) is None and trust(0.8, float("nan")) is None


def test_labels_not_joined_are_counted_in_the_report() -> None:
    assert unmatched_note(0, 0) is None
    note = unmatched_note(2, 5)
    assert note is not None and "2 label(s) without an id" in note and "5 label(s) for ids" in note
    waiting = judged(10)
    done = judged(100, realised=0.86, max_quality_drop=0.2)
    report = LabelReport(
        metric="roc_auc", min_share=0.8, labels_read=120, unknown_ids=5,
        periods=(
            Period("2013-07", "abc", "1", 100, 10, None, waiting, estimated=0.9),  # type: ignore[arg-type]
            Period("2013-06", "def", "1", 100, 100, 0.86, done, estimated=0.91, trust=trust(0.91, 0.86)),  # type: ignore[arg-type]
        ),
    )  # fmt: skip
    text = "\n".join(report.lines())
    assert "2013-07 (v1): 10/100 labelled (10%); waiting" in text and "estimated 0.9 meanwhile" in text
    assert "2013-06 (v1): 100/100 labelled (100%); ok" in text and "estimate off by +0.05" in text
    assert "5 label(s) for ids" in text
    m = report.metrics()
    assert (m["label_periods"], m["label_periods_judged"], m["label_periods_worse"]) == (2, 1, 0)
    assert m["estimate_abs_error_max"] == pytest.approx(0.05)


def test_an_id_predicted_in_several_batches_is_judged_in_the_latest() -> None:
    from datetime import UTC

    monday, tuesday = datetime(2013, 7, 1, tzinfo=UTC), datetime(2013, 7, 2, tzinfo=UTC)
    # the latest prediction takes its ids first; the batch id breaks a tie, never the files' order
    assert claim_order([(monday, "a"), (tuesday, "b")]) == [1, 0]
    assert claim_order([(tuesday, "b"), (monday, "a")]) == [0, 1]
    assert claim_order([(monday, "a"), (monday, "b"), (None, "c")]) == [1, 0, 2]
    line = Period("2013-07", "abc", "1", 90, 0, None, judged(0), superseded=10).line("roc_auc")
    assert "10 of its ids predicted again in a later batch, judged there" in line


def test_a_period_judged_worse_on_its_labels_starts_a_retrain_like_a_quality_drop() -> None:
    from mlops.verdict_policy import Verdict, VerdictPolicy

    calm = Verdict(
        drifted=False, quality_dropped=False, action="none", reasons=("drifted share 0.05 is below",)
    )
    worse = judged(100, realised=0.70, max_quality_drop=0.05)
    assert worse.state == WORSE  # type: ignore[attr-defined]
    report = LabelReport(
        metric="roc_auc", min_share=0.8, labels_read=100,
        periods=(Period("batches/july.csv", "abc", "3", 100, 100, 0.70, worse),  # type: ignore[arg-type]
                 Period("batches/august.csv", "def", "3", 100, 10, None, judged(10))),  # type: ignore[arg-type]
    )  # fmt: skip
    acted = realised_verdict(calm, report, VerdictPolicy(retrain_on="quality"))
    assert (acted.action, acted.quality_dropped) == ("retrain", True)
    assert acted.reasons[0].startswith("realised quality of 1 earlier prediction period(s) judged worse")
    assert "batches/july.csv (v3, 100 labelled)" in acted.reasons[0] and acted.reasons[1:] == calm.reasons
    assert realised_verdict(calm, report, VerdictPolicy(retrain_on="both")).action == "retrain"
    # on_drift: alert never retrains; retrain_on: drift alerts on a quality drop
    assert realised_verdict(calm, report, VerdictPolicy(may_retrain=False)).action == "alert"
    assert realised_verdict(calm, report, VerdictPolicy(retrain_on="drift")).action == "alert"
    # nothing judged worse (waiting, or ok), or no labels section: the batch's own verdict stands
    waiting = LabelReport(metric="roc_auc", min_share=0.8, labels_read=10, periods=report.periods[1:])
    assert realised_verdict(calm, waiting, VerdictPolicy()) is calm
    assert realised_verdict(calm, None, VerdictPolicy()) is calm


BASE = {
    "name": "p",
    "data": {"source": {"kind": "csv", "path": "d.csv"}, "target": "y"},
    "model": {"task": "classification", "estimator": "sklearn.linear_model.LogisticRegression"},
    "registry": {"model_name": "m"},
    "promotion": {"metric": "roc_auc"},
}


def test_the_spec_takes_an_id_column_a_labels_source_and_a_share() -> None:
    spec = PipelineSpec.model_validate(
        BASE
        | {
            "data": BASE["data"] | {"id_column": "flight_id"},
            "labels": {"source": {"kind": "csv", "path": "labels/*.csv"}, "known_at_column": "known_at"},
            "monitoring": {"min_label_share": 0.9},
        }
    )
    assert spec.data.id_column == "flight_id" and spec.labels is not None
    assert spec.monitoring.min_label_share == 0.9
    assert PipelineSpec.model_validate(BASE).monitoring.min_label_share == 0.8


def test_labels_without_an_id_column_are_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="add data.id_column"):
        PipelineSpec.model_validate(BASE | {"labels": {"source": {"kind": "csv", "path": "l.csv"}}})
    with pytest.raises(ValidationError):
        PipelineSpec.model_validate(BASE | {"monitoring": {"min_label_share": 0}})
    with_id = BASE["data"] | {"id_column": "i"}
    with pytest.raises(ValidationError, match="give the labels' path"):
        PipelineSpec.model_validate(BASE | {"data": with_id, "labels": {"source": {"kind": "csv"}}})
    with pytest.raises(ValidationError, match="bundled dataset holds no labels"):
        PipelineSpec.model_validate(
            BASE | {"data": with_id, "labels": {"source": {"kind": "builtin", "name": "breast_cancer"}}}
        )
