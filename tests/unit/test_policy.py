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
