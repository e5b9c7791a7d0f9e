"""A command that will run a flow starts the kept local Prefect server early (mlops/cli/local_server.py: start_early),
but only once every usage and spec check has passed: a spec with an error (a missing suite file), an unknown
--param or a --start/--end on a spec without a time column is refused with exit 2 and starts nothing (it used to
start a server that kept running after the refusal). In-process, no server: the launch is recorded instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cli import local_server as ls
from tests.conftest import invoke_mlops

REFUSED = {  # what each case needs, and the command line after `mlops`
    "missing suite": ["run", "retrain", "deployments/cancer.yaml"],
    "unknown --param": ["run", "retrain", "deployments/cancer.yaml", "--param", "no_such_param=1"],
    "window without a time column": [
        "run", "retrain", "deployments/cancer.yaml", "--start", "2024-01-01", "--end", "2024-02-01",
    ],
    "monitor, missing suite": ["run", "monitor", "deployments/cancer.yaml", "--batch", "data/cancer.csv"],
    "monitor, window without a time column": [
        "run", "monitor", "deployments/cancer.yaml", "--start", "2024-01-01", "--end", "2024-02-01",
    ],
}  # fmt: skip


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kept server on (the suite has it off), and every start of it recorded instead of run."""
    started: list[str] = []

    def launch(p: ls.Paths) -> None:
        started.append(str(p.root))
        # start_early then leaves the start to use_server(), which a refused command never reaches
        raise OSError("not started in this test")

    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setattr(ls, "_launch", launch)
    monkeypatch.setattr(ls, "_early", None)
    return started


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_run_starts_no_server(
    case: str, project: Path, launches: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    if "suite" in case:
        (project / "expectations" / "cancer.json").unlink()
    done = invoke_mlops(*REFUSED[case])
    assert done.returncode == 2, done.stdout + done.stderr
    assert launches == [], f"{case}: the server was started before the refusal:\n{done.stderr}"
    assert not ls.paths().pid.exists()
