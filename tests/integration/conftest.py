from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import prefect_server


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One temporary Prefect server (real API, SQLite) for every flow test of the session; yields its API URL."""
    with prefect_server(tmp_path_factory.mktemp("prefect-storage")) as api_url:
        yield api_url


# --- time windows and the retrain loop (a synthetic source with a daily time column) ------------------------------

TIMED_SPEC = """\
name: timed
data:
  source: {kind: csv, path: data/events.csv}
  target: label
  time_column: ts
  window: {start: 2023-01-01, end: 2023-07-01}
  split: {strategy: time, holdout_fraction: 0.2, seed: 1}
model:
  task: classification
  estimator: sklearn.linear_model.LogisticRegression
  params: {max_iter: 300}
registry: {model_name: timed-model}
promotion:
  metric: roc_auc
  min_improvement: 0.9     # no challenger clears this: the first champion stays, so later batches still drift
monitoring:
  drift_share_threshold: 0.3
  on_drift: ON_DRIFT
  cooldown_days: 45
  retrain_window_days: 30
"""


def timed_frame(seed: int = 0) -> pd.DataFrame:
    """A year of daily rows (12 a day). From July on, x1 and x2 move by 4 standard deviations; the labels keep
    following the unshifted values, so both classes stay present in every window."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", "2023-12-31", freq="D", tz="UTC")
    ts = days.repeat(12)
    n = len(ts)
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    label = (x1 + 0.5 * x2 + rng.normal(0, 0.5, n) > 0).astype(int)
    later = np.asarray(ts >= pd.Timestamp("2023-07-01", tz="UTC"))
    return pd.DataFrame(
        {
            "ts": ts,
            "x1": np.where(later, x1 + 4, x1),
            "x2": np.where(later, x2 + 4, x2),
            "channel": rng.choice(["web", "store", "phone"], n),
            "label": label,
        }
    )


@pytest.fixture
def timed_project(tmp_path: Path) -> Path:
    root = tmp_path / "timed"
    (root / "deployments").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'timed'\n")
    timed_frame().to_csv(root / "data" / "events.csv", index=False)
    return root


def timed_spec(root: Path, on_drift: str = "retrain", **replacements: str) -> str:
    """The timed spec in `root` with `on_drift` and each `old=new` replacement of its text; returns its path."""
    text = TIMED_SPEC.replace("ON_DRIFT", on_drift)
    for old, new in replacements.items():
        text = text.replace(old, new)
    path = root / "deployments" / "timed.yaml"
    path.write_text(text)
    return str(path)
