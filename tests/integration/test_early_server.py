"""Issue 15: the kept local Prefect server started early (mlops/cli/early_server.py), so that its start overlaps a
command's imports and pre-flight, then taken (waited for, recorded) by use_server(); a server started early that
no one took is stopped at exit. And `mlops approve`/`reject` answer on the kept server when PREFECT_API_URL is
unset. Real `prefect server start` processes; every one is stopped by the fixture, whatever the outcome."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from mlops.cli import early_server as es
from mlops.cli import local_server as ls
from tests.conftest import REPO, run_mlops

SPEC = REPO / "deployments" / "diabetes.yaml"


@pytest.fixture
def kept(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(ls, "_in_use", None)
    monkeypatch.setattr(es, "_early", None)
    try:
        yield isolated_home
    finally:
        es._abandon()
        ls.stop_server(isolated_home)


def _lock_is_free(p: ls.Paths) -> bool:
    other = FileLock(str(p.lock))  # another command's lock on the same file
    try:
        other.acquire(timeout=0)
    except Timeout:
        return False
    other.release()
    return True


def _approve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLOPS_HOME": str(home), "COLUMNS": "200", "MLOPS_LOCAL_PREFECT": "off"}
    env.pop("PREFECT_API_URL", None)
    return run_mlops(*args, cwd=REPO, env=env)


def test_a_server_started_early_is_taken_by_use_server_and_approvals_use_it(kept: Path) -> None:
    p = ls.paths(kept)
    es.start_early(kept)
    early = es.started_early(p)
    assert early is not None and ls.alive(early.proc.pid)
    assert not p.pid.exists()  # not waited for: nothing recorded until it answers
    assert not _lock_is_free(p)  # another command waits for this server instead of starting its own

    url = ls.use_server(kept)
    assert url == f"http://127.0.0.1:{early.port}/api"
    assert p.pid.read_text().strip() == str(early.proc.pid)  # the early one, recorded: no second server
    assert p.log.read_text().count("prefect server start on 127.0.0.1") == 1
    assert es.started_early(p) is None and _lock_is_free(p)
    assert ls.alive(int(p.watchdog.read_text()))
    ls.release(p)

    # no PREFECT_API_URL: the kept server is where a paused retrain would wait, and where the answer goes
    answered = _approve(kept, "approve", str(SPEC))
    assert answered.returncode == 1, answered.stdout + answered.stderr
    said = " ".join(answered.stderr.split())
    assert (
        "no retrain run of" in said and "waiting for approval" in said and "set PREFECT_API_URL" not in said
    )


def test_a_server_started_early_but_never_taken_is_stopped(kept: Path) -> None:
    p = ls.paths(kept)
    es.start_early(kept)
    early = es.started_early(p)
    assert early is not None
    es._abandon()  # what runs at exit when the command stopped before use_server() (e.g. a spec error)
    assert not ls.alive(early.proc.pid)
    assert es.started_early(p) is None and _lock_is_free(p) and not p.pid.exists()


def test_nothing_starts_early_while_another_command_holds_the_start_lock(kept: Path) -> None:
    p = ls.paths(kept)
    p.root.mkdir(parents=True)
    other = FileLock(str(p.lock))
    other.acquire(timeout=0)
    try:
        es.start_early(kept)
        assert es.started_early(p) is None and not p.log.exists()
    finally:
        other.release()


def test_approve_without_any_server_still_says_to_set_the_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    answered = _approve(home, "reject", str(SPEC))
    assert answered.returncode == 2 and "set PREFECT_API_URL" in answered.stderr
    assert not (home / "prefect-server").exists()  # never started for an answer
