"""Issue #12 item 3: a retrain waiting for a manual approval does not hold the promotion lock, so a rollback is
never blocked by it; after the answer the champion is read again, and a change meanwhile is a recorded "no"."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from flows.retrain import retrain
from mlops.errors import MlopsError
from tasks.locking import promotion_lock
from tasks.tracking import ledger
from tasks.tracking.registry import rollback
from tests.conftest import edit_spec, wait_until
from tests.integration.test_retrain_flow import registry

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def paused(spec: Path) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            )
        )
    return any(str(r.parameters.get("spec_path")) == str(spec) for r in runs)


def test_a_rollback_while_an_approval_waits_is_not_blocked_and_the_approval_is_rechecked(
    project: Path,
) -> None:
    from mlops.cli.approvals import answer

    spec = edit_spec(project, "{C: 1.0, max_iter: 500}", "{C: 0.001, max_iter: 500}")
    edit_spec(project, "max_drop: 0.05", "max_drop: 1.0")
    assert retrain(str(spec)).decision.rule == "first-model"  # v1
    edit_spec(project, "{C: 0.001, max_iter: 500}", "{C: 0.003, max_iter: 500}")
    assert retrain(str(spec)).decision.rule == "improved"  # v2 champion, v1 previous
    edit_spec(project, "{C: 0.003, max_iter: 500}", "{C: 1.0, max_iter: 500}")
    edit_spec(
        project,
        "min_improvement: 0.001",
        "min_improvement: 0.001\n  approval: {mode: manual, timeout_seconds: 120}",
    )

    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", retrain(str(spec))), daemon=True)
    worker.start()
    wait_until(lambda: paused(spec), 90, interval=0.5, what="the retrain to pause for approval")
    try:
        started = time.monotonic()
        with promotion_lock("cancer-model", timeout=10):  # exactly what `mlops rollback` does
            assert rollback("cancer-model", None, "v2 misbehaves", actor="user:ops") == ("2", "1")
        assert time.monotonic() - started < 10
    finally:  # answer in any case, so the paused run ends within this test
        wait_until(
            lambda: _answered(spec, answer), 30, interval=1, what="the approval to reach the paused run"
        )
        worker.join(120)

    r = result["r"]
    d = r.decision
    assert not d.promote and d.rule == "champion-changed", d.reasons
    assert "approved by user:ana" in d.reasons[-2]
    assert "the champion changed from v2 to v1 while waiting for approval" in d.reasons[-1]
    assert r.version == "3" and r.champion_before == "2" and r.champion_after == "1"
    assert registry("cancer-model")["aliases"] == {"champion": "1", "challenger": "3", "previous": "2"}
    entries = ledger.history("cancer-model")
    assert [e.action for e in entries] == ["promote", "promote", "rollback", "reject"]
    last = entries[-1]
    assert last.rule == "champion-changed" and last.actor == "approval:user:ana"
    assert (last.champion_before, last.champion_after) == ("1", "1")
    assert "changed from v2 to v1" in last.reasons[-1]


def _answered(spec: Path, answer) -> bool:  # type: ignore[no-untyped-def]
    try:
        answer(spec, True, reviewer="user:ana", comment="")
    except MlopsError:
        return False
    return True
