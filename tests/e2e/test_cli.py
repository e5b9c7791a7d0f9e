"""The `mlops` command as a user runs it: a subprocess, real embedded Prefect and MLflow, exit codes and messages.

The refusals of a spec (exit 2 before anything runs) are checked in-process (`invoke_mlops`: the same command,
exit code and message without a new interpreter importing the libraries again, ~5-20 s a command here); a real
process refusing the same way is tests/e2e/test_bad_input_corpus.py::test_a_real_process_refuses_the_same_way."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli_env, invoke_mlops, run_mlops
from tests.warm import Warm

pytestmark = pytest.mark.e2e


def mlops(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return run_mlops(*args, cwd=cwd, env=cli_env(home), timeout=600)


def test_help_answers_every_command(tmp_path: Path) -> None:
    r = mlops("--help", cwd=tmp_path, home=tmp_path)
    assert r.returncode == 0
    for command in ("validate", "schema", "run", "status"):
        assert command in r.stdout
    r = mlops("run", "retrain", "--help", cwd=tmp_path, home=tmp_path)
    assert r.returncode == 0 and "Exits 0 when the run finished" in r.stdout


def test_misspelled_field_exits_2_naming_field_path_and_closest_name(
    project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text().replace("min_improvement:", "min_improvment:"))
    monkeypatch.chdir(project)
    for command in (["validate", "deployments"], ["run", "retrain", "deployments/cancer.yaml"]):
        r = invoke_mlops(*command)
        assert r.returncode == 2, r.stderr
        assert "promotion.min_improvment: unknown field; did you mean 'min_improvement'?" in r.stderr
    assert not (isolated_home / "mlflow.db").exists()  # nothing was written


@pytest.mark.parametrize(("change", "expected"), [
    (lambda p: (p / "data" / "cancer.csv").unlink(), "data.source.path: no data file matches"),
    (lambda p: (p / "data" / "cancer.csv").write_text(""), "is empty"),
    (lambda p: (p / "data" / "cancer.csv").write_text("target,mean_radius\n"), "the data has no rows"),
    (lambda p: _edit(p, "target: target", "target: diagnosis"), "data.target: column 'diagnosis' is not in the data"),
    (lambda p: _edit(p, "sklearn.linear_model.LogisticRegression", "subprocess.Popen"),
     "model.estimator: 'subprocess.Popen' is not an allowed estimator"),
    (lambda p: _edit(p, "{C: 1.0, max_iter: 500}", "{C: 1.0, max_iters: 500}"),
     "model.params.max_iters: not a parameter of LogisticRegression; did you mean 'max_iter'?"),
    (lambda p: (p / "expectations" / "cancer.json").write_text("{oops"), "not valid JSON"),
])  # fmt: skip
def test_spec_and_reference_errors_exit_2(
    project: Path, monkeypatch: pytest.MonkeyPatch, change, expected: str
) -> None:
    change(project)
    monkeypatch.chdir(project)
    r = invoke_mlops("validate")
    assert r.returncode == 2 and expected in r.stderr, r.stderr


def _edit(project: Path, old: str, new: str) -> None:
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text().replace(old, new))


def test_demo_flow_from_the_cli(
    project: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """Train, retrain (compared and rejected), a broken batch (exit 1, registry unchanged), then status. The first
    retrain is a real process; the steps after it run in-process (`in_process`: the same commands, exit codes and
    output without importing the libraries again for each). Real processes still show exit 1
    (test_one_class_target_stops_with_exit_1, forked; tests/e2e/test_no_traceback.py, started as a user starts it)
    and status's exit 0 (test_status_before_any_training)."""
    r = mlops("run", "retrain", "deployments/cancer.yaml", cwd=project, home=isolated_home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Decision: promoted (first-model)" in r.stdout and "champion is v1" in r.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in r.stdout

    monkeypatch.chdir(project)
    r = in_process("run", "retrain", "deployments/cancer.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Decision: rejected (not-improved)" in r.stdout and "not enough improvement: roc_auc" in r.stdout
    assert "nothing new registered: this spec, data and code were already trained as v1" in r.stdout

    _edit(project, "max_iter: 500", "max_iter: 501")
    r = in_process("run", "retrain", "deployments/cancer.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Decision: rejected (not-improved)" in r.stdout
    assert "champion (v1)" in r.stdout and "challenger (v2)" in r.stdout

    csv = project / "data" / "cancer.csv"
    shutil.copy(csv, csv.with_suffix(".bak"))
    frame = pd.read_csv(csv)
    frame.loc[:29, "mean_radius"] = 999.0
    frame.to_csv(csv, index=False)
    r = in_process("run", "retrain", "deployments/cancer.yaml")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED 1 of 3 expectations" in r.stderr
    assert "expect_column_values_to_be_between on 'mean_radius': 30 unexpected rows" in r.stderr

    r = in_process("status", "deployments/cancer.yaml")
    assert r.returncode == 0, r.stderr
    assert "champion v1" in r.stdout and "Last decision: v2 rejected (not-improved)" in r.stdout
    assert "3" not in [line.split()[0] for line in r.stdout.splitlines() if line.strip()[:1].isdigit()]


def test_status_before_any_training(project: Path, isolated_home: Path) -> None:
    r = mlops("status", "deployments/cancer.yaml", cwd=project, home=isolated_home)
    assert r.returncode == 0 and "No versions of 'cancer-model' yet" in r.stdout


def test_one_class_target_stops_with_exit_1(project: Path, isolated_home: Path, warm: Warm) -> None:
    """A process of its own forked from the session's warm process (tests/warm.py: its exit code and stderr as a
    subprocess's, without importing the libraries again); exit 1 from a process started as a user starts it:
    tests/e2e/test_no_traceback.py and tests/e2e/test_security.py::test_a_prefect_password_is_never_printed."""
    csv = project / "data" / "cancer.csv"
    frame = pd.read_csv(csv)
    frame["target"] = "benign"
    frame.to_csv(csv, index=False)
    args = ("run", "retrain", "deployments/cancer.yaml")
    r = warm.run(args, project, cli_env(isolated_home), project.parent / "one-class")
    assert r.returncode == 1 and "has a single class ('benign')" in r.stderr, r.stderr
