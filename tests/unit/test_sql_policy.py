"""A sql source's statement: one SELECT only, the window as bound parameters, only the columns the spec uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops.sql_policy import query_problem, select, table_problem
from mlops.write_targets import engine_of


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM flights",
        "select f.*, w.temp from flights f join weather w using (origin, time_hour);",
        "WITH m AS (SELECT * FROM flights) SELECT * FROM m",
        "SELECT 'a; DROP TABLE x' AS s, \"update\" FROM t -- a comment; delete\n",
        "SELECT * FROM read_parquet('data/flights/*.parquet') /* update */",
        "SELECT replace(carrier, 'x', 'y') AS carrier FROM flights",
    ],
)
def test_a_single_select_passes(query: str) -> None:
    assert query_problem(query) is None


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("DELETE FROM flights", "starts with DELETE"),
        ("SELECT 1; DROP TABLE flights", "more than one statement"),
        ("SELECT * INTO copy FROM flights", "INTO"),
        ("WITH gone AS (DELETE FROM flights RETURNING *) SELECT * FROM gone", "DELETE"),
        ("SELECT * FROM flights FOR UPDATE", "UPDATE"),
        ("SELECT set_config('role', 'admin', false)", "SET_CONFIG"),
        ("SELECT * FROM query('DROP TABLE flights')", "QUERY"),
        ("COPY flights TO '/tmp/x.csv'", "starts with COPY"),
        ("ATTACH 'other.db'", "starts with ATTACH"),
        ("SELECT 'unclosed FROM t", "unclosed"),
        ("SELECT * FROM t WHERE ts >= $1", "placeholder"),
        ("", "empty"),
    ],
)
def test_anything_but_one_select_is_refused_with_the_reason(query: str, said: str) -> None:
    problem = query_problem(query)
    assert problem is not None and said in problem, problem


def test_table_names_are_plain_identifiers() -> None:
    assert table_problem("flights") is None and table_problem("prod.flights") is None
    assert table_problem("flights; drop table x") is not None
    assert table_problem('"flights"') is not None


def test_the_window_is_bound_parameters_never_sql_text() -> None:
    start, end = datetime(2013, 7, 1, tzinfo=UTC), datetime(2013, 8, 1, tzinfo=UTC)
    st = select(None, "SELECT * FROM flights;", ["time_hour", "delayed"], "time_hour", start, end)
    assert st.sql == (
        'SELECT "time_hour", "delayed" FROM (SELECT * FROM flights) AS src '
        'WHERE "time_hour" >= $1 AND "time_hour" < $2'
    )
    assert st.params == (start, end)
    assert "2013" not in st.sql


def test_a_table_is_quoted_and_a_single_bound_is_one_parameter() -> None:
    end = datetime(2014, 1, 1)
    st = select("prod.flights", None, None, "ts", None, end, limit=5)
    assert st.sql == 'SELECT * FROM "prod"."flights" WHERE "ts" < $1 LIMIT 5'
    assert st.params == (end,)


def test_column_names_are_quoted_so_they_are_never_read_as_sql() -> None:
    st = select("t", None, ['a"; drop table t; --', "b"])
    assert st.sql == 'SELECT "a""; drop table t; --", "b" FROM "t"'


def test_no_window_no_where() -> None:
    assert select("t", None, None, "ts").sql == 'SELECT * FROM "t"'


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql"),
        ("postgresql+psycopg2://u@h/db", "postgresql"),
        ("postgres://h/db", "postgresql"),
        ("duckdb:///:memory:", "duckdb"),
        ("duckdb:///data/x.duckdb", "duckdb"),
        ("mysql://h/db", ""),
    ],
)
def test_the_engine_comes_from_the_url_scheme(url: str, engine: str) -> None:
    assert engine_of(url) == engine
