"""Several pipelines at once on the embedded defaults (one SQLite MLflow store): nothing is lost or corrupted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env

pytestmark = pytest.mark.e2e


def test_different_pipelines_at_once_on_a_new_store(project: Path, isolated_home: Path) -> None:
    shutil.copy(REPO / "deployments" / "diabetes.yaml", project / "deployments" / "diabetes.yaml")
    shutil.copy(REPO / "expectations" / "diabetes.json", project / "expectations" / "diabetes.json")
    env = cli_env(isolated_home)
    commands = [
        ["run", "retrain", "deployments/cancer.yaml"],
        ["run", "retrain", "deployments/diabetes.yaml"],
        ["run", "retrain", "deployments/diabetes.yaml", "--param", "alpha=1.0"],
    ]
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlops.cli", *c], cwd=project, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]  # fmt: skip
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out + err
        assert "database is locked" not in out + err

    from tasks.tracking.champion import registry_state
    from tasks.tracking.ledger import history

    assert len(registry_state("cancer-model")) == 1
    diabetes = registry_state("diabetes-progression")
    assert sorted(v.version for v in diabetes) == ["1", "2"]
    ledger = history("diabetes-progression")
    assert [e.champion_before for e in ledger] == ["", ledger[0].champion_after]  # the second saw the first
