"""The verdict policy (issue 14): drift is looked at (an alert), a quality drop is acted on (a retrain); pure
functions with hand-made signals, both metric directions, the fallback to the drift rule, and the spec fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops.spec.schema import Monitoring
from mlops.verdict_policy import Signals, VerdictPolicy, policy_of, verdict
from tests.conftest import spec_problems, spec_text, write_spec

DEFAULT = VerdictPolicy(
    alert_drift_share=0.3, drift_measure="weighted", retrain_on="quality", max_quality_drop=0.03
)


def test_estimated_drop_beyond_max_quality_drop_retrains_and_says_so() -> None:
    signals = Signals("roc_auc", drift_share=0.1, weighted_drift_share=0.05, estimated=0.71, reference=0.77)
    v = verdict(signals, DEFAULT)
    assert v.action == "retrain" and v.quality_dropped and v.quality_source == "estimated"
    assert (
        "estimated roc_auc 0.71 is 0.06 below the champion's 0.77, more than max_quality_drop 0.03: retrain"
        in v.reasons
    )
    assert v.worsening == pytest.approx(0.06)
    assert v.reasons[0].startswith("estimated roc_auc 0.71 is 0.06 below")  # what decided comes first


def test_drop_within_max_quality_drop_does_nothing() -> None:
    v = verdict(Signals("roc_auc", 0.1, 0.05, estimated=0.75, reference=0.77), DEFAULT)
    assert v.action == "none" and not v.quality_dropped
    assert any("within max_quality_drop 0.03" in r for r in v.reasons)


def test_exactly_max_quality_drop_is_within_despite_float_rounding() -> None:
    # 0.73 - 0.70 is 0.030000000000000027 in floats
    v = verdict(Signals("roc_auc", 0.0, 0.0, realised=0.70, reference=0.73), DEFAULT)
    assert v.action == "none"


def test_realised_quality_wins_over_the_estimate_when_the_batch_is_labelled() -> None:
    v = verdict(Signals("roc_auc", 0.1, 0.05, estimated=0.76, realised=0.70, reference=0.77), DEFAULT)
    assert v.action == "retrain" and v.quality_source == "realised" and v.quality == 0.70
    v = verdict(Signals("roc_auc", 0.1, 0.05, estimated=0.60, realised=0.76, reference=0.77), DEFAULT)
    assert v.action == "none" and v.quality_source == "realised"


def test_lower_is_better_metric_rmse_drop_is_a_rise() -> None:
    policy = VerdictPolicy(retrain_on="quality", max_quality_drop=5.0, higher_is_better=False)
    worse = verdict(Signals("rmse", 0.1, 0.1, estimated=58.0, reference=52.0), policy)
    assert worse.action == "retrain" and worse.worsening == pytest.approx(6.0)
    assert (
        "estimated rmse 58 is 6 above the champion's 52, more than max_quality_drop 5: retrain"
        in worse.reasons
    )
    better = verdict(Signals("rmse", 0.1, 0.1, estimated=40.0, reference=52.0), policy)
    assert better.action == "none" and better.worsening == pytest.approx(-12.0)
    assert "estimated rmse 40 is no worse than the champion's 52" in better.reasons


def test_higher_is_better_metric_rise_is_not_a_drop() -> None:
    v = verdict(Signals("r2", 0.0, 0.0, estimated=0.9, reference=0.5), VerdictPolicy(max_quality_drop=0.05))
    assert v.action == "none" and not v.quality_dropped


def test_drift_alone_alerts_but_does_not_retrain_by_default() -> None:
    v = verdict(
        Signals("roc_auc", drift_share=0.6, weighted_drift_share=0.45, estimated=0.76, reference=0.77),
        DEFAULT,
    )
    assert v.action == "alert" and v.drifted and not v.quality_dropped
    assert v.measure == "weighted" and v.drift_value == 0.45
    assert v.reasons[0].startswith("importance-weighted drift share 0.45 (raw share 0.60) is at or above")
    assert "drift alone is reported, not acted on (retrain_on: quality)" in v.reasons


def test_weighted_measure_ignores_drift_in_features_the_model_does_not_use() -> None:
    v = verdict(
        Signals("roc_auc", drift_share=0.6, weighted_drift_share=0.02, estimated=0.77, reference=0.77),
        DEFAULT,
    )
    assert v.action == "none" and not v.drifted
    share = VerdictPolicy(alert_drift_share=0.3, drift_measure="share", max_quality_drop=0.03)
    assert verdict(Signals("roc_auc", 0.6, 0.02, estimated=0.77, reference=0.77), share).action == "alert"


def test_retrain_on_drift_or_both_acts_on_drift_alone() -> None:
    signals = Signals("roc_auc", 0.6, 0.5, estimated=0.77, reference=0.77)
    for retrain_on in ("drift", "both"):
        policy = VerdictPolicy(retrain_on=retrain_on, max_quality_drop=0.03)
        assert verdict(signals, policy).action == "retrain"
    dropped = Signals("roc_auc", 0.0, 0.0, estimated=0.70, reference=0.77)
    assert verdict(dropped, VerdictPolicy(retrain_on="drift", max_quality_drop=0.03)).action == "alert"
    assert verdict(dropped, VerdictPolicy(retrain_on="both", max_quality_drop=0.03)).action == "retrain"


def test_on_drift_alert_never_retrains() -> None:
    policy = VerdictPolicy(max_quality_drop=0.03, may_retrain=False)
    v = verdict(Signals("roc_auc", 0.0, 0.0, estimated=0.70, reference=0.77), policy)
    assert v.action == "alert"
    assert any("more than max_quality_drop 0.03: alert" in r for r in v.reasons)


def test_without_any_quality_figure_the_drift_rule_decides_and_says_so() -> None:
    policy = VerdictPolicy(alert_drift_share=0.5, max_quality_drop=0.03, drift_share_threshold=0.3)
    # an old champion: no estimate, and no labels
    v = verdict(Signals("roc_auc", drift_share=0.4, weighted_drift_share=0.1), policy)
    assert v.action == "retrain" and v.quality_source == ""
    assert (
        "quality not compared: no labels in the batch and no estimate (the champion predates estimation)"
        in v.reasons
    )
    assert any("the drift rule decides: drifted share 0.40 is at or above drift_share_threshold 0.3" in r
               for r in v.reasons)  # fmt: skip
    quiet = verdict(Signals("roc_auc", drift_share=0.2, weighted_drift_share=0.1), policy)
    assert quiet.action == "none"


def test_no_weighted_share_falls_back_to_the_raw_share() -> None:
    v = verdict(Signals("roc_auc", 0.5, None, estimated=0.77, reference=0.77), DEFAULT)
    assert v.measure == "share" and v.action == "alert"
    assert "no feature importances with this champion: the raw drift share is used" in v.reasons


def test_signals_of_picks_the_primary_metric_and_drops_nan() -> None:
    s = Signals.of("rmse", 0.2, float("nan"), estimated={"rmse": 3.0, "mae": 2.0}, realised={"mae": 1.0},
                   reference={"rmse": 2.5})  # fmt: skip
    assert (s.weighted_drift_share, s.estimated, s.realised, s.reference) == (None, 3.0, None, 2.5)


def test_bad_policy_values_are_refused() -> None:
    with pytest.raises(ValueError, match="retrain_on"):
        VerdictPolicy(retrain_on="sometimes")
    with pytest.raises(ValueError, match="drift_share"):
        verdict(Signals("roc_auc", 1.5), DEFAULT)


# --- the spec fields --------------------------------------------------------------------------------------------


def test_old_monitoring_sections_keep_their_meaning() -> None:
    old = policy_of(Monitoring(drift_share_threshold=0.3, on_drift="retrain"), higher_is_better=True)
    assert (old.alert_drift_share, old.drift_measure, old.may_retrain) == (0.3, "share", True)
    # no max_quality_drop: no quality to act on, so today's drift rule retrains on a drifted share
    v = verdict(Signals("roc_auc", 0.35, 0.1, estimated=0.5, reference=0.77), old)
    assert v.action == "retrain"
    alert = policy_of(Monitoring(), higher_is_better=True)
    assert verdict(Signals("roc_auc", 0.35, 0.1), alert).action == "alert"


def test_new_fields_reach_the_policy() -> None:
    m = Monitoring(on_drift="retrain", alert_drift_share=0.2, drift_measure="weighted", retrain_on="quality",
                   max_quality_drop=0.02)  # fmt: skip
    p = policy_of(m, higher_is_better=False)
    assert (p.alert_drift_share, p.drift_measure, p.retrain_on, p.max_quality_drop, p.higher_is_better) == (
        0.2, "weighted", "quality", 0.02, False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"retrain_on": "both"}, "on_drift is alert (the default), which never retrains"),
        ({"drift_measure": "share"}, "alert_drift_share is not set"),
    ],
)
def test_conflicting_fields_are_refused_with_the_fix(fields: dict[str, str], expected: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(expected)):
        Monitoring(**fields)  # type: ignore[arg-type]


def test_a_conflict_reads_as_one_sentence_in_the_spec_error(tmp_path: Path) -> None:
    (msg,) = spec_problems(
        write_spec(tmp_path, spec_text(extra="monitoring: {on_drift: alert, retrain_on: drift}\n"))
    )
    assert "spec.yaml: monitoring: retrain_on: drift says when to retrain, but on_drift is alert" in msg
    assert "value error" not in msg and "got a dict" not in msg


def test_an_unlabelled_batch_says_the_realised_quality_was_not_compared_and_the_estimate_is_judged() -> None:
    v = verdict(Signals("roc_auc", 0.1, 0.05, estimated=0.70, reference=0.77), DEFAULT)
    assert "quality not compared: no labels in the batch; the estimated roc_auc is judged" in v.reasons
    one_class = Signals("roc_auc", 0.1, 0.05, estimated=0.76, reference=0.77,
                        realised_unavailable="roc_auc: the batch's labelled rows hold a single class")  # fmt: skip
    assert any(
        r.startswith("quality not compared: roc_auc: the batch's")
        for r in verdict(one_class, DEFAULT).reasons
    )


# --- issue 23 item 3: a broken feed alerts on its own -----------------------------------------------------------

BROKEN = {"total_charges": "all null in the batch"}


def test_an_unjudgeable_feature_alerts_whatever_the_drift_share() -> None:
    """1 column of 19 is under any share: it used to be 'no drift, action: none' (exit 0)."""
    v = verdict(
        Signals("roc_auc", drift_share=1 / 19, weighted_drift_share=0.02, unjudgeable=BROKEN), DEFAULT
    )
    assert v.action == "alert" and v.broken_feed and not v.drifted and v.acts
    assert v.state == "unjudgeable features"
    assert v.reasons[0].startswith("1 feature column the monitor cannot judge (total_charges (all null")
    assert "alert, whatever the drift share" in v.reasons[0]


def test_an_unjudgeable_feature_never_retrains_on_its_own() -> None:
    policy = VerdictPolicy(retrain_on="drift", alert_drift_share=0.9, drift_share_threshold=0.9)
    v = verdict(Signals("roc_auc", 0.05, None, unjudgeable=BROKEN), policy)
    assert v.action == "alert" and v.broken_feed


def test_on_unjudgeable_drift_keeps_the_column_in_the_share_only() -> None:
    policy = VerdictPolicy(alert_drift_share=0.3, drift_measure="share", on_unjudgeable="drift")
    v = verdict(Signals("roc_auc", drift_share=1 / 19, unjudgeable=BROKEN), policy)
    assert v.action == "none" and not v.broken_feed and v.state == "no drift"
    assert any("could not be judged and counts as drifted: total_charges" in r for r in v.reasons)


def test_on_unjudgeable_defaults_to_alert_and_is_read_from_the_spec() -> None:
    assert Monitoring().on_unjudgeable == "alert"
    assert policy_of(Monitoring(), higher_is_better=True).on_unjudgeable == "alert"
    assert policy_of(Monitoring(on_unjudgeable="drift"), higher_is_better=True).on_unjudgeable == "drift"
    with pytest.raises(ValueError, match="on_unjudgeable must be one of alert, drift, stop"):
        VerdictPolicy(on_unjudgeable="ignore")


def test_drift_and_a_broken_feed_are_both_named() -> None:
    v = verdict(
        Signals("roc_auc", drift_share=0.5, unjudgeable=BROKEN),
        VerdictPolicy(drift_measure="share", may_retrain=False),
    )
    assert v.action == "alert" and v.state == "drift and unjudgeable features"
    assert v.reasons[0].startswith("drifted share of features 0.50")  # the share decided too: it stays first
