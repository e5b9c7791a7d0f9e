"""Predictions written back into a database table (duckdb; SQLAlchemy for PostgreSQL): `--out table:NAME@ENV_VAR`.

predict writes the batch's predictions as Parquet first (tasks/predict.py, under MLOPS_HOME), then this module moves
them into the table in ONE transaction: the rows of an earlier run of the same batch (the `batch_id` column: the
batch's content fingerprint) are deleted and the new rows inserted, so a failed run leaves the table as it was and
running the same batch again replaces its rows instead of adding to them. The lineage columns (model name, version,
run id) come with the rows, as in the Parquet output. The URL comes from the environment variable and is never
shown: a message names the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlops.errors import MlopsError
from mlops.sql_policy import quote_table
from mlops.write_targets import TableTarget, duckdb_file, engine_of

BATCH_ID = "batch_id"


class TableWriteFailed(MlopsError):
    """The database refused the predictions (the table's columns differ, no permission, ...): nothing was written."""

    exit_code = 1


def write_table(staged: str, target: TableTarget, batch_id: str, root: str | None = None) -> int:
    """Replace the rows of batch `batch_id` in the table with the predictions in the Parquet file `staged`, in one
    transaction; the table is created (typed from the file) when it does not exist. Returns the rows written. A
    relative DuckDB path is read from `root` (the project root), as a DuckDB source's is."""
    url = os.environ.get(target.url_env, "").strip()
    engine = engine_of(url)
    try:
        if engine == "duckdb":
            return _duckdb(url, staged, target, batch_id, root)
        if engine == "postgresql":
            return _sqlalchemy(url, staged, target, batch_id)
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver error: the transaction rolled back, said in one paragraph
        raise TableWriteFailed(
            f"--out {target}: the database refused the predictions ({type(exc).__name__}: {_first_line(exc)}); "
            "the transaction was rolled back, the table holds what it held before. If the table's columns differ "
            "from this batch's (another model, other features), write to another table."
        ) from None
    raise TableWriteFailed(f"--out {target}: {target.url_env} holds no DuckDB or PostgreSQL URL.")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _duckdb(url: str, staged: str, target: TableTarget, batch_id: str, root: str | None) -> int:
    import duckdb

    file = duckdb_file(url, Path(root) if root else None)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(file) if file is not None else ":memory:")
    name = quote_table(target.table)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            rows = "SELECT *, CAST(? AS VARCHAR) AS batch_id FROM read_parquet(?)"
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS {rows} LIMIT 0", [batch_id, staged])
            con.execute(f"DELETE FROM {name} WHERE {BATCH_ID} = ?", [batch_id])
            con.execute(f"INSERT INTO {name} BY NAME {rows}", [batch_id, staged])
            written = con.execute(f"SELECT count(*) FROM {name} WHERE {BATCH_ID} = ?", [batch_id]).fetchone()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return int(written[0]) if written else 0


def _sqlalchemy(url: str, staged: str, target: TableTarget, batch_id: str) -> int:
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    from mlops.reach import pg_connect_args

    # a database gone silent since the pre-flight: said within the reach policy, not after libpq's unbounded wait
    engine = sa.create_engine(url, connect_args=pg_connect_args(url))
    schema, _, table = target.table.rpartition(".")
    written = 0
    try:
        with engine.begin() as conn:  # one transaction: commit at the end, rollback on any error
            if sa.inspect(conn).has_table(table, schema=schema or None):
                conn.execute(
                    sa.text(f"DELETE FROM {quote_table(target.table)} WHERE {BATCH_ID} = :b"), {"b": batch_id}
                )
            for part in pq.ParquetFile(staged).iter_batches(batch_size=50_000):
                frame: Any = part.to_pandas()
                frame[BATCH_ID] = batch_id
                frame.to_sql(table, conn, schema=schema or None, if_exists="append", index=False)
                written += len(frame)
    finally:
        engine.dispose()
    return written
