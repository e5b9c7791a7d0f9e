"""`mlops run monitor` as a user runs it: a subprocess, real embedded Prefect, MLflow, GX and Evidently.

Exit codes: 0 no drift, 3 an alert (drift, a quality drop, a feature the monitor cannot judge), 1 the pipeline
stopped (no champion), 2 a usage error. The drifted batch's alert runs in a process of its own, forked from the
session's warm process (tests/warm.py: its exit code and output as a subprocess's, without importing the libraries
again; a monitor started as a user starts it, killed in its read: tests/e2e/test_postgres_pipeline.py); the other
steps run in-process (the `in_process` fixture: the same command, exit code and output without importing GX, Evidently
and MLflow again for each, 130-180 s for the seven subprocesses before)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cancer_frame, cli_env
from tests.warm import Warm

pytestmark = pytest.mark.e2e
SPEC = "deployments/cancer.yaml"


def drifted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    numeric = [c for c in out.columns if c != "target"]
    out[numeric] = out[numeric] + 5 * out[numeric].std()
    return out


def test_monitor_exit_codes_from_the_cli(
    project: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
    warm: Warm,
) -> None:
    """Usage error (2), no champion (1), a clean batch (0), a drifted batch (3), a broken feed and a quality drop
    under any drift share (3, issue 23), in the order a user meets them."""
    batches = project / "batches"
    batches.mkdir()
    cancer_frame().to_csv(batches / "clean.csv", index=False)
    drifted(cancer_frame()).to_csv(batches / "drifted.csv", index=False)
    cancer_frame().assign(mean_texture=float("nan")).to_csv(batches / "empty-feature.csv", index=False)
    frame = cancer_frame()
    large = frame["mean_radius"] > frame["mean_radius"].median()
    swapped = frame["target"].map({"benign": "malignant", "malignant": "benign"})
    frame.assign(target=frame["target"].where(~large, swapped)).to_csv(batches / "flipped.csv", index=False)
    monkeypatch.chdir(project)

    r = in_process("run", "monitor", SPEC)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--batch" in r.stderr and "--start" in r.stderr, r.stderr
    assert not (isolated_home / "mlflow.db").exists()

    r = in_process("run", "monitor", SPEC, "--batch", "batches/clean.csv")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"mlops run retrain {SPEC}" in r.stderr and "no champion" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr

    r = in_process("run", "retrain", SPEC)
    assert r.returncode == 0 and "champion is v1" in r.stdout, r.stdout + r.stderr

    r = in_process("run", "monitor", SPEC, "--batch", "batches/clean.csv")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Champion judged: cancer-model v1" in r.stdout and "Verdict: no drift" in r.stdout, r.stdout
    assert "MLflow monitor run: http" in r.stdout

    args = ("run", "monitor", SPEC, "--batch", "batches/drifted.csv")
    r = warm.run(args, project, cli_env(isolated_home), project.parent / "drifted")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Verdict: drift" in r.stdout and "action: alert" in r.stdout, r.stdout
    assert "drifted (" in r.stdout  # the drifted columns are listed with their method and score
    report = next(
        line.split(":", 1)[1].strip()
        for line in r.stdout.splitlines()
        if line.startswith("Evidently report:")
    )
    assert Path(report).is_file() and "<html" in Path(report).read_text(encoding="utf-8").lower()
    assert "MLflow monitor run: http" in r.stdout

    # 1 feature of 30 is under the 0.3 share: a broken feed alerts on its own (it exited 0)
    r = in_process("run", "monitor", SPEC, "--batch", "batches/empty-feature.csv")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Verdict: unjudgeable features, action: alert" in r.stdout, r.stdout
    assert "mean_texture (all null in the batch)" in r.stdout

    # no max_quality_drop in the spec: the champion's own floor judges the labelled batch (it exited 0)
    r = in_process("run", "monitor", SPEC, "--batch", "batches/flipped.csv")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Verdict: quality drop, action: alert" in r.stdout, r.stdout
    assert "on 569 labelled rows; the champion scores at least" in r.stdout
