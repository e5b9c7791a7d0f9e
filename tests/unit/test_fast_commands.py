"""Commands that answer at once (issue 15): `mlops validate` after an edit re-runs only the checks that read what
changed, so an edit that touches neither the data, the suite nor the params imports no Great Expectations, no
scikit-learn and not even pandas; and the registry snapshot behind `mlops status`/`mlops history` is only saved
under a stamp read from the store's content (SQLite's change counter), never a timestamp. Fresh processes, no timing: what they import is what they cost."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, count_calls

HEAVY = ("prefect", "great_expectations", "evidently", "sklearn", "pandas", "mlflow")

# the CLI in a fresh interpreter, in-process (typer's runner), then the heavy top-level packages it loaded
CLI = """
import json, sys
from typer.testing import CliRunner
from mlops.cli import app
runs = [CliRunner().invoke(app, args) for args in json.loads(sys.argv[1])]
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"codes": [r.exit_code for r in runs], "out": [r.output for r in runs], "heavy": heavy}))
"""


def cli(cwd: Path, *commands: list[str]) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-c", CLI, json.dumps(list(commands)), json.dumps(HEAVY)],
        cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_validate_after_an_edit_elsewhere_imports_no_checking_library(project: Path) -> None:
    from mlops.cli.checks import check_spec
    from mlops.cli.spec_warnings import spec_warnings

    spec = project / "deployments" / "cancer.yaml"
    assert check_spec(spec)[1] == []  # the first check (here, in-process) runs every part and remembers it
    spec_warnings(spec)  # and the warnings validate adds (the leak check reads the data: remembered too)

    spec.write_text(spec.read_text().replace("min_improvement: 0.001", "min_improvement: 0.002"))
    again = cli(project, ["validate", str(spec)])
    assert again["codes"] == [0], again["out"]
    assert again["heavy"] == [], f"a promotion edit re-ran deep checks: {again['heavy']}"

    # a params edit re-runs the params check (scikit-learn), not the suite's (GX)
    spec.write_text(spec.read_text().replace("C: 1.0", "C: 2.0"))
    params = cli(project, ["validate", str(spec)])
    assert params["codes"] == [0], params["out"]
    assert "sklearn" in params["heavy"] and "great_expectations" not in params["heavy"]


def test_a_database_checked_before_is_not_scored_again_for_its_leak_warning(project: Path) -> None:
    """A sql source has no cheap identity (the whole table would be read), so its leak warning is remembered by the
    content of the sample it reads: an unchanged table costs that read, not scikit-learn's import and the scoring
    (before, every `mlops validate deployments/` did both for the DuckDB example: ~4 s of CPU); a changed table is
    scored again."""
    from mlops.cli.checks import check_spec
    from mlops.cli.spec_warnings import spec_warnings
    from tests.conftest import cancer_frame, write_duckdb_table

    frame = cancer_frame()[["mean_radius", "mean_texture", "target"]]
    leaky = frame.assign(outcome_code=(frame["target"] == "malignant").astype(int))  # the target, as a number
    write_duckdb_table(project / "data" / "cases.duckdb", "cases", leaky)
    spec = project / "deployments" / "cancer.yaml"
    source = '{kind: sql, url: "duckdb:///data/cases.duckdb", table: cases}'
    spec.write_text(spec.read_text().replace("{kind: csv, path: data/cancer.csv}", source))
    # validate's checks and warnings, here in-process: each part scored once and remembered
    assert check_spec(spec)[1] == []
    assert any("'outcome_code', which is probably a leak" in w for w in spec_warnings(spec))

    again = cli(project, ["validate", str(spec)])
    assert again["codes"] == [0], again["out"]
    assert "'outcome_code', which is probably a leak" in again["out"][0]
    assert "sklearn" not in again["heavy"], "an unchanged table was scored again"

    # the same columns, the leak gone
    write_duckdb_table(
        project / "data" / "cases.duckdb", "cases", leaky.assign(outcome_code=range(len(leaky)))
    )
    changed = cli(project, ["validate", str(spec)])
    assert changed["codes"] == [0], changed["out"]
    assert "probably a leak" not in changed["out"][0]
    assert "sklearn" in changed["heavy"]  # scored again


def parts_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from mlops.cli import checks

    return count_calls(
        monkeypatch, *((checks, p) for p in ("_data_problems", "_suite_problems", "_param_problems"))
    )


def test_each_part_is_checked_again_when_what_it_reads_changes(project: Path, monkeypatch) -> None:
    from mlops.cli.checks import check_spec

    calls = parts_counted(monkeypatch)
    spec = project / "deployments" / "cancer.yaml"
    assert check_spec(spec)[1] == []
    assert sorted(calls) == ["_data_problems", "_param_problems", "_suite_problems"]
    original = spec.read_text()

    calls.clear()
    spec.write_text(original.replace("min_improvement: 0.001", "min_improvement: 0.002"))
    assert check_spec(spec)[1] == [] and calls == []

    spec.write_text(original.replace("target: target", "target: targett"))
    problems = [p.render() for p in check_spec(spec)[1]]
    assert any("column 'targett' is not in the data" in p for p in problems), problems
    assert calls == ["_data_problems"]  # the suite's columns come from the data part's memo

    calls.clear()
    spec.write_text(original.replace("C: 1.0", "C: 1.0, max_iters: 5"))
    problems = [p.render() for p in check_spec(spec)[1]]
    assert any("model.params.max_iters" in p for p in problems) and calls == ["_param_problems"]

    calls.clear()
    spec.write_text(original)
    suite = project / "expectations" / "cancer.json"
    suite.write_text(
        suite.read_text().replace("expect_column_values_to_not_be_null", "expect_column_to_exist_x")
    )
    problems = [p.render() for p in check_spec(spec)[1]]
    assert any("not an expectation type" in p for p in problems) and calls == ["_suite_problems"]

    calls.clear()
    suite.write_text(
        suite.read_text().replace("expect_column_to_exist_x", "expect_column_values_to_not_be_null")
    )
    csv = project / "data" / "cancer.csv"
    csv.write_text(csv.read_text().replace("mean_radius", "radius", 1))
    problems = [p.render() for p in check_spec(spec)[1]]
    assert any("'mean_radius' is not in the data" in p for p in problems), problems
    assert calls == ["_data_problems", "_suite_problems"]  # new data: new columns for the suite check too


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real SQLite database as the MLflow store (rollback-journal mode, as MLflow leaves it)."""
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        con.execute("create table t (x integer)")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    return db


def write(db: Path, value: int, *, wal: bool = False) -> None:
    with contextlib.closing(sqlite3.connect(db)) as con:
        if wal:
            con.execute("pragma journal_mode=wal")
            con.execute("pragma wal_autocheckpoint=0")  # keep the commit in the -wal file
        with con:
            con.execute("insert into t values (?)", (value,))


def test_every_commit_changes_the_stamp_even_with_the_same_size_and_time(sqlite_store: Path) -> None:
    """The stamp is content (SQLite's change counter), not a timestamp: a write that leaves the file's size and
    modification time as they were (what a timestamp stamp could not see, hence its old "racy clean" rules) is seen."""
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import store_stamp

    write(sqlite_store, 1)
    before, stat = store_stamp(get_settings()), sqlite_store.stat()
    assert before is not None
    with contextlib.closing(sqlite3.connect(sqlite_store)) as con, con:
        con.execute("update t set x = 2")  # same size
    os.utime(sqlite_store, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    assert sqlite_store.stat().st_size == stat.st_size
    assert store_stamp(get_settings()) not in (None, before)
    assert store_stamp(get_settings()) == store_stamp(get_settings())  # reading changes nothing


def test_a_store_in_wal_mode_is_never_cached(sqlite_store: Path) -> None:
    """In WAL mode a commit does not move the change counter, so such a store is read live every time rather than
    cached under a stamp that cannot see its writes."""
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import store_stamp

    header = sqlite_store.read_bytes()[:100]
    write(sqlite_store, 1, wal=True)
    write(sqlite_store, 2, wal=True)
    assert store_stamp(get_settings()) is None
    assert header[18] == 1  # the fixture's store (as MLflow leaves it) is in rollback-journal mode


def test_nothing_is_cached_mid_write_or_on_a_file_that_is_no_database(sqlite_store: Path) -> None:
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import store_stamp

    journal = sqlite_store.with_name(sqlite_store.name + "-journal")
    journal.write_bytes(b"j")  # a write under way (or cut short: SQLite rolls it back on the next open)
    assert store_stamp(get_settings()) is None
    journal.unlink()
    assert store_stamp(get_settings()) is not None
    sqlite_store.write_bytes(b"x" * 200)
    assert store_stamp(get_settings()) is None


def test_a_server_store_is_never_snapshotted(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import store_stamp

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store_stamp(get_settings()) is None


# --- commands that read a file import only what reads it (lazy11) -------------------------------------------------


def test_status_and_history_before_any_run_import_no_mlflow_and_create_no_store(project: Path) -> None:
    """No store yet, so no versions: said without MLflow (its import alone is ~2.6 s of CPU), and a read creates
    no store."""
    spec = str(project / "deployments" / "cancer.yaml")
    done = cli(project, ["status", spec], ["history", spec], ["status", spec, "--json"])
    assert done["codes"] == [0, 0, 0], done["out"]
    assert "No versions of 'cancer-model' yet" in done["out"][0] and "No decisions" in done["out"][1]
    assert json.loads(done["out"][2])["champion"] is None
    assert done["heavy"] == [], done["heavy"]
    assert not list(Path(os.environ["MLOPS_HOME"]).glob("mlflow.db*"))


def test_promote_and_rollback_on_the_embedded_store_import_no_prefect(project: Path) -> None:
    """The promotion lock on a store on this machine is a file lock: no Prefect needed to decide that."""
    spec = str(project / "deployments" / "cancer.yaml")
    done = cli(
        project, ["promote", spec, "--version", "1", "--reason", "test"], ["rollback", spec, "--reason", "t"]
    )
    assert done["codes"][0] == 2 and done["codes"][1] != 0, done[
        "out"
    ]  # no such version, no champion: refused
    assert "prefect" not in done["heavy"], done["heavy"]


def test_deploy_check_after_validate_imports_no_prefect(project: Path) -> None:
    """`mlops deploy --check` checks the specs as validate does (remembered) and the schedules with them, once."""
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text() + "schedule:\n  retrain: {cron: '0 3 * * *'}\n")
    first = cli(project, ["validate"], ["deploy", "--write"])
    assert first["codes"] == [0, 0], first["out"]
    assert "prefect" in first["heavy"]  # the first check of the schedule
    again = cli(project, ["deploy", "--check"])
    assert again["codes"] == [0], again["out"]
    assert again["heavy"] == [], again["heavy"]

    spec.write_text(spec.read_text().replace("'0 3 * * *'", "'0 3 * *'"))  # a new schedule: checked, once
    bad = cli(project, ["deploy", "--check"])
    assert bad["codes"] == [2] and bad["out"][0].count("schedule.retrain.cron") == 1, bad["out"]
