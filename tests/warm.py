"""Real `mlops` processes forked from one warm interpreter, for the e2e tests whose point is a process of its own
(its exit code, its own stdout and stderr, several at once on one store, a SIGKILL) but not its start-up.

A fresh `python -m mlops.cli` spends 15-20 s CPU on this machine importing Prefect, MLflow, GX, scikit-learn and
Evidently before its first line of work. The warm process (ZYGOTE) imports them once; each command is a child
forked from it (os.fork) that takes the case's folder, environment, argv and output files, runs in a session of
its own (as `run_mlops`'s start_new_session) and ends as an interpreter ends (atexit handlers, a traceback and
exit 1 for an uncaught error); the test reads its wait status. Several children may run at once: `start` them all,
then `wait` for each.

What a child does not do is start: its libraries were imported under the warm process's environment. Prefect reads
its settings at import, so the warm process is given the session's PREFECT_API_URL (tests/e2e/conftest.py); the
CLI's runs set Prefect's API URL from the child's own environment (mlops/cli/runtime.py) all the same. The tests of
start-up itself run `python -m mlops.cli` (tests/conftest.py::run_mlops); each module using this names its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What a retrain, a monitor and a replay import on their way (listed from sys.modules after a run): a new store's
# migrations, skops, the metrics and splits, the libraries MLflow's logging reaches, Evidently for the drift report.
PRELOAD = """
import mlops.cli, flows.retrain, flows.monitor, flows.replay, tasks.steps, tasks.tracking.registry, tasks.quality
import tasks.drift
import mlflow, mlflow.sklearn, great_expectations, sklearn.linear_model, sklearn.pipeline, sklearn.preprocessing
import sklearn.metrics, sklearn.model_selection, sklearn.compose, sklearn.impute, scipy.stats, skops.io
import alembic.command, alembic.config, mlflow.store.tracking.sqlalchemy_store, mlflow.store.model_registry.sqlalchemy_store
import git, dask, graphviz, filelock, narwhals, anyio._backends._asyncio
import evidently, evidently.presets, evidently.metrics
"""

# Imports PRELOAD, then answers requests on stdin (JSON lines): {"op": "start", cwd, env, argv, stdout, stderr, code}
# forks a child and answers its pid; {"op": "wait", pid, timeout} answers the child's wait status (after a SIGKILL of
# its session when the timeout passed). The forked child leaves the loop and runs `code` as the main module. Only
# the children run commands: this process starts no client and no thread of its own.
ZYGOTE = """
import json, os, signal, sys, time
exec(sys.argv[1])
print("ready", flush=True)
request = None
for line in sys.stdin:
    message = json.loads(line)
    if message["op"] == "start":
        pid = os.fork()
        if pid == 0:
            request = message
            break
        print(json.dumps({"pid": pid}), flush=True)
    else:
        pid, deadline, timed_out = message["pid"], time.monotonic() + message["timeout"], False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.05)
        print(json.dumps({"status": status, "timed_out": timed_out}), flush=True)
if request is None:
    sys.exit(0)  # stdin closed: the warm process ends
os.setsid()
os.chdir(request["cwd"])
os.environ.clear()
os.environ.update(request["env"])
sys.argv = ["mlops", *request["argv"]]
devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(devnull, 0)
for fd, name in ((1, "stdout"), (2, "stderr")):
    os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
del line, message, request["env"]
ARGS = request["argv"]
exec(request["code"])
"""

# `python -m mlops.cli ARGS`, in the child
CLI = "from mlops.cli.main import app\nsys.exit(app(ARGS, prog_name='mlops'))\n"


@dataclass
class Started:
    """A forked child that is running: its pid, argv and output files."""

    pid: int
    argv: tuple[str, ...]
    stdout: Path
    stderr: Path


class Warm:
    """The warm process: `run` (or `start` then `wait`) forks a child of it for one command."""

    def __init__(self, api: str) -> None:
        self.env = {"PREFECT_API_URL": api, "COLUMNS": "200"}  # Prefect reads its settings at import
        self.proc: subprocess.Popen[str] | None = None

    def _spawn(self) -> subprocess.Popen[str]:
        env = {**os.environ, **self.env}
        env.pop("MLFLOW_TRACKING_URI", None)
        proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, PRELOAD], cwd=REPO, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "ready", f"the warm process did not start (exit {proc.poll()})"
        return proc

    def _ask(self, message: dict[str, object]) -> dict[str, object]:
        """One request, one answer. Interrupted (a test's timeout), the answer would reach the next request: the
        warm process is ended then, and the next request starts another."""
        if self.proc is None:
            self.proc = self._spawn()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
        except BaseException:
            proc, self.proc = self.proc, None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise
        assert answer, f"the warm process died (exit {self.proc.poll()})"
        return dict(json.loads(answer))

    def start(
        self, argv: tuple[str, ...], cwd: Path, env: dict[str, str], out: Path, code: str = CLI
    ) -> Started:
        """Fork a child running `code` (default: the CLI on `argv`) in `cwd` with exactly `env`; its stdout and
        stderr go to files in the folder `out` (created)."""
        out.mkdir(parents=True, exist_ok=True)
        stdout, stderr = out / "stdout.txt", out / "stderr.txt"
        answer = self._ask({"op": "start", "cwd": str(cwd), "env": env, "argv": list(argv), "code": code,
                            "stdout": str(stdout), "stderr": str(stderr)})  # fmt: skip
        return Started(int(str(answer["pid"])), argv, stdout, stderr)

    def wait(self, started: Started, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """How the child ended: its exit code (-N for signal N), stdout and stderr. Past `timeout` its session is
        SIGKILLed and the test fails with its stderr's tail."""
        try:
            answer = self._ask({"op": "wait", "pid": started.pid, "timeout": timeout})
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started.pid, signal.SIGKILL)  # its own session: the command and what it started
            raise
        status = int(str(answer["status"]))
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        done = subprocess.CompletedProcess(
            started.argv, code, started.stdout.read_text(), started.stderr.read_text()
        )
        if answer["timed_out"]:
            import pytest

            pytest.fail(
                f"`mlops {' '.join(started.argv)}` still running after {timeout:g} s:\n{done.stderr[-3000:]}"
            )
        return done

    def run(
        self, argv: tuple[str, ...], cwd: Path, env: dict[str, str], out: Path, code: str = CLI,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return self.wait(self.start(argv, cwd, env, out, code), timeout)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
