"""A `kind: sql` source: PostgreSQL through ADBC, DuckDB embedded (SQL over local Parquet/CSV files), both read as
Arrow. The only module that imports duckdb and adbc_driver_postgresql (the `[sql]` extra).

The URL comes from the environment variable the spec names (a DuckDB URL, which holds no secret, may be written in
the spec as `url:`) and is shown only masked (mlops.text.mask_url). The
statement is built by mlops.sql_policy: the table or the query wrapped as a subquery, only the columns the spec
uses, the window [start, end) as bound parameters on the time column (pushed down only when the column is a
timestamp or a date in the database; another kind of time is filtered in pandas afterwards, as for files).

Errors: a server that is down, restarting or drops the connection is ServiceDown (exit 1; the load steps retry it
as a Prefect task retry); a wrong password, a missing database, table or column, an SQL error is ServiceRefused
(exit 2): one paragraph naming the source and the fix, before anything is trained or registered."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError, Problem, SpecError
from mlops.reach import ServiceDown, ServiceRefused
from mlops.sql_policy import Statement, probe, select
from mlops.text import first_line, mask_url
from mlops.write_targets import duckdb_file, engine_of

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlops.spec import LoadedSpec

# text of a driver error that says the server is down, going down or coming up: worth a retry
TRANSIENT = (
    "connection refused",
    "could not connect",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "connection reset",
    "broken pipe",
    "timeout expired",
    "no connection to the server",
    "connection timed out",
    "could not receive data",
    "could not send data",
    "eof detected",
)


UTC_NAMES = ("Etc/UTC", "+00:00", "Z")  # UTC as DuckDB and PostgreSQL's drivers name it


@dataclass(frozen=True)
class SqlSource:
    """What a read needs from the spec (plain values: it travels between Prefect tasks)."""

    url_env: str
    table: str | None
    query: str | None
    root: str  # the project root: relative DuckDB paths are read from there
    spec_file: str = ""
    url: str = ""  # a DuckDB URL written in the spec (`url:`), instead of url_env

    @property
    def what(self) -> str:
        return f"table {self.table}" if self.table else f"query {self.query!r}"

    @property
    def holder(self) -> str:
        """Where the URL is given, as a fix names it: the variable, or the spec's field."""
        return self.url_env or "data.source.url"

    def shown(self, url: str) -> str:
        """The source's URL as a message shows it: `VAR=<masked URL>`, or the spec's DuckDB URL."""
        return f"{self.url_env}={mask_url(url)}" if self.url_env else mask_url(url)


def sql_source(loaded: LoadedSpec) -> SqlSource:
    src = loaded.spec.data.source
    return SqlSource(
        src.url_env or "", src.table, src.query, str(loaded.root), str(loaded.path), src.url or ""
    )


def url_of(source: SqlSource) -> str:
    """The database URL: the spec's DuckDB `url:`, else from the environment; SpecError (exit 2) naming the
    variable when it is unset."""
    if source.url:
        if (
            engine_of(source.url) != "duckdb"
        ):  # mlops validate refuses it first; a spec loaded without the check
            raise SpecError(
                [Problem(source.spec_file, "data.source.url", "a URL written in the spec is allowed for DuckDB only",
                         "put the URL in an environment variable and name it with url_env")]
            )  # fmt: skip
        return source.url.strip()
    url = os.environ.get(source.url_env, "").strip()
    if not url:
        raise SpecError(
            [Problem(source.spec_file, "data.source.url_env", f"the environment variable {source.url_env} is not set",
                     f"export {source.url_env}=postgresql://USER:PASSWORD@HOST:5432/DB (or duckdb:///FILE.duckdb, "
                     "duckdb:///:memory: for SQL over local files) before running")]
        )  # fmt: skip
    if not engine_of(url):
        raise SpecError(
            [Problem(source.spec_file, "data.source.url_env",
                     f"{source.url_env}={mask_url(url)} is not a PostgreSQL or DuckDB URL",
                     "use postgresql://USER:PASSWORD@HOST:PORT/DB or duckdb:///FILE.duckdb")]
        )  # fmt: skip
    return url


def label(source: SqlSource) -> str:
    """The source as messages and lineage name it: `sql:<masked URL> <table or query>` (never the password)."""
    url = source.url or os.environ.get(source.url_env, "")
    shown = mask_url(url) if url else f"${source.url_env}"
    return f"sql:{shown} {source.table or source.query}"


# --- connecting ---------------------------------------------------------------------------------------------


def _connect(source: SqlSource, url: str, timeout: float) -> Any:
    """A DB-API connection that only reads: PostgreSQL through ADBC (a session set read-only), DuckDB embedded (a
    database file opened read-only; `:memory:` for SQL over files, which are found from the project root)."""
    if engine_of(url) == "duckdb":
        import duckdb

        file = duckdb_file(url, Path(source.root))  # duckdb:////abs/path, or relative to the project root
        if file is not None and not file.is_file():
            raise FileNotFoundError(f"the DuckDB file {file} does not exist")
        con = duckdb.connect(":memory:" if file is None else str(file), read_only=file is not None)
        con.execute(f"SET file_search_path = '{source.root.replace(chr(39), chr(39) * 2)}'")
        return con
    import adbc_driver_postgresql.dbapi as pg

    bare = "postgresql://" + url.partition("://")[2]  # postgresql+psycopg2:// as libpq reads it
    if "connect_timeout=" not in bare:
        bare += ("&" if "?" in bare else "?") + f"connect_timeout={max(2, int(timeout))}"
    con = pg.connect(bare)
    with con.cursor() as cur:
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    return con


def _open(source: SqlSource, url: str) -> Any:
    """A connection, reached with the bounded policy of mlops.reach (a refused or silent server is tried again
    for a few seconds; a wrong password, a missing database or file is not): ServiceDown (exit 1) or
    ServiceRefused (exit 2) in one paragraph otherwise."""
    from mlops.reach import Kind, reach, unreached_error

    opened: list[Any] = []

    def attempt(timeout: float) -> None:
        opened.append(_connect(source, url, timeout))

    def classify(exc: BaseException) -> tuple[Kind, str]:
        detail = first_line(exc)
        if isinstance(exc, FileNotFoundError):
            return "setting", detail
        if is_transient(exc):
            return ("refused" if "refused" in detail.lower() else "down"), detail
        lowered = detail.lower()
        return ("denied" if "authentication" in lowered or "password" in lowered else "setting"), detail

    unreached = reach(attempt, classify)
    if unreached is not None:
        raise unreached_error(
            f"sql source ({source.what})", source.holder, url, unreached,
            "start the database, or correct the host and port in the URL, then rerun",
            f"correct the user, password, database name or file in {source.holder}",
        )  # fmt: skip
    return opened[-1]


def _run(con: Any, statement: Statement) -> Any:
    """A cursor (PostgreSQL) or a relation (DuckDB) for the statement with its parameters bound."""
    params = list(statement.params)
    if _is_duckdb(con):
        return con.sql(statement.sql, params=params or None)
    cur = con.cursor()
    cur.execute(statement.sql, params or None)
    return cur


def _is_duckdb(obj: Any) -> bool:
    return type(obj).__module__.startswith(("duckdb", "_duckdb"))


def _arrow(result: Any) -> pa.Table:
    return result.fetch_arrow_table()  # an ADBC cursor and a DuckDB relation both have it


def _reader(result: Any, chunk_rows: int) -> Any:
    """Arrow record batches as the driver streams them (DuckDB: `chunk_rows` a batch; ADBC: its own size)."""
    if _is_duckdb(result):
        return result.fetch_record_batch(chunk_rows)
    return result.fetch_record_batch()


# --- errors -------------------------------------------------------------------------------------------------


def is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ConnectionError | TimeoutError) or any(t in text for t in TRANSIENT)


def _refused(source: SqlSource, url: str, what: str, fix: str) -> MlopsError:
    return ServiceRefused(
        f"the sql source {source.shown(url)} ({source.what}): {what}; {fix}. Nothing was trained, "
        "scored or registered."
    )


def _failure(source: SqlSource, url: str, exc: BaseException) -> MlopsError:
    """The user's paragraph for a failed read: down (exit 1, retried) or refused (exit 2), with the fix."""
    from mlops.secrets import hide_secrets

    detail = hide_secrets(mask_url(first_line(exc)))
    text = detail.lower()
    if is_transient(exc):
        return ServiceDown(
            f"the sql source {source.shown(url)} could not be reached ({detail}); start the database "
            "or correct the host and port in the URL, then rerun. Nothing was trained, scored or registered."
        )
    if "password authentication failed" in text or "authentication failed" in text or "no password" in text:
        fix = f"correct the user or password in {source.holder}"
    elif "does not exist" in text and "database" in text:
        fix = f"correct the database name in {source.holder}"
    elif "does not exist" in text or "not found" in text or "catalog error" in text or "binder error" in text:
        fix = (
            "correct data.source.table or data.source.query (or the column names the spec uses) to name what "
            "the database holds"
        )
    else:
        fix = "correct data.source.query (or the table, or the URL)"
    return _refused(source, url, detail, fix)


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """The source's columns and the Arrow type of each, read with no row."""

    names: list[str]
    types: dict[str, Any]


def _shape(con: Any, source: SqlSource) -> Shape:
    table = _arrow(_run(con, probe(source.table, source.query)))
    return Shape(list(table.schema.names), {f.name: f.type for f in table.schema})


def _window(shape: Shape, time_column: str | None, start: object, end: object) -> tuple[Any, Any]:
    """The bounds in the column's own type, or (None, None) when the column is not a timestamp/date column in the
    database (then the caller's pandas filter does the whole job, as for a CSV)."""
    import pyarrow as pa

    from tasks.data.dataset import _bound

    if not time_column or time_column not in shape.types or (start is None and end is None):
        return None, None
    kind = shape.types[time_column]
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return None, None
    return (None if start is None else _bound(start, kind)), (None if end is None else _bound(end, kind))


def _statement(
    source: SqlSource, shape: Shape, columns: list[str] | None, time_column: str | None, start: object,
    end: object, nrows: int | None,
) -> Statement:  # fmt: skip
    lo, hi = _window(shape, time_column, start, end)
    return select(source.table, source.query, columns, time_column if (lo or hi) else None, lo, hi, nrows)


def as_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas with the types a Parquet read gives: decimals (PostgreSQL numeric) as float64, UTC
    by the name "UTC" (DuckDB says Etc/UTC), so the same rows have the same data identity from a file or a table."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.float64()))
        elif pa.types.is_timestamp(f.type) and f.type.tz in UTC_NAMES:
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp(f.type.unit, tz="UTC")))
    return table.to_pandas()


def read(
    source: SqlSource,
    columns: list[str] | Callable[[list[str]], list[str] | None] | None = None,
    time_column: str | None = None,
    start: object = None,
    end: object = None,
    nrows: int | None = None,
) -> pd.DataFrame:
    """Rows of a sql source (the spec's data, or any table/query: labels, ...) in [start, end) of `time_column`,
    as pandas. `columns`: the names to select, None for all, or a function of the source's column names (read
    with no row first) that picks them. The window is bound parameters; ServiceDown/ServiceRefused as above."""
    url = url_of(source)
    con = _open(source, url)
    try:
        try:
            shape = _shape(con, source)
            picked = columns(shape.names) if callable(columns) else columns
            return as_frame(
                _arrow(_run(con, _statement(source, shape, picked, time_column, start, end, nrows)))
            )
        finally:
            con.close()
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - each driver raises its own types: all become the paragraph
        raise _failure(source, url, exc) from None


def read_sql(
    loaded: LoadedSpec, start: object = None, end: object = None, nrows: int | None = None,
    all_columns: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """The spec's source's rows in [start, end) of the time column (all without a window), with the columns the
    spec uses (every column for a head of `nrows` rows or with `all_columns`)."""
    from tasks.data.dataset import needed_columns

    def pick(names: list[str]) -> list[str] | None:
        return None if all_columns or nrows is not None else needed_columns(loaded, names)

    return read(sql_source(loaded), pick, loaded.spec.data.time_column, start, end, nrows)


def read_chunks(
    source: SqlSource, time_column: str | None, start: object, end: object, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Every column of the source's rows in [start, end), `chunk_rows` at a time (Arrow record batches from the
    driver): predict holds one chunk, not the batch."""
    url = url_of(source)
    con = _open(source, url)
    try:
        import pyarrow as pa

        shape = _shape(con, source)
        statement = _statement(source, shape, None, time_column, start, end, None)
        # the cursor held while its stream is read: ADBC closes the stream with a cursor collected as garbage
        # ("Attempt to read from a stream that has already been closed": predict from PostgreSQL failed so)
        result = _run(con, statement)
        reader = _reader(result, chunk_rows)
        pending: list[Any] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield as_frame(table.slice(0, chunk_rows))
                rest = table.slice(chunk_rows)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield as_frame(pa.Table.from_batches(pending))
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - each driver raises its own types: all become the paragraph
        raise _failure(source, url, exc) from None
    finally:
        con.close()
