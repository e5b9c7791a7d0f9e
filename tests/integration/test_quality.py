"""Real Great Expectations on real data."""

from __future__ import annotations

import json
from pathlib import Path

from tasks import quality
from tests.conftest import SUITE, cancer_frame


def write_suite(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    return path


def test_good_batch_passes(tmp_path: Path) -> None:
    outcome = quality.run_suite(cancer_frame(), write_suite(tmp_path, SUITE))
    assert outcome.success and outcome.evaluated == 3 and outcome.failed == []


def test_broken_batch_lists_failed_expectations_with_counts(tmp_path: Path) -> None:
    frame = cancer_frame()
    frame.loc[:9, "mean_radius"] = None
    frame.loc[10:14, "mean_radius"] = 500.0
    frame.loc[15:16, "target"] = "unknown"
    out = quality.validate(frame, write_suite(tmp_path, SUITE), tmp_path / "reports")
    assert not out.success and out.passed == 0
    by_type = {f.type: f for f in out.failed}
    assert by_type["expect_column_values_to_not_be_null"].unexpected_count == 10
    assert by_type["expect_column_values_to_be_between"].unexpected_count == 5
    assert by_type["expect_column_values_to_be_in_set"].examples[:2] == ["unknown", "unknown"]
    report = Path(out.report_path).read_text()
    assert (
        "FAILED 3 of 3 expectations" in report
        and "| expect_column_values_to_be_between | mean_radius | 5 " in report
    )
    assert (
        "mean_radius: 5 unexpected rows" in out.message()
        or "on 'mean_radius': 5 unexpected rows" in out.message()
    )


def test_suite_problems_are_named(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    (p,) = quality.check_suite("s.yaml", "quality.suite", bad_json, None)
    assert "not valid JSON (line 1" in p.render()

    unknown = write_suite(tmp_path, {"name": "x", "expectations": [{"type": "expect_magic", "kwargs": {}}]})
    (p,) = quality.check_suite("s.yaml", "quality.suite", unknown, None)
    assert "GX rejects the suite" in p.render() and "expect_magic" in p.render()

    (p,) = quality.check_suite(
        "s.yaml", "quality.suite", write_suite(tmp_path, SUITE), ["mean_radiu", "target"]
    )
    assert "column 'mean_radius' is not in the data; did you mean 'mean_radiu'?" in p.render()

    (p,) = quality.check_suite("s.yaml", "quality.suite", tmp_path / "missing.json", None)
    assert "does not exist" in p.render()


def test_shipped_suites_are_valid_and_match_their_data() -> None:
    from mlops.cli.checks import check_spec
    from tests.conftest import REPO

    for spec in sorted((REPO / "deployments").glob("*.yaml")):
        loaded, problems = check_spec(spec)
        assert loaded is not None and problems == [], problems
