"""`mlops run predict` as a user runs it: options that cannot work together exit 2 before anything runs, and a
pipeline with no champion stops with exit 1, saying how to train one, with no predictions file written."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app

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


def test_no_champion_exits_1_with_nothing_written(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    monkeypatch.chdir(project)
    r = in_process("run", "predict", SPEC, "--batch", "data/cancer.csv", "--out", "out/p.parquet")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'cancer-model' has no champion yet: train one first with `mlops run retrain" in " ".join(
        r.stderr.split()
    )
    assert "Traceback" not in r.stderr
    assert not (project / "out" / "p.parquet").exists()


def _nothing_left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("batch", "out", "expected"),
    [
        ("data/cancer.parquet", "data/cancer.parquet", "--out data/cancer.parquet is a file this run reads"),
        ("data/cancer.parquet", "./data/../data/cancer.parquet", "is a file this run reads"),
        ("data/*.parquet", "data/cancer.parquet", "is a file this run reads"),
        (
            "data/*.parquet",
            "data/new.parquet",
            "matches 'data/*.parquet', which this run reads its data from",
        ),
        ("data/*.csv", "data/p.parquet", "the rejects file data/p.rejects.csv matches 'data/*.csv'"),
        ("data/cancer.parquet", "deployments/cancer.parquet/p.parquet", "which is a regular file"),
        ("data/cancer.parquet", "data/cancer.csv/p.parquet", "which is a regular file, not a folder"),
        ("data/cancer.parquet", "/proc/x.parquet", "the folder /proc does not take new files"),
        ("data/cancer.parquet", "out/p.parquet", "the rejects file out/p.rejects.csv is a folder"),
    ],
)
def test_an_output_that_is_an_input_or_cannot_be_written_exits_2_with_nothing_touched(
    project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, batch: str, out: str, expected: str
) -> None:
    """`--out X.parquet` equal to the batch replaced it with the predictions (exit 0); a rejects path that is a
    folder gave a traceback and left a temporary part. Now: exit 2 before anything runs, the input untouched."""
    monkeypatch.chdir(project)
    frame = pd.read_csv(project / "data" / "cancer.csv")
    frame.to_parquet(project / "data" / "cancer.parquet")
    (project / "deployments" / "cancer.parquet").write_text("a file where a folder would be")
    (project / "out" / "p.rejects.csv").mkdir(parents=True)
    before = {p: p.read_bytes() for p in (project / "data").iterdir()}

    result = CliRunner().invoke(app, ["run", "predict", SPEC, "--batch", batch, "--out", out])

    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in (project / "data").iterdir()} == before
    assert not (project / "out" / "p.parquet").exists() and _nothing_left(project) == []
    assert not (isolated_home / "mlflow.db").exists()  # nothing ran


def test_the_spec_and_the_suite_are_inputs_too(
    project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    spec = (project / SPEC).read_bytes()
    (project / "deployments" / "x.parquet").symlink_to(project / SPEC)
    result = CliRunner().invoke(
        app, ["run", "predict", SPEC, "--batch", "data/cancer.csv", "--out", "deployments/x.parquet"]
    )
    assert result.exit_code == 2, result.output
    assert "is a file this run reads" in " ".join(result.stderr.split())
    assert (project / SPEC).read_bytes() == spec
