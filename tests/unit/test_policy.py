from __future__ import annotations

import math

import pytest

from mlops.policy import decide, gate
from mlops.spec import Guardrail, Promotion

AUC = Promotion(
    metric="roc_auc", min_improvement=0.002, guardrails=[Guardrail(metric="recall", max_drop=0.01)]
)


def test_first_model_becomes_champion() -> None:
    d = decide({"roc_auc": 0.7, "recall": 0.4}, None, AUC)
    assert d.promote and d.rule == "first-model"


def test_identical_models_are_not_promoted() -> None:
    m = {"roc_auc": 0.71, "recall": 0.4}
    d = decide(m, dict(m), AUC)
    assert not d.promote and d.rule == "not-improved" and d.improvement == 0


def test_improvement_below_minimum_is_rejected() -> None:
    d = decide({"roc_auc": 0.7015, "recall": 0.4}, {"roc_auc": 0.70, "recall": 0.4}, AUC)
    assert not d.promote and "needs > 0 and >= 0.002" in d.reasons[0]


def test_clear_improvement_is_promoted() -> None:
    d = decide({"roc_auc": 0.72, "recall": 0.4}, {"roc_auc": 0.70, "recall": 0.4}, AUC)
    assert d.promote and d.rule == "improved" and d.improvement == pytest.approx(0.02)


def test_guardrail_drop_blocks_an_improvement() -> None:
    d = decide({"roc_auc": 0.72, "recall": 0.35}, {"roc_auc": 0.70, "recall": 0.40}, AUC)
    assert not d.promote and d.rule == "guardrail"
    assert any("recall" in b and "max_drop 0.01" in b for b in d.guardrail_breaches)


def test_lower_is_better_metrics() -> None:
    policy = Promotion(metric="rmse", min_improvement=0.5)
    assert decide({"rmse": 50.0}, {"rmse": 51.0}, policy).promote
    assert not decide({"rmse": 50.8}, {"rmse": 51.0}, policy).promote
    assert not decide({"rmse": 52.0}, {"rmse": 51.0}, policy).promote


def test_direction_can_be_overridden() -> None:
    policy = Promotion(metric="r2", direction="minimize")
    assert decide({"r2": 0.1}, {"r2": 0.2}, policy).promote


def test_floor_blocks_even_the_first_model() -> None:
    policy = Promotion(metric="roc_auc", guardrails=[Guardrail(metric="roc_auc", min=0.6)])
    d = decide({"roc_auc": 0.55}, None, policy)
    assert not d.promote and "below the floor 0.6" in d.reasons[0]


def test_ceiling_on_a_lower_is_better_metric() -> None:
    policy = Promotion(metric="roc_auc", guardrails=[Guardrail(metric="log_loss", max=0.6)])
    assert not decide({"roc_auc": 0.8, "log_loss": 0.7}, {"roc_auc": 0.7, "log_loss": 0.5}, policy).promote


def test_champion_that_cannot_score_follows_the_declared_rule() -> None:
    reject = decide({"roc_auc": 0.7}, None, AUC, champion_error="missing columns")
    assert not reject.promote and reject.rule == "champion-error" and "missing columns" in reject.reasons[0]
    promote = decide({"roc_auc": 0.7}, None, AUC.model_copy(update={"on_champion_error": "promote"}), "x")
    assert promote.promote


def test_nan_challenger_metric_is_never_promoted() -> None:
    d = decide({"roc_auc": math.nan}, None, AUC)
    assert not d.promote and d.rule == "invalid"


@pytest.mark.parametrize(("success", "on_failure", "verdict"), [
    (True, "fail", "pass"), (False, "fail", "stop"), (False, "warn", "warn"), (True, "warn", "pass"),
])  # fmt: skip
def test_gate(success: bool, on_failure: str, verdict: str) -> None:
    assert gate(success, on_failure) == verdict


# --- issue 5: evidence, noise, slices, approvals -------------------------------------------------------------

from mlops.policy import ApprovalOutcome, Evidence, Interval, SliceResult, apply_approval  # noqa: E402
from mlops.spec import Bootstrap, SliceGuardrail  # noqa: E402

BOOT = Promotion(metric="roc_auc", min_improvement=0.0, bootstrap=Bootstrap(resamples=500))


def ev(low: float, high: float, rows: int = 1000, slices: tuple = ()) -> Evidence:
    return Evidence(rows, "h" * 64, Interval(low, high, (low + high) / 2, 0.95, 500, 0), slices)


def test_better_by_noise_is_not_promoted() -> None:
    d = decide({"roc_auc": 0.7010}, {"roc_auc": 0.7000}, BOOT, evidence=ev(-0.004, 0.006))
    assert not d.promote and d.rule == "not-significant"
    assert "may be noise" in d.reasons[0] and "[-0.0040, +0.0060]" in d.reasons[0]


def test_significant_improvement_is_promoted_with_the_interval_in_the_reasons() -> None:
    d = decide({"roc_auc": 0.72}, {"roc_auc": 0.70}, BOOT, evidence=ev(0.01, 0.03))
    assert d.promote and any("significant: 95% interval" in r for r in d.reasons)


def test_interval_must_clear_the_minimum_improvement() -> None:
    policy = BOOT.model_copy(update={"min_improvement": 0.005})
    assert not decide({"roc_auc": 0.72}, {"roc_auc": 0.70}, policy, evidence=ev(0.004, 0.03)).promote


def test_small_holdout_is_refused() -> None:
    d = decide(
        {"roc_auc": 0.9}, None, Promotion(metric="roc_auc", min_holdout_rows=100), evidence=Evidence(40)
    )
    assert not d.promote and d.rule == "holdout-too-small"


def test_relative_improvement() -> None:
    policy = Promotion(metric="rmse", min_relative_improvement=0.05)
    assert not decide({"rmse": 97.0}, {"rmse": 100.0}, policy).promote
    assert decide({"rmse": 94.0}, {"rmse": 100.0}, policy).promote


def test_slice_guardrail_blocks_a_better_model_that_hurts_one_slice() -> None:
    policy = Promotion(metric="roc_auc", slice_guardrails=[SliceGuardrail(column="origin", max_drop=0.02)])
    slices = (
        SliceResult("origin", "EWR", "roc_auc", 0.74, 0.70, 900),
        SliceResult("origin", "JFK", "roc_auc", 0.65, 0.70, 800),
    )
    d = decide({"roc_auc": 0.72}, {"roc_auc": 0.70}, policy, evidence=Evidence(2000, slices=slices))
    assert not d.promote and d.rule == "guardrail"
    assert any("slice origin=JFK (800 rows)" in b for b in d.guardrail_breaches)


@pytest.mark.parametrize(("outcome", "promote", "rule"), [
    (ApprovalOutcome(True, "user:ana", "looks good"), True, "improved"),
    (ApprovalOutcome(False, "user:bo", "not on a Friday"), False, "approval-rejected"),
    (ApprovalOutcome(False, "timeout"), False, "approval-timeout"),
])  # fmt: skip
def test_approval_answers(outcome: ApprovalOutcome, promote: bool, rule: str) -> None:
    d = apply_approval(
        decide({"roc_auc": 0.72}, {"roc_auc": 0.70}, AUC.model_copy(update={"guardrails": []})), outcome
    )
    assert d.promote is promote and d.rule == rule and outcome.by in d.reasons[-1] or outcome.by == "timeout"


def test_approval_cannot_promote_what_the_policy_rejected() -> None:
    rejected = decide({"roc_auc": 0.70}, {"roc_auc": 0.70}, AUC)
    assert apply_approval(rejected, ApprovalOutcome(True, "user:ana")) == rejected


def test_best_candidate_respects_direction_and_skips_nan() -> None:
    from mlops.policy import best_candidate

    assert best_candidate([0.7, math.nan, 0.9, 0.9], "maximize") == 2
    assert best_candidate([3.0, 1.0, math.nan], "minimize") == 1
    with pytest.raises(ValueError, match="no candidate"):
        best_candidate([math.nan], "maximize")


@pytest.mark.parametrize(("challenger", "shown"), [(1.3787, "-0.3787"), (0.6213, "+0.3787")])
def test_a_lower_is_better_reason_and_the_table_agree_in_sign(challenger: float, shown: str) -> None:
    """Issue 23: a worse rmse read "(-0.3787, needs > 0 ...)" in the reason while the table said +0.3787."""
    from mlops.policy import metric_improvement

    policy = Promotion(metric="rmse", min_improvement=0.5)
    d = decide({"rmse": challenger, "mae": challenger / 2}, {"rmse": 1.0, "mae": 0.5}, policy)
    assert f"(improvement {shown}, lower is better; needs > 0 and >= 0.5)" in d.reasons[0]
    assert f"{metric_improvement('rmse', challenger, 1.0, d.metric, d.direction):+.4f}" == shown
    # the other metrics of the table by their own direction: mae lower is better, r2 higher
    assert metric_improvement("mae", 0.4, 0.5, "rmse", "minimize") == pytest.approx(0.1)
    assert metric_improvement("r2", 0.4, 0.5, "rmse", "minimize") == pytest.approx(-0.1)
    assert metric_improvement("mae", 0.4, None, "rmse", "minimize") is None


def test_an_overridden_direction_signs_the_table_as_the_reason() -> None:
    from mlops.policy import metric_improvement

    d = decide({"r2": 0.1}, {"r2": 0.2}, Promotion(metric="r2", direction="minimize"))
    assert "(improvement +0.1000, lower is better;" in d.reasons[0]
    assert metric_improvement("r2", 0.1, 0.2, "r2", d.direction) == pytest.approx(0.1)
