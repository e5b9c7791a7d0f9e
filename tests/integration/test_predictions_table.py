"""Predictions written back into a table (`--out table:NAME@ENV_VAR`) on DuckDB, embedded: one transaction per
batch, a rerun of the same batch replaces its rows (batch_id), the lineage columns come along, and a run the
database refuses leaves the table as it was."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flows.predict import predict
from flows.retrain import retrain
from mlops.settings import get_settings
from mlops.write_targets import OutputRefused
from tasks.predict import LINEAGE, PREDICTION
from tasks.predictions_table import TableWriteFailed
from tests.conftest import cancer_frame, spec_text

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def batch(project: Path, name: str, rows: slice, extra: str | None = None) -> str:
    frame = cancer_frame().iloc[rows].drop(columns=["target"])
    if extra:
        frame[extra] = 1
    (project / "batches").mkdir(exist_ok=True)
    path = project / "batches" / f"{name}.csv"
    frame.to_csv(path, index=False)
    return str(path)


def rows_by_batch(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT batch_id, count(*) FROM predictions GROUP BY 1").fetchall())


def test_predictions_go_into_a_table_once_per_batch_and_a_refused_write_leaves_it_as_it_was(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec_text(extra="monitoring: {max_sample_rows: 100, seed: 5}\n"))
    trained = retrain(str(spec))
    db = project / "warehouse" / "predictions.duckdb"
    monkeypatch.setenv("PRED_DB_URL", f"duckdb:///{db}")
    out = "table:predictions@PRED_DB_URL"
    first, second = batch(project, "july", slice(0, 150)), batch(project, "august", slice(150, 250))

    a = predict(str(spec), out=out, batch=first)
    assert a.out == "table predictions in $PRED_DB_URL" and a.scored == 150
    with duckdb.connect(str(db), read_only=True) as con:
        written = con.execute("SELECT * FROM predictions").df()
    assert {PREDICTION, *LINEAGE, "batch_id"} <= set(written.columns)
    assert set(written["model_version"]) == {trained.version} and set(written["model_run_id"]) == {
        trained.run_id
    }

    # staged as Parquet under MLOPS_HOME, then moved into the table: nothing of it is left behind
    staging = get_settings().home / "predictions" / "cancer" / "staging"
    assert a.rejects == "" and sorted(staging.glob("*")) == []

    predict(str(spec), out=out, batch=first)  # the same batch again: its rows replaced, not added
    predict(str(spec), out=out, batch=second)
    counts = rows_by_batch(db)
    assert sorted(counts.values()) == [100, 150] and len(counts) == 2

    # a batch with a column the table lacks: the database refuses the insert, the transaction rolls back
    odd = batch(project, "odd", slice(250, 300), extra="new_column")
    with pytest.raises(TableWriteFailed, match="rolled back") as err:
        predict(str(spec), out=out, batch=odd)
    assert "duckdb:" not in str(err.value)  # the URL is never shown, only its variable
    assert rows_by_batch(db) == counts
    assert sorted(staging.glob("*")) == []  # a failed write leaves no staged file either

    monkeypatch.delenv("PRED_DB_URL")
    with pytest.raises(OutputRefused, match="PRED_DB_URL is not set"):
        predict(str(spec), out=out, batch=first)
    assert pd.Series(list(counts.values())).sum() == 250
