"""The drift event a real monitor run emits carries what the notification message needs: the verdict's action and
reasons and the link to the monitor's MLflow run (read back from the Prefect API, as the automation sees it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.monitor import monitor
from flows.retrain import retrain
from tests.conftest import wait_until
from tests.integration.conftest import timed_spec

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_the_drift_event_links_the_monitor_mlflow_run(timed_project: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    spec = timed_spec(timed_project, "alert")
    retrain(spec)
    result = monitor(spec, start="2023-07-01", end="2023-08-01")
    assert result.event_id is not None and result.run_url

    def emitted() -> list:
        wanted = EventFilter(
            event=EventNameFilter(name=["mlops.drift.detected"]),
            resource=EventResourceFilter(id=["mlops.pipeline.timed"]),
        )
        with get_client(sync_client=True) as client:
            page = client.read_events(wanted, limit=50)  # the server refuses the client's default limit (100)
        return [e for e in page.events if str(e.id) == result.event_id]

    (event,) = wait_until(emitted, timeout=30, what="the drift event on the Prefect API")
    assert event.payload["mlflow_run_url"] == result.run_url
    assert event.payload["action"] == "alert" and event.payload["reasons"]
    assert (
        event.payload["state"] == result.verdict.state
    )  # the message says drift, quality drop or broken feed
    assert any(r.role == "flow-run" for r in event.related)  # so the message links the monitor's Prefect run
