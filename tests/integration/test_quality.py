"""Real Great Expectations on real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

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


def numbers_with_five_bad_values(tmp_path: Path) -> pd.DataFrame:
    """1,057 rows of a numeric column in a CSV, 5 of them not numbers: pandas reads the whole column as text."""
    frame = pd.DataFrame({"speed": [float(i % 90) + 0.5 for i in range(1057)], "other": range(1057)})
    frame["speed"] = frame["speed"].astype(object)
    frame.loc[[3, 200, 400, 700, 1000], "speed"] = ["?", "unknown", "?", "1,5", "--"]
    frame.loc[[10, 11], "speed"] = None
    frame.to_csv(tmp_path / "batch.csv", index=False)
    read = pd.read_csv(tmp_path / "batch.csv")
    assert pd.api.types.is_object_dtype(read["speed"])
    return read


def numeric_suite(mostly: float | None) -> dict:
    extra = {} if mostly is None else {"mostly": mostly}
    return {
        "name": "speeds",
        "expectations": [
            {"type": "expect_column_values_to_be_in_type_list",
             "kwargs": {"column": "speed", "type_list": ["int64", "float64"], **extra}},
            {"type": "expect_column_values_to_be_between",
             "kwargs": {"column": "speed", "min_value": 0, "max_value": 100, **extra}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "other", **extra}},
        ],
    }  # fmt: skip


def test_a_numeric_column_with_five_bad_values_counts_five_failed_rows_not_every_row(tmp_path: Path) -> None:
    from tasks.quality_chunks import validate_chunks

    frame = numbers_with_five_bad_values(tmp_path)
    strict = write_suite(tmp_path, numeric_suite(None))
    outcome = quality.run_suite(frame, strict)
    assert not outcome.success and [f.type for f in outcome.failed] == [
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_between",
    ]
    for failed in outcome.failed:  # was: 1,057 unexpected rows (100.00%); the range: observed nothing (null)
        assert failed.unexpected_count == 5 and failed.examples[:5] == ["?", "unknown", "?", "1,5", "--"]
        assert f"{failed.unexpected_percent:.2f}" == f"{100 * 5 / 1055:.2f}"  # of the 1,055 non-null values
    assert "speed': 5 unexpected rows (0.47%), e.g. '?', 'unknown', '?'" in outcome.message()
    # chunk by chunk (predict's gate), whatever the chunks' own types: the same rows
    chunks = [frame.iloc[:300].copy(), frame.iloc[300:].copy()]
    chunks[0]["speed"] = pd.to_numeric(chunks[0]["speed"], errors="coerce")  # a chunk of only numbers
    chunks[0].loc[[3, 200], "speed"] = ["?", "unknown"]  # ... but its two bad values: text again
    checked = validate_chunks(chunks, strict, "target", 300)
    assert checked.outcome is not None and not checked.outcome.success
    assert [(f.unexpected_count, f.examples[0]) for f in checked.outcome.failed] == [(5, "?"), (5, "?")]
    # tolerated: 5 of 1,055 is under 1%
    tolerant = write_suite(tmp_path, numeric_suite(0.99))
    assert quality.run_suite(frame, tolerant).success
    assert validate_chunks(chunks, tolerant, "target", 300).outcome.success  # type: ignore[union-attr]
    # ... until the bad share passes the tolerance
    frame.loc[20:40, "speed"] = "n.a."
    stopped = quality.run_suite(frame, tolerant)
    assert not stopped.success and {f.unexpected_count for f in stopped.failed} == {26}


def test_a_column_of_text_only_is_still_text_to_a_numeric_type_expectation(tmp_path: Path) -> None:
    frame = pd.DataFrame({"speed": ["fast", "slow"] * 50, "other": range(100)})
    outcome = quality.run_suite(frame, write_suite(tmp_path, numeric_suite(0.99)))
    by_type = {f.type: f for f in outcome.failed}
    assert by_type["expect_column_values_to_be_in_type_list"].unexpected_count == 100
    # numbers stored as text, every one of them (a Parquet column of another type): every row is of the wrong type
    as_text = pd.DataFrame({"speed": [f"{i}.5" for i in range(100)], "other": range(100)})
    outcome = quality.run_suite(as_text, write_suite(tmp_path, numeric_suite(0.99)))
    by_type = {f.type: f for f in outcome.failed}
    assert by_type["expect_column_values_to_be_in_type_list"].unexpected_count == 100
