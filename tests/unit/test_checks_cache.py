"""`mlops validate` skips the deep checks (GX, scikit-learn, the data read) for inputs that passed before, and
only for those: any change to the spec, the suite or the data runs them again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops.cli import checks


def deep_checks_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = checks._references

    def counted(loaded):  # type: ignore[no-untyped-def]
        calls.append(str(loaded.path))
        return real(loaded)

    monkeypatch.setattr(checks, "_references", counted)
    return calls


def test_unchanged_inputs_are_checked_once(project: Path, isolated_home: Path, monkeypatch) -> None:
    calls = deep_checks_counted(monkeypatch)
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1] == []
    assert checks.check_spec(spec)[1] == []
    assert len(calls) == 1
    assert len(json.loads((isolated_home / checks.CACHE_FILE).read_text())) == 1


@pytest.mark.parametrize("change", ["suite", "data", "spec", "params"])
def test_any_change_runs_the_checks_again(project: Path, monkeypatch, change: str) -> None:
    calls = deep_checks_counted(monkeypatch)
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1] == []
    params = None
    if change == "suite":
        suite = project / "expectations" / "cancer.json"
        suite.write_text(suite.read_text().replace('"mean_radius"', '"mean_radiuss"', 1))
    elif change == "data":
        csv = project / "data" / "cancer.csv"
        text = csv.read_text()
        csv.write_text(text.replace("mean_radius", "radius", 1))
        os.utime(csv, ns=(csv.stat().st_atime_ns, csv.stat().st_mtime_ns + 1_000_000))
    elif change == "spec":
        spec.write_text(spec.read_text().replace("max_iter: 500", "max_iters: 500"))
    else:
        params = {"C": -1.0}
    _, problems = checks.check_spec(spec, params)
    assert problems, f"a {change} change must be checked again"
    assert len(calls) == 2 or change == "spec"  # a schema error stops before the deep checks


def test_failed_checks_are_not_remembered(project: Path, isolated_home: Path, monkeypatch) -> None:
    calls = deep_checks_counted(monkeypatch)
    (project / "expectations" / "cancer.json").write_text("{oops")
    spec = project / "deployments" / "cancer.yaml"
    assert checks.check_spec(spec)[1] and checks.check_spec(spec)[1]
    assert len(calls) == 2 and not (isolated_home / checks.CACHE_FILE).exists()
