"""The same rows read in another order are the same data (issue 26): a DuckDB table rewritten in another order, a
query with ORDER BY random(), a CSV with its rows shuffled and a Parquet folder read in another file order give
the same data identity (the retrain's idempotency key, the lineage digest, predict's batch fingerprint) and train
the same split and the same model. A database returns a plain read's rows in an order of its own (PostgreSQL's
synchronized scans, DuckDB's parallel joins); before, each of these hashed and trained the rows as they came."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_duckdb_table
from tests.integration.test_parquet_dataset import SPEC as FILE_SPEC
from tests.integration.test_parquet_dataset import SUITE, _frame, _project

pytestmark = pytest.mark.integration

# a random split and a model that takes rows by position (early stopping draws its validation rows by position)
SPEC = """name: trips
data:
  source: {kind: sql, url_env: TRIPS_DB_URL, SOURCE}
  target: late
  time_column: ts
  features: {numeric: [distance, temp], categorical: [carrier]}
  split: {strategy: random, holdout_fraction: 0.25, seed: 7}
quality: {suite: expectations/trips.json, on_failure: fail}
model:
  task: classification
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
  params: {max_iter: 40, early_stopping: true, validation_fraction: 0.3, n_iter_no_change: 3}
registry: {model_name: trips-order}
promotion: {metric: roc_auc, min_improvement: 0.001}
"""


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def _spec(tmp_path: Path, source: str) -> Path:
    root = _project(tmp_path, "unused")
    (root / "deployments" / "trips.yaml").write_text(SPEC.replace("SOURCE", source))
    assert SUITE  # the suite _project wrote (the gate runs on the rows in content order)
    return root


def _write_table(root: Path, frame: pd.DataFrame) -> None:
    """The table `trips` in data/trips.duckdb, (re)written with the rows in the frame's order."""
    write_duckdb_table(root / "data" / "trips.duckdb", "trips", frame)


@pytest.fixture
def trips_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    """A project reading the DuckDB table `trips` (1,600 rows, written in the frame's order): its root and rows."""
    frame = _frame(1600)
    root = _spec(tmp_path, "table: trips")
    monkeypatch.setenv("TRIPS_DB_URL", "duckdb:///data/trips.duckdb")
    _write_table(root, frame)
    return root, frame


def _identity_and_model(loaded: object, frame: pd.DataFrame) -> tuple[str, str, pd.DataFrame, np.ndarray]:
    """What a retrain derives from a read: the data hash, the batch fingerprint, the holdout, the fitted model's
    holdout scores."""
    from tasks import train
    from tasks.data import identify, spec_columns, split
    from tasks.data.stream import fingerprint

    spec = loaded.spec  # type: ignore[attr-defined]
    identity = identify(frame, spec.data.time_column)
    parts = split(frame, loaded, identity.order)  # type: ignore[arg-type]
    fitted = train.train(parts, spec.model, spec.data.target, spec.data.split.seed)
    scores = fitted.model.predict_proba(parts.holdout[parts.features.all])[:, 1]
    return identity.sha256, fingerprint(frame, spec_columns(loaded)), parts.holdout, scores


def test_a_table_rewritten_in_another_order_is_the_same_data_split_and_model(
    trips_table: tuple[Path, pd.DataFrame],
) -> None:
    from mlops.spec import load_spec
    from tasks.data import load

    root, frame = trips_table
    loaded = load_spec(root / "deployments" / "trips.yaml")
    first = load(loaded)
    _write_table(root, _shuffled(frame, 1))  # the same rows, another order on disk
    second = load(loaded)
    assert not first.equals(second)  # the read order did change

    sha1, fp1, holdout1, scores1 = _identity_and_model(loaded, first)
    sha2, fp2, holdout2, scores2 = _identity_and_model(loaded, second)
    assert sha1 == sha2  # the idempotency key's data hash and the lineage digest
    assert fp1 == fp2  # predict's batch fingerprint, which the monitor looks up
    pd.testing.assert_frame_equal(holdout1.reset_index(drop=True), holdout2.reset_index(drop=True))
    np.testing.assert_array_equal(scores1, scores2)  # the same model

    # a chunked read (predict's) in a third order names the same batch
    from tasks.data import spec_columns
    from tasks.data.stream import Fingerprint

    fp = Fingerprint(spec_columns(loaded))
    third = _shuffled(first, 2)
    for start in range(0, len(third), 500):
        fp.add(third.iloc[start : start + 500])
    assert fp.hexdigest() == fp1

    # other rows are other data: one value changed, or a row dropped
    changed = first.copy()
    changed.loc[0, "distance"] += 1
    assert _identity_and_model(loaded, changed)[0] != sha1
    assert _identity_and_model(loaded, first.iloc[1:])[1] != fp1


def test_a_query_ordered_at_random_is_the_same_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.spec import load_spec
    from tasks.data import load

    frame = _frame(1600)
    root = _spec(tmp_path, "query: \"SELECT * FROM read_parquet('data/trips.parquet') ORDER BY random()\"")
    frame.to_parquet(root / "data" / "trips.parquet", index=False)
    monkeypatch.setenv("TRIPS_DB_URL", "duckdb:///:memory:")
    loaded = load_spec(root / "deployments" / "trips.yaml")

    first, second = load(loaded), load(loaded)
    assert not first.equals(second)
    one, two = _identity_and_model(loaded, first), _identity_and_model(loaded, second)
    assert one[:2] == two[:2]
    np.testing.assert_array_equal(one[3], two[3])


def test_file_sources_in_another_order_are_the_same_data(tmp_path: Path) -> None:
    """A CSV with its rows shuffled; a Parquet folder whose files are named (so listed and read) in another order."""
    from mlops.spec import load_spec
    from tasks.data import frame_sha256, load

    frame = _frame(1200)
    hashes = []
    for i, rows in enumerate((frame, _shuffled(frame, 3))):
        root = _project(tmp_path / f"csv{i}", "data/trips.csv")
        spec = FILE_SPEC.format(path="data/trips.csv").replace("kind: parquet", "kind: csv")
        (root / "deployments" / "trips.yaml").write_text(spec)
        rows.to_csv(root / "data" / "trips.csv", index=False)
        hashes.append(frame_sha256(load(load_spec(root / "deployments" / "trips.yaml"))))
    assert hashes[0] == hashes[1]

    folders = []
    for i, names in enumerate((("a", "b", "c"), ("c", "b", "a"))):
        root = _project(tmp_path / f"pq{i}", "data/trips")
        folder = root / "data" / "trips"
        folder.mkdir()
        for name, part in zip(names, np.array_split(np.arange(len(frame)), 3), strict=True):
            frame.iloc[part].to_parquet(folder / f"{name}.parquet", index=False)
        folders.append(load(load_spec(root / "deployments" / "trips.yaml")))
    assert not folders[0].equals(folders[1])
    assert frame_sha256(folders[0]) == frame_sha256(folders[1])


@pytest.mark.usefixtures("prefect_harness")
def test_a_retrain_on_the_same_rows_in_another_order_registers_nothing_new(
    trips_table: tuple[Path, pd.DataFrame],
) -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.settings import get_settings

    root, frame = trips_table
    spec = str(root / "deployments" / "trips.yaml")
    trained = retrain(spec)
    _write_table(root, _shuffled(frame, 5))

    again = retrain(spec)  # the same rows in another order: the same key, the finished run reused

    assert again.reused_run and again.run_id == trained.run_id
    assert again.duplicate_of == trained.version
    client = MlflowClient(get_settings().tracking_uri)
    assert len(client.search_model_versions("name='trips-order'")) == 1
