"""Shared fixtures: every test gets its own MLflow store and reports folder; nothing touches the project's .mlops."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault(
    "MLOPS_LOCAL_PREFECT", "off"
)  # never send test runs to a developer's own Prefect server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mlops-home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


def cancer_frame() -> pd.DataFrame:
    from tasks.data import builtin_frame

    return builtin_frame("breast_cancer")


SUITE = {
    "name": "cancer",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "mean_radius"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "mean_radius", "min_value": 0, "max_value": 50},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "target", "value_set": ["benign", "malignant"]},
        },
    ],
}


def spec_text(
    name: str = "cancer",
    data_path: str = "data/cancer.csv",
    suite: str | None = "expectations/cancer.json",
    on_failure: str = "fail",
    estimator: str = "sklearn.linear_model.LogisticRegression",
    params: str = "{C: 1.0, max_iter: 500}",
    extra: str = "",
) -> str:
    quality = f"quality: {{suite: {suite}, on_failure: {on_failure}}}\n" if suite else ""
    return (
        f"name: {name}\n"
        "data:\n"
        f"  source: {{kind: csv, path: {data_path}}}\n"
        "  target: target\n"
        "  split: {strategy: stratified, holdout_fraction: 0.3, seed: 3}\n"
        f"{quality}"
        "model:\n"
        "  task: classification\n"
        f"  estimator: {estimator}\n"
        f"  params: {params}\n"
        "  preprocessing: {numeric: {scale: true}}\n"
        f"registry: {{model_name: {name}-model}}\n"
        "promotion:\n"
        "  metric: roc_auc\n"
        "  min_improvement: 0.001\n"
        "  guardrails: [{metric: recall, max_drop: 0.05}]\n"
        f"{extra}"
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small self-contained project: pyproject marker, a spec, its suite and a CSV of real data."""
    root = tmp_path / "proj"
    (root / "deployments").mkdir(parents=True)
    (root / "expectations").mkdir()
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "expectations" / "cancer.json").write_text(json.dumps(SUITE))
    cancer_frame().to_csv(root / "data" / "cancer.csv", index=False)
    (root / "deployments" / "cancer.yaml").write_text(spec_text())
    return root
