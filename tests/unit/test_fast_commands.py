"""Commands that answer at once (issue 15): `mlops validate` after an edit re-runs only the checks that read what
changed, so an edit that touches neither the data, the suite nor the params imports no Great Expectations, no
scikit-learn and not even pandas; and the registry snapshot behind `mlops status`/`mlops history` is only saved
under a stamp no later write can share. Fresh processes, no timing: what they import is what they cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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

    spec = project / "deployments" / "cancer.yaml"
    assert check_spec(spec)[1] == []  # the first check (here, in-process) runs every part and remembers it

    spec.write_text(spec.read_text().replace("min_improvement: 0.001", "min_improvement: 0.002"))
    again = cli(project, ["validate", str(spec)])
    assert again["codes"] == [0], again["out"]
    assert again["heavy"] == [], f"a promotion edit re-ran deep checks: {again['heavy']}"

    # a params edit re-runs the params check (scikit-learn), not the suite's (GX)
    spec.write_text(spec.read_text().replace("C: 1.0", "C: 2.0"))
    params = cli(project, ["validate", str(spec)])
    assert params["codes"] == [0], params["out"]
    assert "sklearn" in params["heavy"] and "great_expectations" not in params["heavy"]


def parts_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from mlops.cli import checks

    calls: list[str] = []
    for part in ("_data_problems", "_suite_problems", "_param_problems"):
        real = getattr(checks, part)

        def counted(*args, _real=real, _part=part):  # type: ignore[no-untyped-def]
            calls.append(_part)
            return _real(*args)

        monkeypatch.setattr(checks, part, counted)
    return calls


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
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(b"x" * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    return db


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_store_written_just_now_is_not_settled(sqlite_store: Path) -> None:
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import SETTLE_SECONDS, store_stamp

    fresh, settled = store_stamp(get_settings())
    assert fresh and not settled  # a write in this clock tick could still follow under the same stamp
    age(sqlite_store, SETTLE_SECONDS + 5)
    aged, settled = store_stamp(get_settings())
    assert settled and aged != fresh


def test_any_write_changes_the_stamp(sqlite_store: Path) -> None:
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import store_stamp

    age(sqlite_store, 60)
    before = store_stamp(get_settings())[0]
    stat = sqlite_store.stat()
    sqlite_store.write_bytes(b"y" * 100)  # same size, then the same modification time
    os.utime(sqlite_store, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert store_stamp(get_settings())[0] == before  # what a stamp cannot see, hence the settle rule
    wal = sqlite_store.with_name(sqlite_store.name + "-wal")
    wal.write_bytes(b"w")  # a commit in WAL mode writes only the -wal file
    assert store_stamp(get_settings())[0] != before
    sqlite_store.write_bytes(b"y" * 101)
    assert store_stamp(get_settings())[0] != before


def test_a_server_store_is_never_snapshotted(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import store_stamp

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store_stamp(get_settings()) == (None, False)


def test_the_settle_time_follows_the_filesystems_timestamp_resolution(sqlite_store: Path) -> None:
    from mlops.settings import get_settings
    from tasks.tracking.snapshot import FINE_SETTLE_SECONDS, SETTLE_SECONDS, settle_seconds, store_stamp

    assert settle_seconds(1_700_000_000_000_000_000) == SETTLE_SECONDS  # whole seconds: FAT, ext3, HFS+
    assert settle_seconds(1_700_000_000_123_456_789) == FINE_SETTLE_SECONDS
    then = time.time_ns() - int(0.5 * 1e9)
    fine = then - then % 1_000_000_000 + 123_456_789
    fine = fine if fine < then else fine - 1_000_000_000  # half a second or more ago, not on a whole second
    os.utime(sqlite_store, ns=(fine, fine))
    assert store_stamp(get_settings())[1] is True
    whole = then - then % 1_000_000_000  # at most 1.5 s ago, on a whole second
    os.utime(sqlite_store, ns=(whole, whole))
    assert store_stamp(get_settings())[1] is False
