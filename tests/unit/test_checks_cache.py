"""`mlops validate` skips the deep checks (GX, scikit-learn, Evidently's registry, the data read) for inputs that
passed before, and only for those: any change to the spec, the suite or the data runs the part that reads it
again (mlops/cli/check_memo.py; which part re-runs for which edit: tests/unit/test_fast_commands.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops.cli import check_memo, checks
from tests.conftest import count_calls

PARTS = ("_data_problems", "_suite_problems", "_param_problems")


def deep_checks_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import mlops.cli.stattest_check as stattest_check

    return count_calls(monkeypatch, *((checks, p) for p in PARTS), (stattest_check, "stattest_problems"))


def test_unchanged_inputs_are_checked_once(project: Path, isolated_home: Path, monkeypatch) -> None:
    calls = deep_checks_counted(monkeypatch)
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1] == []
    assert sorted(calls) == sorted([*PARTS, "stattest_problems"])
    calls.clear()
    assert checks.check_spec(spec)[1] == []
    assert calls == []
    assert (isolated_home / check_memo.FILE).exists()


def test_stattests_are_checked_again_when_the_monitoring_methods_change(project: Path, monkeypatch) -> None:
    calls = deep_checks_counted(monkeypatch)
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1] == []
    calls.clear()
    spec.write_text(spec.read_text() + "monitoring:\n  column_methods: {mean_radius: wassersteinn}\n")
    problems = [p.render() for p in checks.check_spec(spec)[1]]
    assert any("'wassersteinn' is not an Evidently stattest" in p for p in problems), problems
    assert calls == ["stattest_problems"]


@pytest.mark.parametrize("change", ["suite", "data", "spec", "params"])
def test_any_change_runs_the_checks_again(project: Path, monkeypatch, change: str) -> None:
    calls = deep_checks_counted(monkeypatch)
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1] == []
    calls.clear()
    params = None
    if change == "suite":
        suite = project / "expectations" / "cancer.json"
        suite.write_text(suite.read_text().replace('"mean_radius"', '"mean_radiuss"', 1))
    elif change == "data":
        csv = project / "data" / "cancer.csv"
        before = csv.stat()
        text = csv.read_text()
        csv.write_text(text.replace("mean_radius", "mean_radiux", 1))  # same size
        os.utime(csv, ns=(before.st_atime_ns, before.st_mtime_ns))  # same modification time: content decides
    elif change == "spec":
        spec.write_text(spec.read_text().replace("max_iter: 500", "max_iters: 500"))
    else:
        params = {"C": -1.0}
    _, problems = checks.check_spec(spec, params)
    assert problems, f"a {change} change must be checked again"
    assert calls, f"a {change} change ran no deep check"


def test_failed_checks_are_not_remembered(project: Path, isolated_home: Path, monkeypatch) -> None:
    calls = deep_checks_counted(monkeypatch)
    (project / "expectations" / "cancer.json").write_text("{oops")
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1]
    calls.clear()
    assert checks.check_spec(spec)[1]
    assert calls == ["_suite_problems"]  # the failing part runs again; the parts that passed do not


def test_data_past_the_hash_limit_is_checked_each_time(project: Path, monkeypatch) -> None:
    """Hashing more than HASH_LIMIT bytes costs more than the head read the data checks make: no key, the
    checks run."""
    from mlops.spec import load_spec

    loaded = load_spec(project / "deployments" / "cancer.yaml")
    assert check_memo.data_key(loaded) is not None
    monkeypatch.setattr(check_memo, "HASH_LIMIT", 10)
    assert check_memo.data_key(loaded) is None
