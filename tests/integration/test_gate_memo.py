"""Issue 15: the gate's passes remembered (tasks/quality_memo.py). The same data checked again with the same suite
reuses the pass and does not run GX; any change to what the outcome depends on runs the suite; a failure is never
remembered. Real GX on real data; the count of suite runs is taken on our own `run_suite`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tasks import quality, quality_memo
from tests.conftest import SUITE, cancer_frame


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """MLOPS_HOME in tmp_path; each real GX run of a suite appends to the returned list."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    seen: list[int] = []
    real = quality.run_suite

    def counted(*args: object, **kwargs: object) -> quality.ValidationOutcome:
        seen.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(quality, "run_suite", counted)
    return seen


def suite_file(tmp_path: Path, suite: dict | None = None) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite or SUITE))
    return path


def test_the_same_data_and_suite_pass_once_and_the_second_check_says_gx_did_not_run(
    runs: list[int], tmp_path: Path
) -> None:
    suite, reports = suite_file(tmp_path), tmp_path / "reports"
    first = quality_memo.validate(cancer_frame(), suite, reports)
    second = quality_memo.validate(cancer_frame(), suite, reports)
    assert first.success and not first.reused_from and len(runs) == 1
    assert second.success and second.reused_from and second.evaluated == first.evaluated == 3
    assert second.rows == first.rows and second.suite == first.suite
    assert "GX not run again" in second.headline()
    report = Path(second.report_path or "").read_text()
    assert second.report_path != first.report_path and "GX not run again" in report


@pytest.mark.parametrize(
    "change",
    [
        "one value",
        "a dtype",
        "a column name",
        "the suite",
        "the skipped columns",
        "a type in an object column",
    ],
)
def test_any_change_to_what_the_outcome_depends_on_runs_the_suite_again(
    change: str, runs: list[int], tmp_path: Path
) -> None:
    suite, reports = suite_file(tmp_path), tmp_path / "reports"
    frame = cancer_frame()
    quality_memo.validate(frame, suite, reports)
    frame, skip = frame.copy(), ()
    if change == "one value":
        frame.loc[0, "mean_radius"] = frame.loc[0, "mean_radius"] + 0.001
    elif change == "a dtype":
        frame["mean_texture"] = frame["mean_texture"].astype("float32")
    elif change == "a column name":
        frame = frame.rename(columns={"mean_texture": "mean_texture_2"})
    elif change == "the suite":
        edited = dict(SUITE, meta={"edited": True})
        suite = suite_file(tmp_path, edited)
    elif change == "a type in an object column":
        frame["flag"] = pd.Series(1, index=frame.index, dtype=object)
        quality_memo.validate(frame, suite, reports)  # remembered with ints in the object column
        frame["flag"] = pd.Series("1", index=frame.index, dtype=object)  # the content hash reads "1" as 1
        runs.pop()
    else:
        skip = ("target",)
    again = quality_memo.validate(frame, suite, reports, skip_columns=skip)
    assert len(runs) == 2 and not again.reused_from


def test_a_failure_is_not_remembered_and_fails_again_with_its_details(
    runs: list[int], tmp_path: Path
) -> None:
    suite, reports = suite_file(tmp_path), tmp_path / "reports"
    frame = cancer_frame()
    frame.loc[:9, "mean_radius"] = None
    first = quality_memo.validate(frame, suite, reports)
    second = quality_memo.validate(frame, suite, reports)
    assert not first.success and not second.success and len(runs) == 2
    assert not second.reused_from and second.failed and "FAILED" in second.headline()


def test_a_damaged_memo_file_only_costs_a_gx_run(runs: list[int], tmp_path: Path) -> None:
    suite, reports = suite_file(tmp_path), tmp_path / "reports"
    quality_memo.validate(cancer_frame(), suite, reports)
    memo = tmp_path / "home" / quality_memo.FILE
    saved = json.loads(memo.read_text())
    memo.write_text(json.dumps({key: {"rows": "many"} for key in saved}))
    again = quality_memo.validate(cancer_frame(), suite, reports)
    assert again.success and not again.reused_from and len(runs) == 2
    memo.write_text("not json")
    assert quality_memo.validate(cancer_frame(), suite, reports).success and len(runs) == 3


def test_a_suite_that_checks_the_rows_order_is_not_remembered(runs: list[int], tmp_path: Path) -> None:
    """The memo's key is the rows' content in any order; a pass of an order check on sorted rows must not be
    reused for the same rows in another order, which fail it."""
    order_check = {"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "mean_radius"}}
    suite = suite_file(tmp_path, {**SUITE, "expectations": [*SUITE["expectations"], order_check]})
    reports = tmp_path / "reports"
    ascending = (
        cancer_frame().sort_values("mean_radius").drop_duplicates("mean_radius").reset_index(drop=True)
    )
    assert quality_memo.validate(ascending, suite, reports).success
    descending = ascending.iloc[::-1].reset_index(drop=True)
    again = quality_memo.validate(descending, suite, reports)
    assert not again.success and not again.reused_from and len(runs) == 2
