"""Issue #12 item 3: a manual approval is awaited outside the promotion lock, so the champion is read again
afterwards; `recheck_after_approval` says what a change of champion meanwhile means for the decision."""

from __future__ import annotations

from mlops.policy import ApprovalOutcome, apply_approval, decide, recheck_after_approval
from mlops.spec import Promotion

AUC = Promotion(metric="roc_auc", min_improvement=0.001)


def approved() -> object:
    d = decide({"roc_auc": 0.9}, {"roc_auc": 0.8}, AUC)
    return apply_approval(d, ApprovalOutcome(True, "user:ana"))


def test_an_unchanged_champion_keeps_the_approved_decision() -> None:
    d = approved()
    assert recheck_after_approval(d, "2", "2") is d


def test_a_rollback_while_waiting_rejects_the_promotion_and_says_why() -> None:
    d = recheck_after_approval(approved(), "2", "1")
    assert not d.promote and d.rule == "champion-changed"
    assert "approved by user:ana" in d.reasons[-2]
    assert "the champion changed from v2 to v1 while waiting for approval" in d.reasons[-1]
    assert "run the retrain again to compare the challenger with v1" in d.reasons[-1]


def test_a_first_model_overtaken_by_another_promotion_is_rejected() -> None:
    first = apply_approval(decide({"roc_auc": 0.9}, None, AUC), ApprovalOutcome(True, "user:ana"))
    d = recheck_after_approval(first, None, "3")
    assert not d.promote and d.rule == "champion-changed"
    assert "from none to v3" in d.reasons[-1]


def test_a_rejection_stays_a_rejection_with_the_change_noted() -> None:
    rejected = apply_approval(
        decide({"roc_auc": 0.9}, {"roc_auc": 0.8}, AUC), ApprovalOutcome(False, "user:bo")
    )
    d = recheck_after_approval(rejected, "2", "1")
    assert not d.promote and d.rule == "approval-rejected"
    assert "changed from v2 to v1" in d.reasons[-1]
