"""`source: {kind: sql}` on a real PostgreSQL (the server .ci/install-postgres.sh installs, started by
tests/stack.py): the window and the columns pushed into the query, the URL masked in MLflow's lineage, a wrong
password and a missing table each one paragraph with exit 2 and nothing registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import running_postgres
from tests.integration.test_parquet_dataset import _frame
from tests.integration.test_sql_source import _sql_project

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
PASSWORD = "right-one"


@pytest.fixture(scope="module")
def trips_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, pd.DataFrame]]:
    """A real PostgreSQL whose user `postgres` needs a password, with the trips in table `trips` (ts timestamptz)."""
    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa

    frame = _frame()
    frame["ts"] = frame["ts"].dt.floor(
        "s"
    )  # PostgreSQL keeps microseconds, the generated times have nanoseconds
    with running_postgres(tmp_path_factory.mktemp("pg-sql"), ["flights"], password=PASSWORD) as stack:
        with pg.connect(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{stack.pg_port}/flights") as con:
            with con.cursor() as cur:
                cur.adbc_ingest("trips", pa.Table.from_pandas(frame, preserve_index=False), mode="create")
            con.commit()
        yield stack.pg_port, frame


def _url(port: int, password: str = PASSWORD) -> str:
    return f"postgresql://postgres:{password}@127.0.0.1:{port}/flights"


def test_a_month_is_read_with_the_spec_columns_and_the_url_masked_in_lineage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trips_db: tuple[int, pd.DataFrame]
) -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.settings import get_settings
    from mlops.spec import load_spec
    from tasks.data import load_batch

    port, frame = trips_db
    monkeypatch.setenv("TRIPS_DB_URL", _url(port))
    root = _sql_project(tmp_path, "table: trips")
    loaded = load_spec(root / "deployments" / "trips.yaml")

    july = load_batch(loaded, start="2013-07-01", end="2013-08-01")
    expected = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")].reset_index(drop=True)
    assert list(july.columns) == ["ts", "distance", "temp", "carrier", "origin", "late"]
    pd.testing.assert_frame_equal(july, expected[list(july.columns)], check_dtype=False)

    trained = retrain(str(root / "deployments" / "trips.yaml"))
    run = MlflowClient(get_settings().tracking_uri).get_run(trained.run_id)
    sources = [i.dataset.source for i in run.inputs.dataset_inputs]
    assert sources and all(f"postgresql://postgres:***@127.0.0.1:{port}/flights" in s for s in sources), (
        sources
    )
    recorded = " ".join([*sources, *map(str, run.data.params.values()), *map(str, run.data.tags.values())])
    assert PASSWORD not in recorded


def test_predict_reads_a_month_in_chunks_from_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trips_db: tuple[int, pd.DataFrame]
) -> None:
    """predict's chunked read (an ADBC stream): every row of the window once. It failed with 'Attempt to read
    from a stream that has already been closed' while the cursor was left to the garbage collector."""
    import gc

    from mlops.spec import load_spec
    from tasks.data.sql import read_chunks, sql_source

    port, frame = trips_db
    monkeypatch.setenv("TRIPS_DB_URL", _url(port))
    loaded = load_spec(_sql_project(tmp_path, "table: trips") / "deployments" / "trips.yaml")
    chunks = []
    for chunk in read_chunks(sql_source(loaded), "ts", "2013-07-01", "2013-08-01", 100):
        gc.collect()  # what a long predict does between chunks
        chunks.append(chunk)
    got = pd.concat(chunks, ignore_index=True)
    expected = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")].reset_index(drop=True)
    assert len(chunks) > 1 and max(map(len, chunks)) <= 100
    pd.testing.assert_frame_equal(got[list(expected.columns)], expected, check_dtype=False)


@pytest.mark.parametrize(
    ("password", "table", "said", "fix"),
    [
        ("wrong-one", "trips", "refused the credentials", "correct the user, password"),
        (PASSWORD, "nowhere", 'relation "nowhere" does not exist', "correct data.source.table"),
    ],
)
def test_a_wrong_password_or_a_missing_table_is_one_paragraph_exit_2_nothing_registered(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trips_db: tuple[int, pd.DataFrame],
    password: str,
    table: str,
    said: str,
    fix: str,
) -> None:
    from mlflow import MlflowClient

    from mlops.cli import app
    from mlops.settings import get_settings

    port, _ = trips_db
    monkeypatch.setenv("TRIPS_DB_URL", _url(port, password))
    root = _sql_project(tmp_path, f"table: {table}")
    client = MlflowClient(get_settings().tracking_uri)
    before = len(client.search_model_versions())
    result = CliRunner().invoke(app, ["run", "retrain", str(root / "deployments" / "trips.yaml")])
    assert result.exit_code == 2, result.output
    assert said in result.output and fix in result.output, result.output
    assert f"TRIPS_DB_URL=postgresql://postgres:***@127.0.0.1:{port}/flights" in result.output, result.output
    assert password not in result.output and "Traceback" not in result.output
    assert len(client.search_model_versions()) == before  # nothing registered


def test_the_monitor_reuses_predicts_predictions_and_sets_its_estimate_beside_the_labels_realised_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trips_db: tuple[int, pd.DataFrame]
) -> None:
    """predict reads every column of a sql window (its output keeps them), the monitor only the spec's: both name
    the batch by the spec's columns (tasks.data.dataset.spec_columns), so the monitor reuses predict's predictions
    and its estimate is kept, then set beside the realised figure when the labels arrive. Before, the two
    fingerprints differed (`notes` read by predict only): predictions made again and no estimate kept."""
    from datetime import UTC, datetime, timedelta

    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa

    from flows.monitor import monitor
    from flows.predict import predict
    from flows.retrain import retrain

    port, frame = trips_db
    with pg.connect(_url(port)) as con:  # the trips with an id, in a table of this test's own
        with con.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS trips_ids")
            with_ids = frame.assign(trip_id=range(10_000, 10_000 + len(frame)))
            cur.adbc_ingest("trips_ids", pa.Table.from_pandas(with_ids, preserve_index=False), mode="create")
        con.commit()
    monkeypatch.setenv("TRIPS_DB_URL", _url(port))
    root = _sql_project(tmp_path, "table: trips_ids")
    spec = root / "deployments" / "trips.yaml"
    labels = (
        "labels:\n  source: {kind: csv, path: labels/*.csv}\n  known_at_column: known_at\n"
        "monitoring: {max_sample_rows: 500, seed: 5, min_label_share: 0.8}\n"
    )
    spec.write_text(
        spec.read_text().replace("  target: late\n", "  target: late\n  id_column: trip_id\n") + labels
    )
    retrain(str(spec))

    window = {"start": "2013-07-01", "end": "2013-08-01"}
    predicted = predict(str(spec), out=str(tmp_path / "july.parquet"), **window)
    assert "notes" in pd.read_parquet(predicted.out).columns  # predict read every column
    early = monitor(str(spec), **window)
    assert any(f"reused the sample logged by predict run {predicted.run_id}" in n for n in early.notes), (
        early.notes
    )
    assert early.labels is not None
    july = {p.batch: p for p in early.labels.periods}[predicted.batch]
    assert july.labelled == 0 and july.estimated is not None  # the estimate given now, kept for later
    estimate_then = july.estimated

    (root / "labels").mkdir()
    truth = with_ids[(with_ids["ts"] >= "2013-07-01") & (with_ids["ts"] < "2013-08-01")]
    known = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    truth[["trip_id", "late"]].assign(known_at=known).to_csv(root / "labels" / "july.csv", index=False)
    later = monitor(str(spec), start="2013-08-01", end="2013-09-01")
    assert later.labels is not None
    july = {p.batch: p for p in later.labels.periods}[predicted.batch]
    assert july.labelled == len(truth) and july.verdict.judged
    assert july.trust is not None and july.trust.estimated == estimate_then
    assert july.trust.realised == july.realised
