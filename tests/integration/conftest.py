from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_project, prefect_server, spec_text, use_home


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory, prefect_db_template: Path) -> Iterator[str]:
    """One temporary Prefect server (real API, SQLite) for every flow test of the session; yields its API URL."""
    with prefect_server(tmp_path_factory.mktemp("prefect-storage"), prefect_db_template) as api_url:
        yield api_url


# --- MLflow stores made once and copied (MLflow's own tests do the same: tests/conftest.py::cached_db) ------------


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLOPS_HOME whose MLflow store is created (migrated) as `tasks.tracking.store.client` creates it, once per
    session and worker: a new store costs ~2.2 s of CPU in MLflow's migrations, a copy of this one ~0.1 s."""
    from tasks.tracking import store

    home = tmp_path_factory.mktemp("empty-store") / "mlops-home"
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store.client()
    return home


@pytest.fixture(autouse=True)
def migrated_store(isolated_home: Path, empty_store: Path) -> None:
    """Every integration test's MLOPS_HOME starts with a copy of the session's empty, migrated store."""
    isolated_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty_store / "mlflow.db", isolated_home / "mlflow.db")


def copy_home(source: Path, target: Path) -> None:
    """Copy the MLOPS_HOME `source` (MLflow store, artifacts, reports) to `target`, a test's own: the store's
    absolute paths (experiments' artifact locations, runs' and models' artifact URIs) are rewritten to the copy,
    so the test reads and writes its own files only. Any text column of any table, so no MLflow schema is named."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    db = target / "mlflow.db"
    if not db.exists():
        return
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for column in conn.execute(f'pragma table_info("{table}")').fetchall():
                name, kind = column[1], str(column[2]).upper()
                if "CHAR" in kind or "TEXT" in kind:
                    conn.execute(
                        f'update "{table}" set "{name}" = replace("{name}", ?, ?) where instr("{name}", ?) > 0',
                        (str(source), str(target), str(source)),
                    )
    conn.close()


def trained_home(
    factory: pytest.TempPathFactory, empty: Path, name: str, train: Callable[[Path], object]
) -> Path:
    """An MLOPS_HOME made once for a module: `train(folder)` runs with MLOPS_HOME set to a new home (its store a
    copy of `empty`, the session's `empty_store`), the working folder in `folder` so nothing is written beside the
    tests; returns that home. Tests that only judge against its models copy it (`copy_home`) into their own
    MLOPS_HOME instead of training the same model again."""
    folder = factory.mktemp(name)
    home = folder / "mlops-home"
    home.mkdir()
    shutil.copyfile(empty / "mlflow.db", home / "mlflow.db")  # the `empty_store`, migrated already
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        mp.chdir(folder)
        train(folder)
    return home


# the first champions that several modules judge batches against: the retrain reads of the spec's `monitoring:`
# section only max_sample_rows and seed (the reference sample; tests/unit/test_retrain_reads_monitoring.py holds
# it), so specs that differ elsewhere in that section (the thresholds, on_drift, on_unjudgeable, max_quality_drop,
# max_retries_per_episode) share one trained home. Its run's spec_sha256 and idempotency key are the training spec's
# (the hash covers the whole spec): a test's own retrain of its spec does not reuse that run
CANCER_ALERT = "monitoring: {drift_share_threshold: 0.3, on_drift: alert}\n"
ACCURACY_PROMOTES = {"metric: roc_auc": "metric: accuracy", "min_improvement: 0.9": "min_improvement: 0.0"}


def _cancer(folder: Path) -> str:
    """The `project` fixture's cancer spec, with its suite (tests/conftest.py::spec_text)."""
    root = make_project(folder / "proj")
    spec = root / "deployments" / "cancer.yaml"
    spec.write_text(spec_text(suite="expectations/cancer.json", extra=CANCER_ALERT))
    return str(spec)


def _timed(folder: Path, **replace: str) -> str:
    """TIMED_SPEC on the timed events, with `replace` applied to its text."""
    root = folder / "timed"
    (root / "deployments").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'timed'\n")
    timed_frame().to_csv(root / "data" / "events.csv", index=False)
    return timed_spec(root, "alert", **replace)


# the specs of the shared trained homes, by name: each writes its project into the folder and returns its spec
TRAINED_SPECS: dict[str, Callable[[Path], str]] = {
    "cancer": _cancer,
    "timed": _timed,  # min_improvement 0.9: no later challenger is promoted
    # promoted on accuracy with no margin: a drift retrain can win
    "timed-accuracy": lambda folder: _timed(folder, **ACCURACY_PROMOTES),
}


@pytest.fixture(scope="session")
def trained_homes(
    prefect_harness: str, empty_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], tuple[Path, Any]]:
    """`trained_homes(name)`: the MLOPS_HOME in which the spec `name` ("cancer", "timed", "timed-accuracy") was
    retrained once (its first champion, v1) and that retrain's result, made on first use in this worker and kept
    for the session. A test copies it (`use_trained`) instead of training the same model again."""
    made: dict[str, tuple[Path, Any]] = {}

    def get(name: str) -> tuple[Path, Any]:
        from flows.retrain import retrain

        if name not in made:
            box: list[Any] = []
            spec = TRAINED_SPECS[name]
            home = trained_home(
                tmp_path_factory, empty_store, f"trained-{name}", lambda f: box.append(retrain(spec(f)))
            )
            made[name] = home, box[0]
        return made[name]

    return get


@pytest.fixture
def use_trained(
    trained_homes: Callable[[str], tuple[Path, Any]], isolated_home: Path
) -> Callable[[str], Any]:
    """`use_trained(name)` makes this test's MLOPS_HOME a copy of the session's trained home `name` (the store,
    with champion v1, and its artifacts) and returns the result of the retrain that made it, as `retrain(spec)`
    in the test itself would have (same spec but for the monitoring thresholds, same data, same seed)."""

    def use(name: str) -> Any:
        home, result = trained_homes(name)
        copy_home(home, isolated_home)
        return result

    return use


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
