"""`mlops run predict` as a user runs it: options that cannot work together exit 2 before anything runs, and a
pipeline with no champion stops with exit 1, saying how to train one, with no predictions file written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.conftest import run_mlops

pytestmark = pytest.mark.e2e
SPEC = "deployments/cancer.yaml"


@pytest.mark.parametrize(("args", "expected"), [
    ([], "give the batch to score: --batch PATH, or --start/--end"),
    (["--batch", "b.csv", "--start", "2020-01-01"], "give the batch one way: --batch PATH judges that file"),
    (["--batch", "missing.csv"], "--batch missing.csv: no such batch file"),
    (["--start", "2014-01-01", "--end", "2013-01-01"], "--start 2014-01-01 is after --end 2013-01-01"),
    (["--batch", "b.csv", "--version", "2", "--alias", "challenger"], "--version N or with --alias NAME, not both"),
    (["--batch", "b.csv", "--version", "two"], "--version 'two' is not a version number"),
    (["--batch", "b.csv", "--out", "p.csv"], "is not a Parquet file name; end it with .parquet"),
])  # fmt: skip
def test_usage_errors_exit_2_before_anything_runs(
    project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(project)
    if "--out" not in args:
        args = [*args, "--out", "p.parquet"]
    result = CliRunner().invoke(app, ["run", "predict", SPEC, *args])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.stderr.split())
    assert not (isolated_home / "mlflow.db").exists() and not (project / "p.parquet").exists()


def test_no_champion_exits_1_with_nothing_written(project: Path, isolated_home: Path) -> None:
    env = {**os.environ, "MLOPS_HOME": str(isolated_home), "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)
    r = run_mlops(
        "run", "predict", SPEC, "--batch", "data/cancer.csv", "--out", "out/p.parquet", cwd=project, env=env
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'cancer-model' has no champion yet: train one first with `mlops run retrain" in " ".join(
        r.stderr.split()
    )
    assert "Traceback" not in r.stderr
    assert not (project / "out" / "p.parquet").exists()
