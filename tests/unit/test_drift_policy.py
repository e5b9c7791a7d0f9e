from __future__ import annotations

import math

import pytest

from mlops.drift_policy import DriftVerdict, verdict


def test_no_drift_and_no_labels_does_nothing() -> None:
    v = verdict(0.1, 0.3, "retrain")
    assert v == DriftVerdict(drifted=False, quality_dropped=False, action="none", reasons=v.reasons)
    assert not v.acts
    assert "0.1 is below the threshold 0.3" in v.reasons[0]
    assert "no labels in the batch" in v.reasons[1]


@pytest.mark.parametrize("on_drift", ["alert", "retrain"])
def test_drift_triggers_the_declared_action(on_drift: str) -> None:
    v = verdict(0.5, 0.3, on_drift)
    assert v.drifted and not v.quality_dropped and v.action == on_drift and v.acts
    assert "0.5 is at or above the threshold 0.3" in v.reasons[0]


def test_the_threshold_itself_counts_as_drift() -> None:
    assert verdict(0.3, 0.3, "alert").drifted
    assert verdict(3 / 10, 0.3, "alert").action == "alert"
    assert not verdict(math.nextafter(0.3, 0), 0.3, "alert").drifted


def test_on_drift_none_only_reports() -> None:
    v = verdict(0.9, 0.3, "none", quality=0.5, reference_quality=0.8, max_quality_drop=0.01)
    assert v.drifted and v.quality_dropped and v.action == "none"


def test_quality_drop_alone_triggers_the_action() -> None:
    v = verdict(0.0, 0.3, "retrain", quality=0.70, reference_quality=0.76, max_quality_drop=0.05)
    assert not v.drifted and v.quality_dropped and v.action == "retrain"
    assert "a drop of 0.0600, more than the allowed 0.05" in v.reasons[1]


def test_quality_drop_at_the_limit_is_allowed() -> None:
    # 0.75 - 0.70 is 0.05000000000000004 in floats: still "within" a max drop of 0.05.
    v = verdict(0.0, 0.3, "alert", quality=0.70, reference_quality=0.75, max_quality_drop=0.05)
    assert not v.quality_dropped and v.action == "none"
    assert "within the allowed 0.05" in v.reasons[1]


def test_better_quality_is_no_drop() -> None:
    v = verdict(0.0, 0.3, "alert", quality=0.80, reference_quality=0.75, max_quality_drop=0.0)
    assert not v.quality_dropped and v.reasons[1].endswith("no drop")


def test_lower_is_better_metrics() -> None:
    worse = verdict(
        0.0, 0.3, "alert", quality=12.0, reference_quality=10.0, max_quality_drop=1.0, higher_is_better=False
    )
    assert worse.quality_dropped and worse.action == "alert"
    better = verdict(
        0.0, 0.3, "alert", quality=9.0, reference_quality=10.0, max_quality_drop=1.0, higher_is_better=False
    )
    assert not better.quality_dropped and better.action == "none"


def test_drift_and_drop_together() -> None:
    v = verdict(0.6, 0.3, "retrain", quality=0.5, reference_quality=0.8, max_quality_drop=0.1)
    assert v.drifted and v.quality_dropped and v.action == "retrain" and len(v.reasons) == 2


@pytest.mark.parametrize(
    ("quality", "reference", "max_drop", "why"),
    [
        (0.5, None, 0.1, "no reference"),
        (None, 0.8, 0.1, "no labels in the batch"),
        (math.nan, 0.8, 0.1, "NaN"),
        (0.5, 0.8, None, "no max_quality_drop set"),
    ],
)
def test_quality_is_only_compared_with_both_figures_and_a_limit(
    quality: float | None, reference: float | None, max_drop: float | None, why: str
) -> None:
    v = verdict(0.0, 0.3, "retrain", quality=quality, reference_quality=reference, max_quality_drop=max_drop)
    assert not v.quality_dropped and v.action == "none" and why in v.reasons[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on_drift": "retrian"},
        {"drifted_share": 1.5},
        {"drifted_share": math.nan},
        {"threshold": -0.1},
        {"max_quality_drop": -0.01},
    ],
)
def test_bad_inputs_are_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"drifted_share": 0.2, "threshold": 0.3, "on_drift": "alert", **kwargs}
    with pytest.raises(ValueError):
        verdict(**args)  # type: ignore[arg-type]
