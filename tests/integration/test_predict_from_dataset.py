"""`predict` on a window of a hive-partitioned Parquet dataset (a folder source): every row of the window is scored,
once, with the model's lineage on each row; nothing outside the window is; the partition keys (year=, month=)
are folder names, not columns of the predictions (docs/scale-out.md: predict streams the dataset file by file)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.integration.test_parquet_dataset import _frame, _hive, _project

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_predict_scores_exactly_the_window_of_a_hive_dataset_with_lineage(tmp_path: Path) -> None:
    from flows.predict import predict
    from flows.retrain import retrain
    from tasks.predict import LINEAGE, PREDICTION, PROBA, read_metadata

    frame = _frame()
    root = _project(tmp_path, "data/trips")
    _hive(root, frame)
    spec = str(root / "deployments" / "trips.yaml")
    trained = retrain(spec)
    out = root / "out" / "july.parquet"

    result = predict(spec, out=str(out), start="2013-07-01", end="2013-08-01", chunk_rows=25)

    july = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")]
    assert 50 < len(july) < len(frame) / 10  # one month out of 24
    assert (result.rows, result.scored, result.rejected) == (len(july), len(july), 0)
    assert result.chunks >= 2  # streamed in chunks, not read whole
    written = pd.read_parquet(out)
    # the window's rows, each once, in the dataset's order; nothing from the other 23 months
    assert list(written["ts"]) == list(july["ts"])
    assert list(written["notes"]) == list(july["notes"])
    assert {"year", "month"}.isdisjoint(written.columns)
    assert {PREDICTION, PROBA, *LINEAGE} <= set(written.columns)
    assert set(written["model_name"]) == {"trips-model"}
    assert set(written["model_version"]) == {trained.version} == {"1"}
    assert set(written["model_run_id"]) == {trained.run_id}
    meta = read_metadata(out)
    assert (meta["model_name"], meta["model_version"], meta["model_run_id"]) == (
        "trips-model",
        "1",
        trained.run_id,
    )
    assert meta["batch"] == result.batch == "2013-07-01 to 2013-08-01"
