"""`mlops init`'s pure decisions: task, split, metric from the target's profile, the features, and the suite a
careful person would write (no pinned means or column set, ranges with a margin, value sets only when small)."""

from __future__ import annotations

import pytest

from mlops.catalog import METRICS
from mlops.init_policy import (
    ColumnProfile,
    InitRefused,
    choose_metric,
    choose_split,
    choose_task,
    plan,
    spec_name,
    suite_document,
    widened,
)


def text_target(values: list[str], rows: int = 500, smallest: int = 100) -> ColumnProfile:
    return ColumnProfile("y", "text", rows, distinct=len(values), values=values, smallest=smallest)


def number(
    name: str, rows: int = 500, distinct: int = 400, integer: bool = False, **kw: object
) -> ColumnProfile:
    return ColumnProfile(name, "numeric", rows, distinct=distinct, integer=integer, **kw)  # type: ignore[arg-type]


def test_text_or_few_valued_targets_are_classification_and_continuous_ones_regression() -> None:
    assert choose_task(text_target(["no", "yes"])).value == "classification"
    assert choose_task(number("y", distinct=2, values=[0, 1], integer=True)).value == "classification"
    assert choose_task(number("y", distinct=7, integer=True, values=list(range(7)))).value == "classification"
    regression = choose_task(number("y", distinct=214, integer=True))
    assert regression.value == "regression" and "214 distinct values" in regression.why
    fractional = number("y", distinct=15, integer=False)  # few values, but not whole numbers: a quantity
    assert choose_task(fractional).value == "regression"


def test_binary_gets_roc_auc_multiclass_balanced_accuracy_regression_rmse() -> None:
    assert choose_metric("classification", text_target(["a", "b"])).value == "roc_auc"
    assert choose_metric("classification", text_target(["a", "b", "c"])).value == "balanced_accuracy"
    assert choose_metric("regression", number("y")).value == "rmse"
    for metric, task in (("roc_auc", "classification"), ("balanced_accuracy", "classification"),
                         ("rmse", "regression")):  # fmt: skip
        assert METRICS[metric][0] == task  # every choice is a metric of its task in the catalog


def test_split_is_time_with_a_time_column_else_stratified_or_random() -> None:
    target = text_target(["a", "b"], smallest=200)
    assert choose_split("classification", target, "day").value == "time"
    assert choose_split("regression", number("y"), "day").value == "time"
    assert choose_split("classification", target, None).value == "stratified"
    assert choose_split("regression", number("y"), None).value == "random"
    rare = choose_split("classification", text_target(["a", "b"], smallest=4), None)
    assert rare.value == "random" and "rarest class has 4 rows" in rare.why


def test_plan_picks_features_and_leaves_out_identifiers_and_the_time_column() -> None:
    columns = [
        number("row", integer=True, identifier=True),
        number("x"),
        ColumnProfile("colour", "text", 500, distinct=3, values=["b", "g", "r"]),
        ColumnProfile("flag", "bool", 500, distinct=2, values=[False, True]),
        ColumnProfile("day", "time", 500),
        ColumnProfile("blank", "numeric", 500, nulls=500),
        text_target(["no", "yes"]),
    ]
    p = plan(columns, "y", "day")
    assert (p.numeric, p.categorical) == (["x"], ["colour", "flag"])
    assert [c.value for c in p.left_out] == ["row", "blank"]
    assert (p.task.value, p.split.value, p.metric.value) == ("classification", "time", "roc_auc")
    assert p.estimator.value == "sklearn.ensemble.HistGradientBoostingClassifier"


@pytest.mark.parametrize(
    ("columns", "target", "time_column", "says"),
    [
        (
            [number("x"), ColumnProfile("target", "text", 500, distinct=2)],
            "targt",
            None,
            "did you mean 'target'",
        ),
        ([number("x"), text_target(["a", "b"])], "y", "x", "does not hold dates"),
        ([number("x"), text_target(["a", "b"])], "y", "y", "the same column"),
        ([number("x"), text_target(["a"])], "y", None, "a single value ('a')"),
        (
            [number("x"), ColumnProfile("y", "text", 500, distinct=480)],
            "y",
            None,
            "an identifier or free text",
        ),
        ([number("x"), ColumnProfile("y", "numeric", 500, nulls=500)], "y", None, "no values"),
        ([text_target(["a", "b"])], "y", None, "no column besides the target"),
        ([number("x", rows=5), text_target(["a", "b"], rows=5)], "y", None, "at least 20"),
    ],
)
def test_plan_refuses_what_cannot_start_a_pipeline(
    columns: list[ColumnProfile], target: str, time_column: str | None, says: str
) -> None:
    with pytest.raises(InitRefused, match=says.replace("(", r"\(").replace(")", r"\)")) as exc:
        plan(columns, target, time_column)
    assert exc.value.exit_code == 2


def test_ranges_are_widened_rounded_outwards_and_keep_a_floor_of_zero() -> None:
    assert widened(19, 79, integer=True) == (13, 85)
    low, high = widened(6.981, 28.11, integer=False)
    assert low < 6.981 - 2 and high > 28.11 + 2 and low == 4 and high == 31
    assert widened(0.001, 0.05, integer=False)[0] == 0  # never below 0 when the data never was
    low, high = widened(-3.0, 3.0, integer=False)
    assert low <= -3.6 and high >= 3.6
    assert widened(5, 5, integer=True) == (4, 6)  # a constant column still gets a range around it


def test_the_suite_checks_what_must_hold_not_every_statistic() -> None:
    columns = [
        number("x", minimum=1.5, maximum=9.5),
        number("count", integer=True, distinct=40, minimum=0, maximum=40, nulls=3),
        number("sex", integer=True, distinct=2, values=[1, 2], minimum=1, maximum=2),
        ColumnProfile("colour", "text", 500, distinct=3, values=["b", "g", "r"]),
        ColumnProfile("city", "text", 500, distinct=300),
        ColumnProfile("day", "time", 500),
        text_target(["no", "yes"]),
    ]
    p = plan(columns, "y", "day")
    suite = suite_document("demo", columns, "y", "day", p)
    by = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    kinds = {e["type"] for e in suite["expectations"]}
    assert not any("mean" in k or "stdev" in k or "ordered_list" in k for k in kinds)
    match = by[("expect_table_columns_to_match_set", None)]
    assert match["exact_match"] is False and "y" not in match["column_set"]  # an unlabelled batch passes
    assert ("expect_column_values_to_not_be_null", "x") in by
    assert ("expect_column_values_to_not_be_null", "count") not in by  # the data has nulls there
    assert ("expect_column_values_to_not_be_null", "y") not in by  # max_missing_target_share owns that
    assert ("expect_column_values_to_not_be_null", "day") in by
    assert by[("expect_column_values_to_be_between", "x")] == {
        "column": "x",
        "min_value": 0.7,
        "max_value": 10.3,
        "mostly": 0.99,  # a few bad rows go to predict's rejects file; more stop the batch
    }
    assert by[("expect_column_values_to_be_in_set", "sex")]["value_set"] == [1, 2]
    assert ("expect_column_values_to_be_between", "sex") not in by
    assert by[("expect_column_values_to_be_in_set", "colour")]["value_set"] == ["b", "g", "r"]
    assert ("expect_column_values_to_be_in_set", "city") not in by  # too many distinct values for a set
    assert by[("expect_column_values_to_be_in_set", "y")]["value_set"] == ["no", "yes"]
    assert by[("expect_table_row_count_to_be_between", None)] == {"min_value": 30}


def test_spec_names_come_from_file_names() -> None:
    assert spec_name("Flight Delays 2013") == "flight-delays-2013"
    assert spec_name("__x__") == "x"
    assert spec_name("!!!") == ""


def test_a_time_split_says_the_share_it_really_holds_out_and_warns_when_far_from_asked() -> None:
    columns = [number("x"), ColumnProfile("year", "time", 500, distinct=6), text_target(["no", "yes"])]
    p = plan(columns, "y", "year", held_share=0.34)
    assert "the latest 34% of the rows is held out" in p.split.why
    (warning,) = p.warnings
    assert "holds out 34% of the rows, not the 20% asked" in warning
    assert "'year' has 6 distinct values" in warning and "finer time column" in warning
    assert "strategy: random" in warning
    close = plan(columns, "y", "year", held_share=0.21)  # a point off: said, not warned
    assert "the latest 21% of the rows" in close.split.why and close.warnings == []


def test_features_a_careful_person_would_leave_out_each_with_the_figure_that_decided() -> None:
    from mlops.init_policy import Alone

    rows = 1000
    columns = [
        number("case_id", rows=rows, distinct=990, integer=True),  # 99% distinct whole numbers: an id
        number("amount", rows=rows, distinct=990),  # 99% distinct fractions: a measurement, kept
        number("severity", rows=rows, distinct=4, integer=True, values=[1, 2, 3, 4]),
        number("x", rows=rows, distinct=700),
        ColumnProfile(
            "date", "time", rows, distinct=400, text_time=True, first="2020-01-01", last="2021-02-04"
        ),
        ColumnProfile("notes", "text", rows, nulls=200, distinct=600),  # free text with blanks
        ColumnProfile("road", "text", rows, nulls=100, distinct=3, values=["dry", "icy", "wet"]),
        ColumnProfile("ref", "text", rows, distinct=1000),
        ColumnProfile("const", "text", rows, distinct=1, values=["same"]),
        ColumnProfile("mixed", "other", rows, distinct=40),
        text_target(["no", "yes"], rows=rows),
    ]
    alone = {
        "severity": Alone("roc_auc", 0.986, 1000),
        "x": Alone("roc_auc", 0.71, 1000),
        "amount": Alone("roc_auc", 0.64, 1000),
        "road": Alone("roc_auc", 0.55, 1000),
    }
    p = plan(columns, "y", None, alone=alone)
    assert (p.numeric, p.categorical) == (["amount", "x"], ["road"])
    why = {c.value: c.why for c in p.left_out}
    assert why["case_id"].startswith("an identifier (990 distinct values in 1,000 rows: 99% distinct, >= 95%")
    assert why["ref"].startswith("an identifier (1,000 distinct values")
    assert why["severity"].startswith(
        "probably a leak: alone it predicts 'y' with ROC AUC 0.986 on a holdout"
    )
    assert "next best column alone reaches 0.710" in why["severity"] and "--keep severity" in why["severity"]
    assert why["date"].startswith(
        "dates or times written as text (400 distinct values, 2020-01-01 to 2021-02-04)"
    )
    assert "not a category; give --time-column date" in why["date"]
    assert why["notes"].startswith("free text (600 distinct values in 800 rows, 200 blank: 75% distinct")
    assert why["const"] == "a constant: every row holds the same value ('same')"
    assert why["mixed"].startswith("mixed values")
    # --keep and --drop override, and say what they overrode
    p = plan(columns, "y", None, alone=alone, keep=("severity", "notes"), drop=("x",))
    assert (p.numeric, p.categorical) == (["amount", "severity"], ["notes", "road"])
    kept = {c.value: c.why for c in p.kept}
    assert kept["severity"].startswith(
        "--keep, as a numeric feature (it would have been left out: probably a leak"
    )
    assert {c.value: c.why for c in p.left_out}[
        "x"
    ] == "--drop (it would have been used as a numeric feature)"
    with pytest.raises(
        InitRefused, match="--keep 'sevrity' is not a column of the data; did you mean 'severity'"
    ):
        plan(columns, "y", None, keep=("sevrity",))
    with pytest.raises(InitRefused, match="--drop 'y' names the target"):
        plan(columns, "y", None, drop=("y",))
    with pytest.raises(InitRefused, match="--keep and --drop both name 'x'"):
        plan(columns, "y", None, keep=("x",), drop=("x",))


def test_a_leak_is_a_column_far_ahead_of_the_others_or_almost_certain() -> None:
    from mlops.init_policy import Alone, probable_leaks

    # a tumour's perimeter predicts well, with honest company close behind: no leak
    honest = {"perimeter": Alone("roc_auc", 0.968, 569), "area": Alone("roc_auc", 0.949, 569)}
    assert probable_leaks(honest, "y") == {}
    assert set(probable_leaks({**honest, "outcome_code": Alone("roc_auc", 0.999, 569)}, "y")) == {
        "outcome_code"
    }
    ahead = probable_leaks({"refund": Alone("r2", 0.93, 800), "price": Alone("r2", 0.4, 800)}, "y")
    assert list(ahead) == ["refund"] and "R2 0.930" in ahead["refund"] and "R2 >= 0.9" in ahead["refund"]
    assert probable_leaks({"x": Alone("r2", 0.85, 800)}, "y") == {}
