"""`--out table:NAME@ENV_VAR` (mlops.write_targets): how a table is named, and the checks made before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.write_targets import (
    OutputRefused,
    TableTarget,
    duckdb_file,
    engine_of,
    table_problem,
    table_target,
)


def test_a_table_is_named_with_the_variable_holding_its_url() -> None:
    assert table_target("out/p.parquet") is None
    assert table_target("table:predictions@PRED_DB_URL") == TableTarget("predictions", "PRED_DB_URL")
    assert table_target("table:ml.preds@X") == TableTarget("ml.preds", "X")
    assert str(TableTarget("p", "X")) == "table p in $X"
    for bad in ("table:predictions", "table:drop table x;@X", "table:p@postgresql://u:pw@h/db", "table:@X"):
        with pytest.raises(OutputRefused, match="table:NAME@ENV_VAR"):
            table_target(bad)


def test_engines_and_duckdb_files_are_read_from_the_url() -> None:
    assert engine_of("duckdb:///p.duckdb") == "duckdb"
    assert engine_of("postgresql+psycopg2://u@h/db") == engine_of("postgres://h/db") == "postgresql"
    assert engine_of("mysql://h/db") == ""
    assert duckdb_file("duckdb:///data/p.duckdb") == Path("data/p.duckdb")
    assert duckdb_file("duckdb:////abs/p.duckdb") == Path("/abs/p.duckdb")
    assert duckdb_file("duckdb:///:memory:") is None
    # read from the project root, as a DuckDB source's path is (tasks/data/sql.py), whatever the current folder
    assert duckdb_file("duckdb:///data/p.duckdb", Path("/proj")) == Path("/proj/data/p.duckdb")
    assert duckdb_file("duckdb:////abs/p.duckdb", Path("/proj")) == Path("/abs/p.duckdb")


def test_an_unset_variable_another_engine_or_an_input_is_refused_without_showing_the_url(
    tmp_path: Path,
) -> None:
    t = TableTarget("predictions", "PRED_DB_URL")
    assert "PRED_DB_URL is not set" in (table_problem(t, {}) or "")
    assert "engine" in (table_problem(t, {"PRED_DB_URL": "mysql://u:secret@h/db"}) or "")
    assert "secret" not in (table_problem(t, {"PRED_DB_URL": "mysql://u:secret@h/db"}) or "")
    env = {"PRED_DB_URL": "postgresql://u:secret@h/db", "SRC_URL": "postgresql://u:secret@h/db"}
    # the spec's SQL source: the same variable, or another holding the same URL, and the same table
    refused = table_problem(TableTarget("Flights", "PRED_DB_URL"), env, [("SRC_URL", "flights", None)])
    assert refused is not None and "reads its data from" in refused and "secret" not in refused
    assert (
        table_problem(TableTarget("predictions", "PRED_DB_URL"), env, [("SRC_URL", "flights", None)]) is None
    )
    source = tmp_path / "flights.duckdb"
    source.write_bytes(b"")
    dd = {"PRED_DB_URL": f"duckdb:///{source}"}
    assert "a file this run reads" in (table_problem(t, dd, [], [source]) or "")
    assert table_problem(t, {"PRED_DB_URL": f"duckdb:///{tmp_path / 'p.duckdb'}"}, [], [source]) is None


def test_a_query_source_reading_the_output_table_is_a_feedback_loop_and_refused() -> None:
    env = {"PRED_DB_URL": "postgresql://u:secret@h/db", "SRC_URL": "postgresql://u:secret@h/db"}
    t = TableTarget("predictions", "PRED_DB_URL")

    def problem(query: str, env_name: str = "SRC_URL") -> str | None:
        return table_problem(t, env, [(env_name, None, query)])

    # the model would train (or be judged) on its own predictions: refused, whatever the spelling
    for q in (
        "SELECT * FROM predictions",
        "select f.*, p.prediction from flights f join public.predictions p on f.id = p.id",
        'SELECT * FROM "Predictions" WHERE x > 1',
        "WITH p AS (SELECT * FROM ml . predictions) SELECT * FROM p",
    ):
        refused = problem(q)
        assert refused is not None and "feedback loop" in refused and "secret" not in refused, q
    # another table, the name in a string or a comment, a function of that name, another database: no loop
    for q in (
        "SELECT * FROM flights",
        "SELECT * FROM flights WHERE kind = 'predictions' -- not predictions\n",
        "SELECT predictions_count FROM flights",
        "SELECT * FROM other.predictions_v2",
    ):
        assert problem(q) is None, q
    assert (
        table_problem(
            t, env | {"OTHER_URL": "postgresql://h/other"}, [("OTHER_URL", None, "SELECT * FROM predictions")]
        )
        is None
    )
    # a schema on both sides must agree
    assert (
        table_problem(
            TableTarget("ml.predictions", "PRED_DB_URL"),
            env,
            [("SRC_URL", None, "SELECT * FROM stage.predictions")],
        )
        is None
    )
    assert (
        table_problem(
            TableTarget("ml.predictions", "PRED_DB_URL"), env, [("SRC_URL", "ML.Predictions", None)]
        )
        is not None
    )
    # a schema-qualified source table is the unqualified output table of the same name
    assert (
        table_problem(TableTarget("flights", "PRED_DB_URL"), env, [("SRC_URL", "public.flights", None)])
        is not None
    )
