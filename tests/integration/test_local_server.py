"""Issue 15: the local Prefect server kept alive between commands on embedded defaults (mlops/cli/local_server.py).

Real `prefect server start` processes, two of them for the whole module (a new database costs ~10 s here): one
started by two commands at once, then reused, shown and stopped; one started over stale files and stopped by its
idle watchdog. Every server a test starts is stopped by the fixture, whatever the test's outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.cli import local_server as ls
from tests.conftest import REPO, free_port, wait_until

USE = (
    "from mlops.cli.local_server import use_server, paths\n"
    "url = use_server()\n"
    "print(url, paths().pid.read_text().strip())\n"
)


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


def _starts(p: ls.Paths) -> int:
    """How many servers were started in this state folder: start_server writes one header per start."""
    return p.log.read_text().count("prefect server start on 127.0.0.1")


def test_two_commands_at_once_start_one_server_which_later_ones_reuse_show_and_stop(kept: Path) -> None:
    env = {**os.environ, "MLOPS_HOME": str(kept)}
    procs = [
        subprocess.Popen([sys.executable, "-c", USE], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (url_a, pid_a), (url_b, pid_b) = (o[0].split() for o in outs)
    assert (url_a, pid_a) == (url_b, pid_b)  # the second waited on the lock and found the first one's server
    p = ls.paths(kept)
    assert _starts(p) == 1
    assert sum("Starting a local Prefect server" in o[1] for o in outs) == 1
    assert not list(p.users.iterdir())  # both commands ended: nobody uses it now

    from mlops.cli.runtime import prefect_settings, prefect_where

    settings = prefect_settings()  # what `mlops run` does: the kept server, not a temporary one
    assert settings.prefect_api_url == url_a and os.environ["PREFECT_API_URL"] == url_a
    assert p.pid.read_text().strip() == pid_a and _starts(p) == 1  # reused
    assert (p.users / str(os.getpid())).exists()
    where = prefect_where(settings)
    assert where.startswith(f"local server {url_a.removesuffix('/api')}") and "mlops server stop" in where
    ls.release(p)

    runner = CliRunner()
    shown = runner.invoke(app, ["server", "status"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert url_a in shown.output and f"pid {pid_a}" in shown.output and str(p.log) in shown.output
    watchdog = int(p.watchdog.read_text())
    assert ls.alive(watchdog)

    stopped = runner.invoke(app, ["server", "stop"], env={"COLUMNS": "200"})
    assert stopped.exit_code == 0 and f"pid {pid_a}" in stopped.output, stopped.output
    assert not ls.alive(int(pid_a))
    wait_until(lambda: not ls.alive(watchdog), 10, what="the watchdog to end")
    assert not any(f.exists() for f in (p.pid, p.port, p.started, p.watchdog))
    assert p.log.exists()  # the log stays, for reading after the fact
    again = runner.invoke(app, ["server", "status"], env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "No local Prefect server is running" in again.output


def test_stale_files_are_replaced_and_the_idle_watchdog_stops_the_server(
    kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_SERVER_IDLE_MINUTES", "0.05")  # 3 s
    p = ls.paths(kept)
    p.root.mkdir(parents=True)
    # a recorded pid that now belongs to another program (alive, not a Prefect server), nothing on its port
    other = subprocess.Popen(["sleep", "120"])
    try:
        p.pid.write_text(str(other.pid))
        p.port.write_text(str(free_port()))
        url = ls.use_server()
        assert url is not None
        pid = int(p.pid.read_text())
        assert pid != other.pid and ls.alive(pid)
        assert other.poll() is None  # the stale pid's process was not ours: left alone
        assert url == f"http://127.0.0.1:{p.port.read_text().strip()}/api"

        ls.release(p)  # this command ends: the idle time starts
        wait_until(lambda: not ls.alive(pid), 90, interval=0.5, what="the idle watchdog to stop the server")
        wait_until(lambda: not p.pid.exists(), 10, what="the state files to be cleaned")
        assert not p.port.exists() and not p.watchdog.exists()
        assert ls.running(p) is None
    finally:
        other.kill()
        other.wait()


def test_a_dead_recorded_pid_is_cleaned_without_starting_when_not_asked(kept: Path) -> None:
    p = ls.paths(kept)
    p.root.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    p.pid.write_text(str(gone.pid))
    p.port.write_text(str(free_port()))
    assert ls.use_server(start=False) is None  # e.g. `mlops rollback`'s announcement: never starts one
    assert not p.pid.exists() and not p.port.exists()
