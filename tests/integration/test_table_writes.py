"""The write of predictions into a table (tasks/predictions_table.py) on both engines, DuckDB embedded and a real
PostgreSQL: a batch's rows replaced in one transaction (batch_id), a refused insert rolled back with the delete
before it, the URL never shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from mlops.write_targets import TableTarget
from tasks.predict import PREDICTION
from tasks.predictions_table import TableWriteFailed, write_table
from tests.conftest import running_postgres

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL on loopback (Debian's binaries, as the scale-out tests start it) with a `warehouse` db."""
    with running_postgres(tmp_path_factory.mktemp("pg-stack"), ["warehouse"]) as stack:
        yield stack.pg_url("warehouse")


def staged(folder: Path, name: str, rows: int, extra: bool = False) -> str:
    frame = pd.DataFrame(
        {
            "x": range(rows),
            PREDICTION: ["a"] * rows,
            "model_name": "m",
            "model_version": "1",
            "model_run_id": "r",
        }
    )
    if extra:
        frame["surprise"] = 1.5
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    return str(path)


def count_rows(url: str) -> dict[str, int]:
    if url.startswith("duckdb"):
        with duckdb.connect(url.removeprefix("duckdb:///"), read_only=True) as con:
            return dict(con.execute("SELECT batch_id, count(*) FROM preds GROUP BY 1").fetchall())
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                str(b): int(n)
                for b, n in conn.execute(sa.text("SELECT batch_id, count(*) FROM preds GROUP BY 1"))
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_a_batch_replaces_its_rows_in_one_transaction_on_each_engine(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    url = (
        f"duckdb:///{tmp_path / 'w.duckdb'}"
        if engine == "duckdb"
        else request.getfixturevalue("postgres_url")
    )
    monkeypatch.setenv("WAREHOUSE_URL", url)
    target = TableTarget("preds", "WAREHOUSE_URL")
    assert write_table(staged(tmp_path, "b1", 30), target, "b1") == 30
    assert (
        write_table(staged(tmp_path, "b1-again", 20), target, "b1") == 20
    )  # the rerun replaces the batch's rows
    assert write_table(staged(tmp_path, "b2", 5), target, "b2") == 5
    assert count_rows(url) == {"b1": 20, "b2": 5}
    with pytest.raises(TableWriteFailed, match="rolled back") as err:
        write_table(staged(tmp_path, "b2-odd", 7, extra=True), target, "b2")  # a column the table lacks
    assert "127.0.0.1" not in str(err.value) and "w.duckdb" not in str(err.value)  # the URL never shown
    assert count_rows(url) == {"b1": 20, "b2": 5}  # the delete of b2's rows was rolled back with the insert


def test_a_database_that_stopped_answering_is_said_within_the_reach_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL that accepts the connection and never answers (a hung server, a dead peer behind a proxy): libpq
    alone waits as long as the OS lets it; our engine gives up after the reach policy's connect timeout and says
    so, the password masked (mlops.reach.pg_connect_args)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        monkeypatch.setenv("PREDS_DB_URL", f"postgresql://u:Silent-Pw9@127.0.0.1:{port}/x")
        with pytest.raises(TableWriteFailed) as err:
            write_table(staged(tmp_path, "b1", 3), TableTarget("preds", "PREDS_DB_URL"), "b1")
    assert "timeout expired" in str(err.value) and "Silent-Pw9" not in str(err.value)
