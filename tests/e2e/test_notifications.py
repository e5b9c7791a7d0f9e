"""Notifications end to end: a real `prefect server start` on loopback, notifications.yaml synced to it twice (the
deploy path's own function: one automation per rule, nothing changed the second time), and a small HTTP receiver
on 127.0.0.1 that must receive the drift message (emitted inside a flow run, as the monitor does), the failed-run
message (Prefect's own flow-run.Failed event), the approval message (flow-run.Paused) and the rollback message (emitted as `mlops rollback` does, from a
process that exits at once). The same events reach a Slack channel (Slack's JSON, posted to the receiver) and an
SMTP email channel (a small SMTP sink on 127.0.0.1 with a login), each for exactly the rules wired to it, and their
credentials are in no block as the API shows it, no automation and no server log. Bounded waits; the whole file
takes well under two minutes."""

from __future__ import annotations

import base64
import email
import json
import shutil
import socketserver
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
from tests.conftest import PREFECT_DB, REPO, free_port, wait_until
from tests.stack import LEAN_PREFECT_SERVER

pytestmark = pytest.mark.e2e

SECRET_PATH = "/hook/s3cret-token-123"
SLACK_PATH = "/services/T0E2E/B0E2E/slackt0ken456"  # a Slack incoming webhook's path, with its token
SMTP_PASSWORD = "smtp-pa55:w/rd@never-logged"
RULES = """
channels:
  ops: {kind: webhook, url_env: MLOPS_E2E_WEBHOOK}
  team-slack: {kind: slack, url_env: MLOPS_E2E_SLACK}
  oncall: {kind: email, smtp_host: 127.0.0.1, smtp_port: SMTP_PORT, tls: none, smtp_user_env: MLOPS_E2E_SMTP_USER,
           smtp_password_env: MLOPS_E2E_SMTP_PASSWORD, sender: mlops@example.com, to: [oncall@example.com]}
rules:
  - {when: drift, notify: [ops, team-slack, oncall]}
  - {when: run-failed, notify: [ops, team-slack, oncall]}
  - {when: approval-waiting, notify: [ops, oncall]}
  - {when: rollback, notify: [ops, team-slack], pipelines: [e2e-pipe]}
  - {when: manual-promotion, notify: [ops]}
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
    raise RuntimeError("the data source is gone: no file matches data/*.csv <gone & moved>")

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
# As `mlops promote` does after recording it.
from mlops.cli.notifications import announce_manual_promotion
assert announce_manual_promotion("e2e-pipe", "e2e-model", "v2", "4", "v4 is the honest one", "user:tester")
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


class SMTPSink(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT): keeps each message and login."""

    messages: list[email.message.Message] = []
    logins: list[list[bytes]] = []

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink")
        while line := self.rfile.readline().decode():
            verb = line[:4].upper()
            if verb == "EHLO":
                self.reply("250-sink\r\n250 AUTH PLAIN")
            elif verb == "AUTH":  # AUTH PLAIN base64(\0user\0password)
                SMTPSink.logins.append(base64.b64decode(line.split()[2]).split(b"\0")[1:])
                self.reply("235 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b"".join(iter(lambda: self.rfile.readline() or b".\r\n", b".\r\n"))  # to the lone dot
                SMTPSink.messages.append(email.message_from_bytes(data))
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL FROM, RCPT TO, RSET, NOOP
                self.reply("250 ok")


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPSink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    finally:
        server.shutdown()


# Services this test does not need, off so the server starts and stops sooner (the triggers and actions stay on):
# those no test server needs (tests/stack.py), and the cancellation, pause and lease loops.
LEAN_SERVER = {
    **LEAN_PREFECT_SERVER,
    **{
        f"PREFECT_SERVER_SERVICES_{s}_ENABLED": "false"
        for s in ("CANCELLATION_CLEANUP", "PAUSE_EXPIRATIONS", "REPOSSESSOR")
    },
}


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory, prefect_db_template: Path) -> Iterator[str]:
    """The module's server, started as `mlops serve` starts its own, on a copy of the session's migrated database
    (tests/conftest.py::migrated_prefect_db): no first migration, which other tests keep covered."""
    home = tmp_path_factory.mktemp("notify-prefect")
    shutil.copyfile(prefect_db_template, home / PREFECT_DB)
    port = free_port()
    url = sv.api_url_for(port)
    with (
        pytest.MonkeyPatch.context() as mp
    ):  # the server's environment is this process's (supervisor.child_env)
        for key, value in LEAN_SERVER.items():
            mp.setenv(key, value)
        mp.setenv("PREFECT_SERVER_DATABASE_MIGRATE_ON_START", "false")  # the copy is at head
        proc = sv.start_server(port, home, home / "server.log")
    SERVER_LOGS[url] = home / "server.log"
    try:
        sv.wait_healthy(url, proc, home / "server.log", timeout=90)
        yield url
    finally:
        sv.stop(proc, grace=5)


SERVER_LOGS: dict[str, Path] = {}


def env(api_url: str) -> dict[str, str]:
    return {**sv.child_env(api_url), "PYTHONPATH": str(REPO), "MLOPS_LOCAL_PREFECT": "off"}


def messages(kind: str) -> list[str]:
    return [m["body"] for m in Receiver.received if m.get("subject", "").startswith(kind)]


def slack(kind: str) -> list[str]:
    """Slack's incoming-webhook JSON is `{"text": ...}`: the subject in bold on the first line, then the body."""
    posted = [m for m, path in zip(Receiver.received, Receiver.paths, strict=True) if path == SLACK_PATH]
    assert all(set(m) == {"text"} for m in posted), posted
    return [m["text"].split("\n", 1)[1] for m in posted if m["text"].startswith(f"*{kind}")]


def mails(kind: str) -> list[str]:
    return [
        str(m.get_payload(decode=True).decode()).replace("\r\n", "\n")  # type: ignore[union-attr]
        for m in SMTPSink.messages
        if str(m["Subject"]).startswith(kind)
    ]


def test_notifications_reach_the_receiver(
    api_url: str,
    receiver: str,
    smtp_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    (tmp_path / "notifications.yaml").write_text(RULES.replace("SMTP_PORT", str(smtp_port)))
    (tmp_path / "deployments").mkdir()
    # the pipeline its rollback rule names
    (tmp_path / "deployments" / "e2e.yaml").write_text("name: e2e-pipe\n")
    monkeypatch.setenv("MLOPS_E2E_WEBHOOK", receiver)
    slack_url = receiver.replace(SECRET_PATH, SLACK_PATH)
    monkeypatch.setenv("MLOPS_E2E_SLACK", slack_url)
    monkeypatch.setenv("MLOPS_E2E_SMTP_USER", "mlops-bot")
    monkeypatch.setenv("MLOPS_E2E_SMTP_PASSWORD", SMTP_PASSWORD)
    secrets = ["s3cret", "slackt0ken456", "pa55"]  # the SMTP password, plain or quoted in a URL

    first = nt.sync(tmp_path, api_url)
    assert first is not None and [c.what for c in first] == ["created"] * 5
    nt.deploy_notifications(tmp_path, api_url)  # the second deploy: nothing changes, no duplicate
    assert "5 unchanged" in capsys.readouterr().out
    with SyncPrefectClient(api_url) as client:
        names = sorted(a.name for a in client.read_automations())
        assert names == sorted(
            [
                "mlops: drift",
                "mlops: run-failed",
                "mlops: approval-waiting",
                "mlops: rollback e2e-pipe",
                "mlops: manual-promotion",
            ]
        )
        blocks = client.read_block_documents(include_secrets=False)  # as the API and UI show them
        shown = json.dumps([b.model_dump(mode="json") for b in blocks], default=str)
        assert {"mlops-ops", "mlops-team-slack", "mlops-oncall"} <= {b.name for b in blocks}
        automations = json.dumps([a.model_dump(mode="json") for a in client.read_automations()])
        for secret in secrets:
            assert secret not in shown and secret not in automations, secret
        assert receiver not in automations

    (tmp_path / "flows.py").write_text(FLOWS)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "flows.py")], cwd=REPO, env=env(api_url), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    wait_until(
        lambda: all(
            messages(k)
            for k in (
                "mlops: drift",
                "mlops: a retrain run",
                "mlops: e2e-pipe rolled",
                "mlops: a promo",
                "mlops: e2e-pipe champion",
            )
        ),
        timeout=60,
        what=f"the five messages (received so far: {Receiver.received})",
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
    rollback = messages("mlops: e2e-pipe rolled")[0]
    assert rollback.splitlines()[0] == (
        "Pipeline e2e-pipe: champion of e2e-model rolled back from v3 to v2 by user:tester: complaints from ops"
    )
    assert "/#/models/e2e-model/versions/2" in rollback
    by_hand = messages("mlops: e2e-pipe champion set by hand")
    assert len(by_hand) == 1 and by_hand[0].splitlines()[0] == (
        "Pipeline e2e-pipe: v4 of e2e-model made champion by hand (was v2) by user:tester: v4 is the honest one"
    )
    assert "/#/models/e2e-model/versions/4" in by_hand[0]
    approval = messages("mlops: a promotion waits")[0]
    assert approval.startswith("Pipeline deployments/e2e-approval.yaml: a promotion waits for approval")
    assert "mlops approve/reject deployments/e2e-approval.yaml" in approval and "/runs/flow-run/" in approval
    assert set(Receiver.paths) == {SECRET_PATH, SLACK_PATH}

    # Slack and SMTP email: each rule wired to them, once per event (two retrain runs failed: one raised, one was
    # never approved), and nothing for the rule they are not wired to.
    expected = {
        "mlops: drift": 1,
        "mlops: a retrain run": 2,
        "mlops: e2e-pipe rolled": 1,
        "mlops: a promotion": 1,
    }
    to_slack = {k: n for k, n in expected.items() if k != "mlops: a promotion"}
    to_mail = {k: n for k, n in expected.items() if k != "mlops: e2e-pipe rolled"}
    wait_until(
        lambda: (
            all(len(slack(k)) >= n for k, n in to_slack.items())
            and all(len(mails(k)) >= n for k, n in to_mail.items())
        ),
        timeout=60,
        what=f"the Slack and email messages (so far: {Receiver.received}, {SMTPSink.messages})",
    )
    assert {k: len(slack(k)) for k in expected} == {**to_slack, "mlops: a promotion": 0}
    assert {k: len(mails(k)) for k in expected} == {**to_mail, "mlops: e2e-pipe rolled": 0}
    assert not slack("mlops: e2e-pipe champion") and not mails(
        "mlops: e2e-pipe champion"
    )  # its rule: ops only
    assert slack("mlops: drift")[0] == drift and mails("mlops: drift")[0].strip() == drift  # same message
    assert slack("mlops: e2e-pipe rolled")[0] == rollback
    slack_failed = [m for m in slack("mlops: a retrain run") if "data source" in m][0]
    assert "no file matches data/*.csv &lt;gone &amp; moved&gt;" in slack_failed  # Slack's markup, escaped
    assert "data/*.csv <gone & moved>" in failed  # and only for Slack
    mail_failed = [m for m in mails("mlops: a retrain run") if "data source" in m][0]
    assert "data/*.csv <gone & moved>" in mail_failed and "/runs/flow-run/" in mail_failed
    assert mails("mlops: a promotion")[0].startswith(
        "Pipeline deployments/e2e-approval.yaml: a promotion waits"
    )
    mail = SMTPSink.messages[0]
    assert mail["From"] == "mlops@example.com" and mail["To"] == "oncall@example.com"
    assert SMTPSink.logins and all(
        login == [b"mlops-bot", SMTP_PASSWORD.encode()] for login in SMTPSink.logins
    )
    log = SERVER_LOGS[api_url].read_text(errors="replace")
    for secret in secrets:
        assert secret not in log, secret
