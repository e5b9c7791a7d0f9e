"""Notifications end to end: a real `prefect server start` on loopback, notifications.yaml synced to it twice (the
deploy path's own function: one automation per rule, nothing changed the second time), and a small HTTP receiver
on 127.0.0.1 that must receive the drift message (emitted inside a flow run, as the monitor does), the failed-run
message (Prefect's own flow-run.Failed event), the approval message (flow-run.Paused) and the rollback message (emitted as `mlops rollback` does, from a
process that exits at once). Bounded waits; the whole file takes well under two minutes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlops.cli import notifications as nt
from mlops.cli import supervisor as sv
from tests.conftest import REPO, free_port, wait_until

pytestmark = pytest.mark.e2e

SECRET_PATH = "/hook/s3cret-token-123"
RULES = """
channels:
  ops: {kind: webhook, url_env: MLOPS_E2E_WEBHOOK}
rules:
  - {when: drift, notify: [ops]}
  - {when: run-failed, notify: [ops]}
  - {when: approval-waiting, notify: [ops]}
  - {when: rollback, notify: [ops], pipelines: [e2e-pipe]}
"""

FLOWS = """
import sys
from prefect import flow
from tasks.events import emit_drift

@flow(name="monitor")
def monitor(spec_path: str) -> None:
    emit_drift("e2e-pipe", spec_path, {"action": "alert", "reasons": ["drifted share of columns 0.46 is at or above the threshold 0.3"],
               "drifted_share": 0.46, "mlflow_run_url": "http://mlflow.e2e/#/experiments/1/runs/abc"})

@flow(name="retrain")
def retrain(spec_path: str) -> None:
    raise RuntimeError("the data source is gone: no file matches data/*.csv")

@flow(name="retrain")
def waits_for_approval(spec_path: str) -> None:
    from prefect.flow_runs import pause_flow_run

    pause_flow_run(timeout=2, poll_interval=1)  # nobody answers: the run fails after the Paused event


monitor("deployments/e2e.yaml")
try:
    retrain("deployments/e2e.yaml")
except RuntimeError:
    pass
try:
    waits_for_approval("deployments/e2e-approval.yaml")
except Exception:
    pass

# As `mlops rollback` does after recording it, then the process exits at once: the event must still leave.
from mlops.cli.notifications import announce_rollback
assert announce_rollback("e2e-pipe", "e2e-model", "3", "2", "complaints from ops", "user:tester")
"""


class Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        Receiver.received.append(json.loads(self.rfile.read(length) or b"{}"))
        Receiver.paths.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    finally:
        server.shutdown()


# Services this test does not need, off so the server starts and stops sooner (the triggers and actions stay on).
LEAN_SERVER = {
    "PREFECT_UI_ENABLED": "false",
    **{
        f"PREFECT_SERVER_SERVICES_{s}_ENABLED": "false"
        for s in (
            "SCHEDULER",
            "LATE_RUNS",
            "FOREMAN",
            "CANCELLATION_CLEANUP",
            "PAUSE_EXPIRATIONS",
            "REPOSSESSOR",
        )
    },
}


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("notify-prefect")
    port = free_port()
    url = sv.api_url_for(port)
    with (
        pytest.MonkeyPatch.context() as mp
    ):  # the server's environment is this process's (supervisor.child_env)
        for key, value in LEAN_SERVER.items():
            mp.setenv(key, value)
        proc = sv.start_server(port, home, home / "server.log")
    try:
        sv.wait_healthy(url, proc, home / "server.log", timeout=90)
        yield url
    finally:
        sv.stop(proc, grace=5)


def env(api_url: str) -> dict[str, str]:
    return {**sv.child_env(api_url), "PYTHONPATH": str(REPO), "MLOPS_LOCAL_PREFECT": "off"}


def messages(kind: str) -> list[str]:
    return [m["body"] for m in Receiver.received if m.get("subject", "").startswith(kind)]


def test_notifications_reach_the_receiver(
    api_url: str,
    receiver: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    (tmp_path / "notifications.yaml").write_text(RULES)
    monkeypatch.setenv("MLOPS_E2E_WEBHOOK", receiver)

    first = nt.sync(tmp_path, api_url)
    assert first is not None and [c.what for c in first] == ["created"] * 4
    nt.deploy_notifications(tmp_path, api_url)  # the second deploy: nothing changes, no duplicate
    assert "4 unchanged" in capsys.readouterr().out
    with SyncPrefectClient(api_url) as client:
        names = sorted(a.name for a in client.read_automations())
        assert names == sorted(
            ["mlops: drift", "mlops: run-failed", "mlops: approval-waiting", "mlops: rollback e2e-pipe"]
        )
        blocks = client.read_block_documents(include_secrets=False)  # as the API and UI show them
        assert not [b for b in blocks if "s3cret" in json.dumps(b.model_dump(mode="json"), default=str)]
        automations = json.dumps([a.model_dump(mode="json") for a in client.read_automations()])
        assert "s3cret" not in automations and receiver not in automations

    (tmp_path / "flows.py").write_text(FLOWS)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "flows.py")], cwd=REPO, env=env(api_url), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    wait_until(
        lambda: all(
            messages(k) for k in ("mlops: drift", "mlops: a retrain run", "mlops: e2e-pipe", "mlops: a promo")
        ),
        timeout=60,
        what=f"the four messages (received so far: {Receiver.received})",
    )
    drift = messages("mlops: drift")[0]
    assert drift.splitlines()[0] == (
        "Pipeline e2e-pipe: drift, action alert: drifted share of columns 0.46 is at or above the threshold 0.3"
    )
    assert f"{api_url.removesuffix('/api')}/runs/flow-run/" in drift
    assert "MLflow run: http://mlflow.e2e/#/experiments/1/runs/abc" in drift
    failed = messages("mlops: a retrain run")[0]
    assert failed.startswith("Pipeline deployments/e2e.yaml: retrain run ")
    assert "Failed" in failed.splitlines()[0] and "the data source is gone" in failed.splitlines()[0]
    assert "/runs/flow-run/" in failed
    rollback = messages("mlops: e2e-pipe")[0]
    assert rollback.splitlines()[0] == (
        "Pipeline e2e-pipe: champion of e2e-model rolled back from v3 to v2 by user:tester: complaints from ops"
    )
    assert "/#/models/e2e-model/versions/2" in rollback
    approval = messages("mlops: a promotion waits")[0]
    assert approval.startswith("Pipeline deployments/e2e-approval.yaml: a promotion waits for approval")
    assert "mlops approve/reject deployments/e2e-approval.yaml" in approval and "/runs/flow-run/" in approval
    assert set(Receiver.paths) == {SECRET_PATH}
