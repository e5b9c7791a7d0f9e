"""Transient faults are retried, user errors are not (issue 6), against a real `mlflow server` on loopback.

- A transient fault: the server is killed (SIGKILL of its process group) during the `track-training-run` task,
  either at its first MLflow call or inside its MLflow run, and comes back on the same port and store a few seconds
  later. The task fails, Prefect retries it after the configured backoff (2, 8, 30 s with jitter) because the error
  is a connection error, and the run completes: the model is registered and is champion. The task run's second
  attempt and its AwaitingRetry state are read back from the Prefect API, which is what the Prefect UI shows.
- A user error in the same task (someone deleted the pipeline's MLflow experiment) fails the run on its first
  attempt: one attempt, no retry state, nothing registered.
- The server down for good: `mlops run retrain` exits 1 in bounded time with one paragraph naming the tracking URI
  and how to fix it, and nothing was written.

MLflow's HTTP client retries every request itself (7 retries, backoff factor 2: about 4 minutes per failing call
when the server is down). The in-process tests turn that off, so that Prefect's task retry is what recovers; the
CLI test runs with the user's defaults, which `tasks/tracking/store.py` shortens for a remote server (2 retries,
backoff factor 1, 60 s timeout, unless the user set them): Prefect's task retries do the waiting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, prefect_server, run_mlops, spec_text, wait_until

pytestmark = pytest.mark.e2e

TRACKING_TASK = "track-training-run"
MLFLOW_HTTP = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class MlflowServer:
    """`mlflow server` on loopback with a SQLite store and proxied artifacts; killed and restarted in place."""

    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self, timeout: float = 180) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
        # The server's job runner (GenAI jobs, 8 huey processes) is not needed: 7 s to healthy instead of 16 s.
        env |= {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mlflow server did not become healthy on {self.url}:\n{tail}")
            time.sleep(0.25)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole process group (the server runs uvicorn as a child), then wait for the port to close."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        wait_until(
            lambda: not port_open(self.port), 30, interval=0.1,
            what=f"port {self.port} to close after killing the mlflow server",
        )  # fmt: skip

    def ensure_up(self) -> None:
        if not (self.proc is not None and self.proc.poll() is None and self.healthy()):
            self.kill()
            self.start()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(free_port(), tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def prefect_api(shared_prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's Prefect server (tests/e2e/conftest.py, real API and SQLite) for the in-process flow runs: a
    module server of its own cost another start."""
    with prefect_server(tmp_path_factory.mktemp("prefect-storage"), api_url=shared_prefect_server) as api_url:
        yield api_url


@pytest.fixture
def remote_tracking(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    """This test's MLflow is the server; MLflow's own HTTP retries are off so Prefect's retries do the work."""
    mlflow_server.ensure_up()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    return mlflow_server


def write_spec(project: Path, name: str) -> str:
    """The project's cancer spec under its own pipeline (and model) name: the tests share one server."""
    path = project / "deployments" / "cancer.yaml"
    path.write_text(spec_text(name=name))
    return str(path)


def task_run_of(api_url: str, flow_run_id: Any, name: str, timeout: float = 30) -> tuple[Any, list[Any]]:
    """The flow run's task run of that task, once its final state has reached the API, and its state history.

    Prefect 3 reports task states as events that the server records asynchronously: poll for a short while."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    with SyncPrefectClient(api_url) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            found = [r for r in runs if r.name.startswith(f"{name}-")]
            if found and found[0].state is not None and found[0].state.is_final():
                return found[0], client.read_task_run_states(found[0].id)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no final task run '{name}' on the Prefect API for flow run {flow_run_id}: {runs}"
                )
            time.sleep(0.5)


def registry(server: MlflowServer, model_name: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    c = MlflowClient(server.url, server.url)
    versions = sorted(int(v.version) for v in c.search_model_versions(f"name = '{model_name}'"))
    aliases = {}
    if versions:
        aliases = dict(c.get_registered_model(model_name).aliases)
    return {"versions": versions, "aliases": aliases}


@pytest.mark.parametrize(
    ("kill_at", "pipeline"),
    [
        pytest.param("runs.experiment_id", "faults-a", id="before-the-mlflow-run"),
        pytest.param("lineage.dataset", "faults-a-inside", id="inside-the-mlflow-run"),
    ],
)  # fmt: skip
def test_tracking_server_killed_during_the_tracking_task_is_retried_and_the_run_completes(
    project: Path,
    remote_tracking: MlflowServer,
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
    kill_at: str,
    pipeline: str,
) -> None:
    """At the first call of `kill_at` the server dies (SIGKILL) and is back 3 s plus its start time later.
    `experiment_id` is the task's first MLflow call; `lineage.dataset` runs inside the MLflow run, after the run's
    params and metrics were logged. Each is patched where `runs.log_training_run` looks it up."""
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from tasks.tracking import lineage, runs

    server = remote_tracking
    spec = write_spec(project, pipeline)
    starts_before = server.starts
    restarted: list[threading.Thread] = []
    module, name = kill_at.split(".")
    owner = {"runs": runs, "lineage": lineage}[module]
    killed_in = getattr(owner, name)

    def outage_then_call(*args: Any, **kwargs: Any) -> Any:
        if not restarted:  # the first call: the server dies now, and a thread brings it back 3 s later
            server.kill()
            # A deliberate sleep, not a wait for a condition: the outage must last (3 s plus the start time) so
            # that the tracking task's attempt during it really fails and Prefect's retry has to do the work.
            thread = threading.Thread(target=lambda: (time.sleep(3), server.start()), daemon=True)
            thread.start()
            restarted.append(thread)
        return killed_in(*args, **kwargs)

    def each_attempt_starts(*args: Any, **kwargs: Any) -> Any:
        """The task's first MLflow call, on every attempt. Attempts after the outage begin once the server is
        back, so the run needs exactly one retry, whatever the machine's speed (no race against the backoff)."""
        if restarted:
            restarted[0].join(timeout=200)
        return first_call(*args, **kwargs)

    monkeypatch.setattr(owner, name, outage_then_call)
    first_call = runs.experiment_id  # outage_then_call itself when the kill is at experiment_id
    monkeypatch.setattr(runs, "experiment_id", each_attempt_starts)
    state = retrain(spec, return_state=True)
    assert restarted, f"tracking.{kill_at} was never called: the outage did not happen"
    restarted[0].join(timeout=200)

    assert state.is_completed(), state.result(raise_on_failure=False)
    assert server.starts == starts_before + 1  # it really went down and came back once
    result = state.result()
    assert result.version == "1" and result.champion_after == "1"
    model = f"{pipeline}-model"
    assert registry(server, model) == {"versions": [1], "aliases": {"champion": "1", "challenger": "1"}}
    c = MlflowClient(server.url, server.url)
    run = c.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["holdout_roc_auc"] > 0.9
    assert c.get_model_version(model, "1").run_id == result.run_id

    task_run, states = task_run_of(prefect_api, state.state_details.flow_run_id, TRACKING_TASK)
    names = [s.name for s in states]
    assert task_run.state.is_completed()
    assert task_run.run_count == 2, (task_run.run_count, names)  # two attempts, as the UI shows
    assert names.count("AwaitingRetry") == 1 and names.count("Retrying") == 1, names
    assert names[-1] == "Completed", names
    # The first retry waited the configured first delay (2 s) with jitter: Prefect clamps it to [0.63, 1.5] x 2 s.
    first_wait = next(s for s in states if s.name == "AwaitingRetry")
    delay = (first_wait.state_details.scheduled_time - first_wait.timestamp).total_seconds()
    assert 1.2 <= delay <= 3.1, delay

    # Nothing half-written looks alive: every run of the pipeline is finished or failed.
    experiment = c.get_experiment_by_name(pipeline)
    runs = {r.info.run_id: r.info.status for r in c.search_runs([experiment.experiment_id])}
    assert "RUNNING" not in runs.values(), runs


def test_a_user_error_in_the_tracking_task_fails_the_run_on_the_first_attempt(
    project: Path, remote_tracking: MlflowServer, prefect_api: str
) -> None:
    """Someone deleted the pipeline's experiment in the MLflow UI: the server refuses new runs in it. Waiting and
    retrying cannot fix that, so the run fails at once."""
    from mlflow import MlflowClient

    from flows.retrain import retrain

    server = remote_tracking
    spec = write_spec(project, "faults-b")
    c = MlflowClient(server.url, server.url)
    c.delete_experiment(c.create_experiment("faults-b"))

    state = retrain(spec, return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert "deleted" in str(error), repr(error)  # today MLflow's "... must be in the 'active' state ..."
    task_run, states = task_run_of(prefect_api, state.state_details.flow_run_id, TRACKING_TASK)
    names = [s.name for s in states]
    assert task_run.state.is_failed(), names
    assert task_run.run_count == 1, (task_run.run_count, names)
    assert "AwaitingRetry" not in names and "Retrying" not in names, names
    assert registry(server, "faults-b-model") == {"versions": [], "aliases": {}}


def test_cli_with_the_tracking_server_down_for_good_exits_1_naming_the_uri_and_the_fix(
    project: Path, isolated_home: Path, mlflow_server: MlflowServer
) -> None:
    """The user's environment as it is (MLflow's HTTP retry defaults): the command must end in bounded time."""
    mlflow_server.kill()  # nothing listens on its port now
    uri = mlflow_server.url
    env = {**os.environ, "MLOPS_HOME": str(isolated_home), "MLFLOW_TRACKING_URI": uri, "COLUMNS": "200"}
    for key in ("PREFECT_API_URL", *MLFLOW_HTTP):
        env.pop(key, None)
    write_spec(project, "faults-c")

    r = run_mlops("run", "retrain", "deployments/cancer.yaml", cwd=project, env=env, timeout=180)
    code, stdout, stderr = r.returncode, r.stdout, r.stderr

    assert code == 1, stdout[-3000:] + stderr[-3000:]
    # the pre-flight reached the store before any work, with the bounded retry it states (mlops/reach.py)
    assert "Traceback" not in stdout + stderr
    assert "tried 3 times over" in stderr, stderr[-3000:]
    message = " ".join(stderr.split())  # what the user reads: one paragraph
    assert uri in message and "MLFLOW_TRACKING_URI" in message, message
    assert "\n\n" not in stderr.strip(), stderr  # one paragraph, however the terminal wraps it
    assert "not a known user error" not in stderr
    # Nothing half-written: no embedded store as a silent fallback, and the run never reached the promotion step.
    written = {p.name for p in isolated_home.iterdir()}
    assert not written & {"mlflow.db", "mlartifacts", "locks"}, written
    mlflow_server.start()
    assert registry(mlflow_server, "faults-c-model") == {"versions": [], "aliases": {}}
