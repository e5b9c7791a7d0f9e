"""Promotion from the terminal: concurrent retrains, history and rollback, as a user runs them.

The two concurrent retrains are real processes, forked from the session's warm process (tests/warm.py: their own
interpreters, exit codes and output, without importing the libraries again); the steps around them (the first
retrain, history, status) and the rollback story run in-process (the `in_process` fixture: the same commands, exit
codes and output, without a new interpreter importing the libraries again for each). A retrain started as a user
starts it: tests/e2e/test_cli.py::test_demo_flow_from_the_cli."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.warm import Warm

pytestmark = pytest.mark.e2e


Invoke = Callable[..., subprocess.CompletedProcess[str]]


def test_two_concurrent_retrains_leave_a_consistent_registry_and_ledger(
    project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, in_process: Invoke, warm: Warm
) -> None:
    isolated_home.mkdir(parents=True)
    monkeypatch.chdir(project)
    first = in_process("run", "retrain", "deployments/cancer.yaml")  # creates the store
    assert first.returncode == 0, first.stderr
    args = ("run", "retrain", "deployments/cancer.yaml")
    started = [
        warm.start(args, project, cli_env(isolated_home), project.parent / f"out-{i}") for i in range(2)
    ]
    results = [warm.wait(s, timeout=600) for s in started]
    assert [r.returncode for r in results] == [0, 0], [r.stdout + r.stderr for r in results]

    history = in_process("history", "deployments/cancer.yaml")
    assert history.returncode == 0, history.stderr
    rows = [line for line in history.stdout.splitlines() if line.startswith("│") and "20" in line]
    assert len(rows) == 3, history.stdout
    # Each decision saw the champion the previous one left: nothing was lost in between.
    moves = [line.split("│")[4].strip() for line in rows]  # the two concurrent runs found v1 already trained
    assert moves == ["v- -> v1", "v1 -> v1", "v1 -> v1"], moves
    status = in_process("status", "deployments/cancer.yaml")
    assert "champion v1" in status.stdout and "Last decision: v1 promoted" in status.stdout  # no duplicates
    assert history.stdout.count("duplicate") == 2


def test_rollback_from_the_cli_is_recorded(
    project: Path, monkeypatch: pytest.MonkeyPatch, in_process: Invoke
) -> None:
    monkeypatch.chdir(project)
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text().replace("{C: 1.0, max_iter: 500}", "{C: 0.001, max_iter: 500}"))
    assert in_process("run", "retrain", "deployments/cancer.yaml").returncode == 0
    spec.write_text(
        spec.read_text()
        .replace("{C: 0.001, max_iter: 500}", "{C: 1.0, max_iter: 500}")
        .replace("max_drop: 0.05", "max_drop: 1.0")
    )
    r = in_process("run", "retrain", "deployments/cancer.yaml")
    assert r.returncode == 0 and "Decision: promoted (improved)" in r.stdout, r.stdout + r.stderr

    r = in_process("rollback", "deployments/cancer.yaml")
    assert r.returncode == 2 and "--reason" in r.stderr  # the reason is required

    r = in_process("rollback", "deployments/cancer.yaml", "--reason", "alerts from the call centre")
    assert r.returncode == 0 and "champion moved back from v2 to v1" in r.stdout, r.stderr
    r = in_process("history", "deployments/cancer.yaml")
    assert "rollback" in r.stdout and "alerts from the call centre" in r.stdout and "user:" in r.stdout
    r = in_process("rollback", "deployments/cancer.yaml", "--reason", "again", "--to", "v1")
    assert r.returncode == 1 and "already the champion" in r.stderr
