"""The promotion step around the pure `mlops.policy.decide`: the decision as a Prefect task, and the manual
approval that pauses the flow run with a form in the Prefect UI (answered there or with `mlops approve`)."""

from __future__ import annotations

from typing import Any

from mlops.errors import MlopsError
from mlops.policy import ApprovalOutcome, Decision, Evidence, decide
from mlops.spec import Promotion
from tasks.evaluate import ChampionScore


class ApprovalUnavailable(MlopsError):
    exit_code = 2


def decide_promotion(
    challenger: dict[str, float], champion: ChampionScore, policy: Promotion, evidence: Evidence | None = None
) -> Decision:
    return decide(challenger, champion.metrics, policy, champion_error=champion.error, evidence=evidence)


def check_approval_possible(policy: Promotion) -> None:
    """Manual approval needs a Prefect server someone else can reach; say so before any work is done."""
    if policy.approval.mode != "manual":
        return
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise ApprovalUnavailable(
            "promotion.approval.mode is manual, which pauses the run until a person answers in the Prefect UI "
            "or with `mlops approve`; that needs a Prefect server: run `mlops serve` (or `prefect server start`) "
            "and set PREFECT_API_URL, or use mode auto or dry_run."
        )


def approval_input_class() -> Any:
    from prefect.input import RunInput

    class PromotionApproval(RunInput):
        approve: bool = False
        reviewer: str = ""
        comment: str = ""

    return PromotionApproval


def await_approval(
    decision: Decision, evidence_markdown: str, timeout_seconds: int
) -> ApprovalOutcome | None:
    """Pause this flow run until approved or rejected (a form in the UI), or until the timeout rejects.

    Called from the flow itself (Prefect pauses flow runs, not tasks). Nothing to ask when the policy already
    rejected the challenger."""
    if not decision.promote:
        return None
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    form = approval_input_class().with_initial_data(
        description=evidence_markdown
        + "\n\n**Approve this promotion?** Tick `approve` and submit, or submit "
        "without it to reject. From a terminal: `mlops approve SPEC` or `mlops reject SPEC`.",
        approve=False,
    )
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout_seconds, poll_interval=2)
    except FlowPauseTimeout:
        return ApprovalOutcome(False, "timeout")
    return ApprovalOutcome(
        bool(answer.approve), answer.reviewer or "a reviewer in the Prefect UI", answer.comment
    )
