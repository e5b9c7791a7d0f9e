"""A Parquet source may be a folder of files or a hive-partitioned dataset; a window and the spec's columns are
pushed down into the read (pyarrow.dataset filter and projection)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

SPEC = """name: trips
data:
  source: {{kind: parquet, path: {path}}}
  target: late
  time_column: ts
  features: {{numeric: [distance, temp], categorical: [carrier]}}
  split: {{strategy: time, holdout_fraction: 0.2, seed: 7}}
quality: {{suite: expectations/trips.json, on_failure: fail}}
model:
  task: classification
  estimator: sklearn.linear_model.LogisticRegression
  params: {{max_iter: 300}}
registry: {{model_name: trips-model}}
promotion: {{metric: roc_auc, min_improvement: 0.001}}
"""
SUITE = {
    "name": "trips",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "distance"}},
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "origin", "value_set": ["A", "B"]},
        },
    ],
}


def _frame(rows: int = 2400) -> pd.DataFrame:
    """Deterministic trips over 2013-01..2014-12 (UTC hours), with columns the spec does not need."""
    rng = np.random.default_rng(3)
    ts = pd.date_range("2013-01-01", "2014-12-31 23:00", periods=rows, tz="UTC")
    distance = rng.uniform(100, 2000, rows)
    return pd.DataFrame(
        {
            "ts": ts,
            "distance": distance,
            "temp": rng.normal(15, 8, rows),
            "carrier": rng.choice(["AA", "UA", "DL"], rows),
            "origin": rng.choice(["A", "B"], rows),
            "notes": [f"free text {i}" for i in range(rows)],  # never needed: must not be read
            "late": (distance + rng.normal(0, 400, rows) > 1100).astype("int64"),
        }
    )


def _project(tmp_path: Path, source: str) -> Path:
    root = tmp_path / "proj"
    for sub in ("deployments", "expectations", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "expectations" / "trips.json").write_text(json.dumps(SUITE))
    (root / "deployments" / "trips.yaml").write_text(SPEC.format(path=source))
    return root


def _hive(root: Path, frame: pd.DataFrame) -> Path:
    """data/trips/year=YYYY/month=M/part-0.parquet, one file per month."""
    folder = root / "data" / "trips"
    parts = frame.assign(year=frame["ts"].dt.year, month=frame["ts"].dt.month)
    for (year, month), part in parts.groupby(["year", "month"]):
        out = folder / f"year={year}" / f"month={month}"
        out.mkdir(parents=True)
        part.drop(columns=["year", "month"]).to_parquet(out / "part-0.parquet", index=False)
    return folder


def test_a_window_of_a_hive_dataset_reads_only_its_rows_and_the_needed_columns(tmp_path: Path) -> None:
    from mlops.spec import load_spec
    from tasks.data import load_batch

    frame = _frame()
    root = _project(tmp_path, "data/trips")
    _hive(root, frame)
    loaded = load_spec(root / "deployments" / "trips.yaml")

    july = load_batch(loaded, start="2013-07-01", end="2013-08-01")

    expected = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")]
    assert len(expected) > 50
    # the features, target, time column and the suite's columns; not `notes`, nor the partition keys
    assert list(july.columns) == ["ts", "distance", "temp", "carrier", "origin", "late"]
    pd.testing.assert_frame_equal(
        july.sort_values("ts").reset_index(drop=True),
        expected[list(july.columns)].reset_index(drop=True),
        check_dtype=False,
    )


def test_the_window_is_a_filter_of_the_read_itself(tmp_path: Path) -> None:
    """The filter goes to pyarrow: the month files outside the window give no fragment to read."""
    import pyarrow.dataset as ds

    from tasks.data.dataset import window_filter

    root = _project(tmp_path, "data/trips")
    folder = _hive(root, _frame())
    dataset = ds.dataset(folder, format="parquet", partitioning="hive")
    where = window_filter(dataset.schema, "ts", "2013-07-01", "2013-08-01")
    assert where is not None
    rows = sum(f.count_rows(filter=where) for f in dataset.get_fragments())
    kept = [f for f in dataset.get_fragments() for rg in f.split_by_row_group(filter=where)]
    assert rows == len(dataset.to_table(filter=where)) and len(kept) == 1  # one month file out of 24


def test_a_folder_of_files_trains_and_validates(tmp_path: Path) -> None:
    from mlops.cli import app
    from mlops.spec import load_spec
    from tasks.data import load

    frame = _frame()
    root = _project(tmp_path, "data/trips")
    folder = root / "data" / "trips"
    folder.mkdir()
    for i, part in enumerate(np.array_split(frame, 3)):
        part.to_parquet(folder / f"part-{i}.parquet", index=False)
    loaded = load_spec(root / "deployments" / "trips.yaml")

    whole = load(loaded)
    assert len(whole) == len(frame) and "notes" not in whole.columns

    ok = CliRunner().invoke(app, ["validate", str(root / "deployments" / "trips.yaml")])
    assert ok.exit_code == 0, ok.output

    (root / "deployments" / "trips.yaml").write_text(
        SPEC.format(path="data/trips").replace("numeric: [distance, temp]", "numeric: [distance, tmp]")
    )
    bad = CliRunner().invoke(app, ["validate", str(root / "deployments" / "trips.yaml")])
    assert bad.exit_code == 2 and "tmp" in bad.output, bad.output


def test_an_empty_folder_is_named(tmp_path: Path) -> None:
    from mlops.cli import app

    root = _project(tmp_path, "data/trips")
    (root / "data" / "trips").mkdir()
    result = CliRunner().invoke(app, ["validate", str(root / "deployments" / "trips.yaml")])
    assert result.exit_code == 2 and "holds no Parquet file" in result.output, result.output


@pytest.mark.parametrize("window", [("2013-07-01", "2013-08-01"), ("2013-07-01T06:00", None)])
def test_a_single_file_reads_as_before(tmp_path: Path, window: tuple[str, str | None]) -> None:
    from mlops.spec import load_spec
    from tasks.data import load_batch

    frame = _frame()
    root = _project(tmp_path, "data/trips.parquet")
    frame.to_parquet(root / "data" / "trips.parquet", index=False)
    batch = load_batch(load_spec(root / "deployments" / "trips.yaml"), start=window[0], end=window[1])
    assert "notes" in batch.columns  # a file is read whole, as always
    assert batch["ts"].min() >= pd.Timestamp(window[0], tz="UTC")
