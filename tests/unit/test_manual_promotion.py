"""`mlops promote`'s checks, decided from the registry's state alone: each refusal says what is wrong."""

from __future__ import annotations

import pytest

from mlops.manual_promotion import ManualPromotion, PromotionRefused, check_manual_promotion, decision_tags

VERSIONS = {
    "1": {"mlops.pipeline": "churn", "mlops.decision": "promoted", "mlops.decision.rule": "first-model"},
    "2": {"mlops.pipeline": "churn", "mlops.decision": "rejected", "mlops.decision.rule": "not-improved"},
    "3": {"mlops.pipeline": "other", "mlops.decision": "rejected"},
    "4": {"mlops.pipeline": "churn", "mlops.published": "abandoned"},
}


def check(
    requested: str, reason: str = "v1 leaked", mode: str = "auto", champion: str | None = "1"
) -> ManualPromotion:
    return check_manual_promotion(requested, reason, "churn-model", "churn", mode, champion, VERSIONS)


@pytest.mark.parametrize(
    "requested", ["2", "v2", "V2", " 2 ", "churn-model/2", "models:/churn-model/2", "02"]
)
def test_a_version_of_this_model_is_promoted_and_the_champion_becomes_previous(requested: str) -> None:
    assert check(requested) == ManualPromotion("2", "1")


@pytest.mark.parametrize(
    ("requested", "kwargs", "said"),
    [
        ("9", {}, "has no version 9 (its versions: v1, v2, v3, v4)"),
        ("1", {}, "v1 is already the champion"),
        ("3", {}, "trained by pipeline 'other'"),
        ("4", {}, "died before committing"),
        ("other-model/2", {}, "names a version of 'other-model'"),
        ("models:/other-model@2", {}, "names a version of 'other-model'"),
        ("latest", {}, "takes a version number"),
        ("2", {"reason": " "}, "--reason must say why"),
        ("2", {"mode": "dry_run"}, "dry_run"),
    ],
)
def test_each_refusal_says_why_and_is_a_usage_error(requested: str, kwargs: dict, said: str) -> None:
    with pytest.raises(PromotionRefused, match="") as caught:
        check(requested, **kwargs)
    assert said in str(caught.value) and caught.value.exit_code == 2


def test_manual_approval_mode_accepts_the_person_s_decision() -> None:
    assert check("2", mode="manual").version == "2"


def test_the_first_champion_can_be_named_by_hand() -> None:
    assert check("2", champion=None) == ManualPromotion("2", None)


def test_the_decision_tags_keep_the_policy_s_verdict() -> None:
    tags = decision_tags(
        ManualPromotion("2", "1"), VERSIONS["2"], " v1 leaked ", "user:ana", "2026-12-06T12:00:00Z"
    )
    assert tags["mlops.decision"] == "promoted" and tags["mlops.decision.rule"] == "manual-promotion"
    assert tags["mlops.decision.policy"] == "rejected (not-improved)"
    assert tags["mlops.decision.reasons"] == "promoted by hand by ana: v1 leaked"
    assert tags["mlops.decision.champion_version"] == "1" and tags["mlops.decision.by"] == "user:ana"
    again = decision_tags(ManualPromotion("2", "5"), tags, "again", "user:bo", "2026-12-07T12:00:00Z")
    assert again["mlops.decision.policy"] == "rejected (not-improved)"
