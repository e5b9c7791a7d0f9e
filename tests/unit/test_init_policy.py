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
