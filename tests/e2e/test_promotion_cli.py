"""Promotion from the terminal: concurrent retrains, history and rollback, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env

pytestmark = pytest.mark.e2e


def start(args: list[str], project: Path, home: Path) -> subprocess.Popen[str]:
    env = cli_env(home)
    return subprocess.Popen(
        [sys.executable, "-m", "mlops.cli", *args], cwd=project, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run(args: list[str], project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    p = start(args, project, home)
    out, err = p.communicate(timeout=600)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_two_concurrent_retrains_leave_a_consistent_registry_and_ledger(
    project: Path, isolated_home: Path
) -> None:
    isolated_home.mkdir(parents=True)
    first = run(["run", "retrain", "deployments/cancer.yaml"], project, isolated_home)  # creates the store
    assert first.returncode == 0, first.stderr
    procs = [start(["run", "retrain", "deployments/cancer.yaml"], project, isolated_home) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results

    history = run(["history", "deployments/cancer.yaml"], project, isolated_home)
    assert history.returncode == 0, history.stderr
    rows = [line for line in history.stdout.splitlines() if line.startswith("│") and "20" in line]
    assert len(rows) == 3, history.stdout
    # Each decision saw the champion the previous one left: nothing was lost in between.
    moves = [line.split("│")[4].strip() for line in rows]  # the two concurrent runs found v1 already trained
    assert moves == ["v- -> v1", "v1 -> v1", "v1 -> v1"], moves
    status = run(["status", "deployments/cancer.yaml"], project, isolated_home)
    assert "champion v1" in status.stdout and "Last decision: v1 promoted" in status.stdout  # no duplicates
    assert history.stdout.count("duplicate") == 2


def test_rollback_from_the_cli_is_recorded(project: Path, isolated_home: Path) -> None:
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text().replace("{C: 1.0, max_iter: 500}", "{C: 0.001, max_iter: 500}"))
    assert run(["run", "retrain", "deployments/cancer.yaml"], project, isolated_home).returncode == 0
    spec.write_text(
        spec.read_text()
        .replace("{C: 0.001, max_iter: 500}", "{C: 1.0, max_iter: 500}")
        .replace("max_drop: 0.05", "max_drop: 1.0")
    )
    r = run(["run", "retrain", "deployments/cancer.yaml"], project, isolated_home)
    assert r.returncode == 0 and "Decision: promoted (improved)" in r.stdout, r.stdout + r.stderr

    r = run(["rollback", "deployments/cancer.yaml"], project, isolated_home)
    assert r.returncode == 2 and "--reason" in r.stderr  # the reason is required

    r = run(
        ["rollback", "deployments/cancer.yaml", "--reason", "alerts from the call centre"],
        project,
        isolated_home,
    )
    assert r.returncode == 0 and "champion moved back from v2 to v1" in r.stdout, r.stderr
    r = run(["history", "deployments/cancer.yaml"], project, isolated_home)
    assert "rollback" in r.stdout and "alerts from the call centre" in r.stdout and "user:" in r.stdout
    r = run(
        ["rollback", "deployments/cancer.yaml", "--reason", "again", "--to", "v1"], project, isolated_home
    )
    assert r.returncode == 1 and "already the champion" in r.stderr
