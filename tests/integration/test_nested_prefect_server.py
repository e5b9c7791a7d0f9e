"""The shared Prefect test server helper (`tests.conftest.prefect_server`) when two servers meet in one process.

Under pytest-xdist one worker process can run an integration file (the session server, `prefect_harness`) and
then an e2e file that starts its own module server (test_faults.py, test_bad_input_corpus.py) while the session
server is still up. Prefect's events worker is keyed without the API URL, so unless the helper drains it, the
module server's task runs (which Prefect 3 records from events) go to the session server instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import prefect_server, wait_until

pytestmark = pytest.mark.integration


def task_runs_on(api_url: str, flow_run_id: Any) -> list[Any]:
    """The flow run's task runs that reached a final state on the server at `api_url`."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with SyncPrefectClient(api_url) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [r for r in runs if r.state is not None and r.state.is_final()]


def run_tiny_flow() -> Any:
    """A one-task flow run on the current API; returns its flow run id."""
    from prefect import flow, task

    @task
    def step() -> int:
        return 1

    @flow
    def tiny() -> int:
        return step()

    state = tiny(return_state=True)
    assert state.is_completed(), state
    return state.state_details.flow_run_id


def test_a_server_started_inside_another_records_its_own_task_runs(
    prefect_harness: str, prefect_db_template: Path, tmp_path: Path
) -> None:
    outer_run = run_tiny_flow()  # the session server's events worker is now running, as after any flow test
    wait_until(lambda: task_runs_on(prefect_harness, outer_run), 30, what="the session server's task run")
    storage_before = os.environ.get("PREFECT_LOCAL_STORAGE_PATH")

    with prefect_server(tmp_path / "inner-storage", prefect_db_template) as inner:
        assert inner != prefect_harness
        assert os.environ["PREFECT_LOCAL_STORAGE_PATH"] == str(tmp_path / "inner-storage")
        inner_run = run_tiny_flow()
        wait_until(
            lambda: task_runs_on(inner, inner_run), 30,
            what="the inner server's task run on the inner server (misrouted to the session server?)",
        )  # fmt: skip
        assert task_runs_on(prefect_harness, inner_run) == []

    # afterwards: the storage path is the session's again, and the session server gets its own events again
    assert os.environ.get("PREFECT_LOCAL_STORAGE_PATH") == storage_before
    after = run_tiny_flow()
    wait_until(lambda: task_runs_on(prefect_harness, after), 30, what="the session server's task run after")
