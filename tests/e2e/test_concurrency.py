"""Several pipelines at once on the embedded defaults (one SQLite MLflow store): nothing is lost or corrupted.

The three `mlops run retrain` are real processes at once, forked from the session's warm process (tests/warm.py:
their own interpreters, exit codes and output, without importing the libraries again). A retrain's exit 0 from a
process started as a user starts it: tests/e2e/test_cli.py::test_demo_flow_from_the_cli."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env
from tests.warm import Warm

pytestmark = pytest.mark.e2e


def test_different_pipelines_at_once_on_a_new_store(project: Path, isolated_home: Path, warm: Warm) -> None:
    shutil.copy(REPO / "deployments" / "diabetes.yaml", project / "deployments" / "diabetes.yaml")
    shutil.copy(REPO / "expectations" / "diabetes.json", project / "expectations" / "diabetes.json")
    env = cli_env(isolated_home)
    commands = [
        ["run", "retrain", "deployments/cancer.yaml"],
        ["run", "retrain", "deployments/diabetes.yaml"],
        ["run", "retrain", "deployments/diabetes.yaml", "--param", "alpha=1.0"],
    ]
    started = [
        warm.start(tuple(c), project, env, project.parent / f"out-{i}") for i, c in enumerate(commands)
    ]
    for done in [warm.wait(s) for s in started]:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "database is locked" not in done.stdout + done.stderr

    from tasks.tracking.champion import registry_state
    from tasks.tracking.ledger import history

    assert len(registry_state("cancer-model")) == 1
    diabetes = registry_state("diabetes-progression")
    assert sorted(v.version for v in diabetes) == ["1", "2"]
    ledger = history("diabetes-progression")
    assert [e.champion_before for e in ledger] == ["", ledger[0].champion_after]  # the second saw the first
