"""`source: {kind: sql}` on DuckDB (embedded, no server): a table in a DuckDB file and a query over local Parquet
files train, monitor and predict; the window is pushed into the query, only the spec's columns are read, the URL
comes from the environment and lineage names it masked; a missing table is one paragraph, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.integration.test_parquet_dataset import SPEC, _frame, _project

pytestmark = pytest.mark.integration


def _sql_project(tmp_path: Path, what: str) -> Path:
    root = _project(tmp_path, "unused")
    spec = SPEC.format(path="X").replace(
        "{kind: parquet, path: X}", f"{{kind: sql, url_env: TRIPS_DB_URL, {what}}}"
    )
    (root / "deployments" / "trips.yaml").write_text(spec)
    return root


def _duckdb_file(root: Path, frame: pd.DataFrame) -> Path:
    import duckdb

    path = root / "data" / "trips.duckdb"
    con = duckdb.connect(str(path))
    con.register("frame", frame)
    con.execute("CREATE TABLE trips AS SELECT * FROM frame")
    con.close()
    return path


def test_a_query_over_parquet_files_reads_the_window_and_only_the_spec_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.spec import load_spec
    from tasks.data import load_batch, source_label

    frame = _frame()
    root = _sql_project(tmp_path, "query: \"SELECT * FROM read_parquet('data/trips.parquet')\"")
    frame.to_parquet(root / "data" / "trips.parquet", index=False)  # found from the project root, not the cwd
    monkeypatch.setenv("TRIPS_DB_URL", "duckdb:///:memory:")
    loaded = load_spec(root / "deployments" / "trips.yaml")

    july = load_batch(loaded, start="2013-07-01", end="2013-08-01")

    expected = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")].reset_index(drop=True)
    assert list(july.columns) == ["ts", "distance", "temp", "carrier", "origin", "late"]  # not `notes`
    pd.testing.assert_frame_equal(july, expected[list(july.columns)], check_dtype=False)
    assert str(july["ts"].dtype) == "datetime64[ns, UTC]"
    assert source_label(loaded) == "sql:duckdb:///:memory: SELECT * FROM read_parquet('data/trips.parquet')"


def test_the_window_is_a_bound_filter_of_the_statement_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the database is asked: the month only (its rows, not the table's), the columns named, no date in the
    SQL text."""
    import duckdb

    from mlops.spec import load_spec
    from tasks.data import sql

    root = _sql_project(tmp_path, "table: trips")
    _duckdb_file(root, _frame())
    monkeypatch.setenv("TRIPS_DB_URL", "duckdb:///data/trips.duckdb")
    loaded = load_spec(root / "deployments" / "trips.yaml")
    ran: list[tuple[str, list[object] | None]] = []
    real = duckdb.DuckDBPyConnection.sql

    def spy(con: duckdb.DuckDBPyConnection, query: str, **kw: object) -> object:
        ran.append((query, kw.get("params")))  # type: ignore[arg-type]
        return real(con, query, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb.DuckDBPyConnection, "sql", spy)
    rows = sql.read_sql(loaded, "2013-07-01", "2013-08-01")
    query, params = ran[-1]
    assert query.startswith('SELECT "ts", "distance", "temp", "carrier", "origin", "late" FROM "trips" WHERE')
    assert "2013" not in query and params is not None and len(params) == 2
    assert 90 < len(rows) < 110  # one month of 24


@pytest.mark.usefixtures("prefect_harness")
def test_retrain_monitor_and_predict_on_a_duckdb_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from flows.monitor import monitor
    from flows.predict import predict
    from flows.retrain import retrain
    from mlops.settings import get_settings

    frame = _frame()
    root = _sql_project(tmp_path, "table: trips")
    _duckdb_file(root, frame)
    monkeypatch.setenv("TRIPS_DB_URL", "duckdb:///data/trips.duckdb")
    spec = str(root / "deployments" / "trips.yaml")

    trained = retrain(spec)
    assert trained.decision.promote
    run = MlflowClient(get_settings().tracking_uri).get_run(trained.run_id)
    sources = {i.dataset.source for i in run.inputs.dataset_inputs}
    assert all("duckdb:///data/trips.duckdb" in s and "trips" in s for s in sources), sources
    again = retrain(spec)  # the same rows read again: the same data identity, nothing new registered
    assert again.duplicate_of == trained.version

    watched = monitor(spec, start="2013-07-01", end="2013-08-01")
    july = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")]
    assert watched.rows == len(july) and watched.champion_version == trained.version

    out = root / "out" / "july.parquet"
    result = predict(spec, out=str(out), start="2013-07-01", end="2013-08-01", chunk_rows=25)
    assert (result.rows, result.scored, result.chunks) == (len(july), len(july), 5)
    written = pd.read_parquet(out)
    assert list(written["notes"]) == list(july["notes"])  # predict keeps every column of the batch


@pytest.mark.usefixtures("prefect_harness")
def test_a_missing_table_and_an_unset_variable_are_one_paragraph_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    root = _sql_project(tmp_path, "table: nowhere")
    _duckdb_file(root, _frame())
    spec = str(root / "deployments" / "trips.yaml")
    monkeypatch.delenv("TRIPS_DB_URL", raising=False)
    unset = CliRunner().invoke(app, ["run", "retrain", spec])
    assert unset.exit_code == 2 and "TRIPS_DB_URL is not set" in unset.output, unset.output

    monkeypatch.setenv("TRIPS_DB_URL", "duckdb:///data/trips.duckdb")
    missing = CliRunner().invoke(app, ["run", "retrain", spec])
    assert missing.exit_code == 2, missing.output
    assert "nowhere" in missing.output and "Traceback" not in missing.output, missing.output
    assert "correct data.source.table" in missing.output, missing.output

    valid = CliRunner().invoke(app, ["validate", spec])
    assert valid.exit_code == 2 and "nowhere" in valid.output, valid.output


@pytest.mark.parametrize(
    ("what", "said"),
    [
        ('query: "DELETE FROM trips"', "not SELECT"),
        ("table: trips, query: SELECT 1", "either table: or query:"),
        ("{}", "either table: or query:"),
    ],
)
def test_validate_refuses_a_query_that_is_not_one_select(tmp_path: Path, what: str, said: str) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    root = _sql_project(tmp_path, what if what != "{}" else "table: null")
    result = CliRunner().invoke(app, ["validate", str(root / "deployments" / "trips.yaml")])
    assert result.exit_code == 2 and said in result.output, result.output


def test_predict_from_a_parquet_folder_reads_only_its_window(tmp_path: Path) -> None:
    """The window goes into the Parquet read (a filter with row-group statistics), not only into pandas after it."""
    from mlops.spec import load_spec
    from tasks.data.stream import _raw_chunks, batch_chunks, open_batch

    frame = _frame()
    root = _project(tmp_path, "data/trips")
    folder = root / "data" / "trips"
    folder.mkdir()
    for i, part in enumerate(np.array_split(frame, 4)):
        part.to_parquet(folder / f"part-{i}.parquet", index=False, row_group_size=50)
    source = open_batch(load_spec(root / "deployments" / "trips.yaml"), None, "2013-07-01", "2013-08-01", 40)

    july = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")]
    assert sum(len(c) for c in _raw_chunks(source, 40)) == len(july)  # the rest of the year is never read
    chunks = list(batch_chunks(source, 40))
    assert list(pd.concat(chunks)["ts"]) == list(july["ts"]) and list(chunks[0].columns) == list(
        frame.columns
    )


def test_any_table_reads_through_the_public_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tasks.data.sql.read: a table or query other than the spec's source (labels, ...), its window bound."""
    from tasks.data.sql import SqlSource, read

    root = _sql_project(tmp_path, "table: trips")
    frame = _frame()
    frame["ts"] = frame["ts"].dt.floor("s")  # a database keeps microseconds
    _duckdb_file(root, frame)
    monkeypatch.setenv("LABELS_DB_URL", "duckdb:///data/trips.duckdb")
    labels = SqlSource("LABELS_DB_URL", None, "SELECT ts, late FROM trips", str(root))

    got = read(labels, ["ts", "late"], "ts", "2013-07-01", "2013-08-01")

    july = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, july[["ts", "late"]], check_dtype=False)


def test_a_database_that_is_down_is_service_down_and_the_read_steps_retry_it(tmp_path: Path) -> None:
    """A closed port: tried with mlops.reach's bounded policy, then ServiceDown (exit 1) naming the masked URL; the
    Prefect steps that read data retry exactly that (a wrong password, ServiceRefused, is not retried)."""
    import os
    import socket

    from mlops.reach import ServiceDown, ServiceRefused
    from tasks import steps
    from tasks.data.sql import SqlSource, read
    from tasks.tracking import is_transient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    env = "DOWN_DB_URL"
    os.environ[env] = f"postgresql://u:s3cret-pw@127.0.0.1:{port}/db"
    try:
        with pytest.raises(ServiceDown) as caught:
            read(SqlSource(env, "t", None, str(tmp_path)))
    finally:
        del os.environ[env]
    text = str(caught.value)
    assert caught.value.exit_code == 1 and "s3cret-pw" not in text
    assert f"DOWN_DB_URL=postgresql://u:***@127.0.0.1:{port}/db" in text and "tried 3 times" in text, text
    assert is_transient(caught.value) and not is_transient(ServiceRefused("wrong password"))
    for step in (steps.load_data, steps.load_batch, steps.open_batch):
        assert step.retries == 3 and step.retry_condition_fn is steps.retry_transient
