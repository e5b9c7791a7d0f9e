"""Issues 15, 24, 25: the local Prefect server kept running between commands on embedded defaults, started with
`prefect server start --background` (mlops/cli/local_server.py).

Real Prefect servers, two for the module (a new database costs 10-90 s on this machine): one started by two
commands at once, then reused, answered on, seen from a copied project folder (which must leave it alone) and
stopped; one started early by a command then killed with SIGKILL, found and stopped. Every server a test
starts is stopped at the end, whatever the outcome."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.cli import local_server as ls
from tests.conftest import REPO, run_mlops, wait_until

USE = (  # what `mlops run` does: start the server early, run its checks, then wait for the server and use it
    "from mlops.cli.local_server import paths, start_early, use_server\n"
    "start_early()\n"
    "url = use_server()\n"
    "print(url, paths().pid.read_text().strip())\n"
)
EARLY_THEN_KILLED = (  # a command killed during its checks, after it started the server early
    "import time\nfrom mlops.cli.local_server import start_early\nstart_early()\ntime.sleep(600)\n"
)
SPEC = REPO / "deployments" / "diabetes.yaml"


@pytest.fixture
def kept(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """MLOPS_KEEP_SERVER on for this test (the suite has it off); the server stopped afterwards, always."""
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("PREFECT_API_URL", "")  # restored (to unset) after the test: prefect_settings sets it
    monkeypatch.setattr(ls, "_in_use", None)
    try:
        yield isolated_home
    finally:
        ls.stop_server(isolated_home)


def _cli(*args: str, home: Path) -> tuple[int, str]:
    shown = CliRunner().invoke(app, list(args), env={"COLUMNS": "300", "MLOPS_HOME": str(home)})
    assert shown.exception is None or isinstance(shown.exception, SystemExit), shown.output
    return shown.exit_code, " ".join(shown.output.split())


def _starts(p: ls.Paths) -> int:
    """How many servers were started in this state folder: one header per `prefect server start` we ran."""
    return p.log.read_text().count("--background")


def test_one_server_started_by_two_commands_reused_answered_on_left_alone_by_a_copy_and_stopped(
    kept: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "MLOPS_HOME": str(kept)}
    env.pop("PREFECT_API_URL")
    procs = [
        subprocess.Popen([sys.executable, "-c", USE], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [proc.communicate(timeout=400) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    (url_a, pid_a), (url_b, pid_b) = (o[0].split() for o in outs)
    assert (url_a, pid_a) == (url_b, pid_b)  # the second waited on the lock and found the first one's server
    p = ls.paths(kept)
    assert _starts(p) == 1 and sum("Starting a local Prefect server" in o[1] for o in outs) == 1
    assert p.pid == p.home / "server.pid"  # Prefect's own pid file, in the server's own PREFECT_HOME

    from mlops.cli.runtime import prefect_settings, prefect_where

    settings = prefect_settings()  # what `mlops run` does: the kept server, not a temporary one
    assert settings.prefect_api_url == url_a and os.environ["PREFECT_API_URL"] == url_a
    assert p.pid.read_text().strip() == pid_a and _starts(p) == 1  # reused
    where = prefect_where(settings)
    assert where.startswith(f"local server {url_a.removesuffix('/api')}") and "mlops server stop" in where

    code, said = _cli("server", "status", home=kept)
    assert code == 0 and url_a.removesuffix("/api") in said and f"pid {pid_a}" in said, said
    assert "not answering" not in said and "stale" not in said

    # no PREFECT_API_URL: the kept server is where a paused retrain would wait, and where the answer goes
    answer_env = {**env, "COLUMNS": "200", "MLOPS_LOCAL_PREFECT": "off"}
    answered = run_mlops("approve", str(SPEC), cwd=REPO, env=answer_env)
    said_approve = " ".join(answered.stderr.split())
    assert answered.returncode == 1 and "no retrain run of" in said_approve, answered.stdout + answered.stderr
    assert "set PREFECT_API_URL" not in said_approve

    # a project folder copied with its state names this live server: the copy must never stop it
    copy = tmp_path / "copied-home"
    shutil.copytree(kept, copy, symlinks=True)  # what `cp -a` does to these files
    assert (ls.paths(copy).pid).read_text().strip() == pid_a
    code, said = _cli("server", "status", home=copy)
    assert code == 0 and "stale" in said and "another folder" in said and "No local Prefect server" in said, (
        said
    )
    shutil.copy2(p.pid, ls.paths(copy).pid)  # status cleaned it; again for stop
    code, said = _cli("server", "stop", home=copy)
    assert code == 0 and "another folder" in said and "Stopped" not in said, said
    assert ls.alive(int(pid_a)) and not ls.paths(copy).pid.exists()
    assert ls.find(p).server is not None and ls.use_server(kept) == url_a  # the original still has it
    assert _starts(p) == 1

    code, said = _cli("server", "stop", home=kept)
    assert code == 0 and f"Stopped the local Prefect server (pid {pid_a}" in said, said
    assert not ls.alive(int(pid_a)) and not p.pid.exists()
    assert (p.home / "prefect.db").exists()  # the database stays: the next start is quicker
    code, said = _cli("server", "status", home=kept)
    assert code == 0 and "No local Prefect server is running" in said and "stale" not in said, said


def test_a_server_started_by_a_command_killed_with_sigkill_is_found_and_stopped(kept: Path) -> None:
    env = {**os.environ, "MLOPS_HOME": str(kept)}
    env.pop("PREFECT_API_URL")
    p = ls.paths(kept)
    command = subprocess.Popen(
        [sys.executable, "-c", EARLY_THEN_KILLED], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        pid = wait_until(lambda: ls.find(p).server, 300, what="the server's pid file").pid
    finally:
        os.killpg(command.pid, signal.SIGKILL)  # the command and anything in its group, as a kill -9 of a job
        command.wait()
    assert ls.alive(pid)  # the server outlives the command that started it ...

    code, said = _cli("server", "status", home=kept)
    assert code == 0 and f"pid {pid}" in said and "No local Prefect server" not in said, said  # ... seen ...
    code, said = _cli("server", "stop", home=kept)
    assert code == 0 and f"Stopped the local Prefect server (pid {pid}" in said, said  # ... and stopped
    assert not ls.alive(pid) and not p.pid.exists()
