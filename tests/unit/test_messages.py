"""Messages are ours, in words (issue 13): no library reprs, every spec problem at once, the fix named."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mlops.errors import DataError
from mlops.spec import load_spec
from mlops.text import shown
from tests.conftest import REPO, spec_problems, spec_text, write_spec


def test_shown_renders_values_for_people_not_as_library_reprs() -> None:
    assert shown(np.int64(0)) == "0"
    assert shown(np.float64(2.5)) == "2.5"
    assert shown(np.bool_(True)) == "true"
    assert shown([np.int64(1), "a", None]) == "[1, 'a', nothing (null)]"
    assert shown(1 / 3) == "0.333333"


def test_a_wrong_type_in_the_spec_shows_the_value_not_its_python_repr(tmp_path: Path) -> None:
    text = spec_text().replace("  target: target\n", "  target: 2013-01-01\n")  # YAML reads a date
    (msg,) = spec_problems(write_spec(tmp_path, text))
    assert "data.target" in msg and "(got 2013-01-01)" in msg
    assert "datetime" not in msg


def test_an_unknown_field_does_not_hide_the_other_problems_of_the_spec(tmp_path: Path) -> None:
    text = (
        spec_text()
        .replace("  min_improvement:", "  min_improvment:")
        .replace("metric: roc_auc", "metric: roc_aux")
    )
    found = spec_problems(write_spec(tmp_path, text))
    assert any("promotion.min_improvment: unknown field" in p for p in found), found
    assert any("promotion.metric: 'roc_aux' is not a metric of classification" in p for p in found), found


def test_a_refused_value_is_not_reported_twice_through_its_default(tmp_path: Path) -> None:
    text = (
        spec_text()
        .replace("strategy: stratified", "strategy: stratifed")
        .replace("  task: classification", "  task: regression")
    )
    found = spec_problems(write_spec(tmp_path, text))
    assert [p for p in found if "data.split.strategy" in p] == [
        next(p for p in found if "'stratifed' is not allowed" in p)
    ], found


def test_an_estimator_off_the_allowlist_gets_the_allowlist_and_how_to_ask_for_more(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, spec_text(estimator="sklearn.svm.SVC")))
    assert "model.estimator: 'sklearn.svm.SVC' is not an allowed estimator" in msg
    assert "sklearn.ensemble.HistGradientBoostingClassifier" in msg
    assert "sklearn.ensemble.HistGradientBoostingRegressor" not in msg  # the spec's task only
    assert "ESTIMATORS in mlops/catalog.py" in msg


def test_a_misspelt_estimator_class_gets_the_nearest_allowed_name(tmp_path: Path) -> None:
    (msg,) = spec_problems(
        write_spec(tmp_path, spec_text(estimator="sklearn.ensemble.RandomForrestClassifier"))
    )
    assert "did you mean 'sklearn.ensemble.RandomForestClassifier'?" in msg


def test_a_suite_listing_the_target_in_the_exact_column_set_is_warned_about() -> None:
    from mlops.cli.spec_warnings import target_in_column_set

    suite = {
        "expectations": [
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["a", "delayed"]}},
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["a"]}},
        ]
    }
    (warning,) = target_in_column_set(suite, "delayed", "expectations/x.json")
    assert "expectation #1" in warning and "lists the target 'delayed'" in warning
    assert "unlabelled batch" in warning


def test_the_example_suite_does_not_stop_unlabelled_batches() -> None:
    from mlops.cli.spec_warnings import spec_warnings

    raw = json.loads((REPO / "expectations" / "flight_delays.json").read_text())
    assert raw["expectations"]  # the suite is read
    assert spec_warnings(REPO / "deployments" / "flight_delays.yaml") == []


def test_a_continuous_classification_target_names_the_target_and_suggests_regression() -> None:
    from tasks.data.checks import continuous_target, continuous_target_message

    y = pd.Series(np.linspace(0.5, 300.25, 300))
    why = continuous_target(y)
    assert why is not None and "300 distinct values" in why
    message = continuous_target_message("price", why)
    assert "'price'" in message and "task: regression" in message
    assert continuous_target(pd.Series([0.0, 1.0, 1.0])) is None  # classes stored as floats are classes
    assert continuous_target(pd.Series(["a", "b"])) is None


def test_a_single_class_target_is_named_without_numpy_reprs(tmp_path: Path) -> None:
    from tasks.data.checks import check_trainable

    loaded = load_spec(write_spec(tmp_path, spec_text()))
    frame = pd.DataFrame({"mean_radius": [1.0, 2.0, 3.0], "target": np.array([0, 0, 0], dtype=np.int64)})
    with pytest.raises(DataError) as info:
        check_trainable(frame, loaded)
    assert "single class (0)" in str(info.value) and "np.int64" not in str(info.value)


def test_a_quality_failure_names_the_missing_column_and_the_fix() -> None:
    from tasks.quality import FailedExpectation, explain_failure

    frame = pd.DataFrame({"distance": [1], "origin": ["JFK"]})
    why = explain_failure("expect_column_values_to_not_be_null", {"column": "distanse"}, None, frame)
    assert "column 'distanse' is not in the data (did you mean 'distance'?)" in why
    failed = FailedExpectation(
        "expect_column_values_to_not_be_null", "distanse", None, None, [], None, {}, why
    )
    assert "observed" not in failed.describe() and "fix or remove this expectation" in failed.describe()


def test_a_column_set_failure_lists_the_missing_and_unexpected_columns() -> None:
    from tasks.quality import explain_failure

    frame = pd.DataFrame(columns=[f"c{i}" for i in range(19)] + ["extra"])
    wanted = [f"c{i}" for i in range(19)] + ["delayed"]
    why = explain_failure("expect_table_columns_to_match_set", {"column_set": wanted}, list(frame), frame)
    assert why.startswith("missing column(s): delayed; column(s) the suite does not list: extra")
    not_exact = {"column_set": wanted, "exact_match": False}
    assert "extra" not in explain_failure("expect_table_columns_to_match_set", not_exact, None, frame)


def test_a_type_failure_names_the_column_its_type_and_the_fix() -> None:
    from tasks.quality import explain_failure

    frame = pd.DataFrame({"temp": ["12"]})
    why = explain_failure(
        "expect_column_values_to_be_of_type", {"column": "temp", "type_": "float64"}, "object", frame
    )
    assert "column 'temp' holds object, expected float64" in why and "convert the column" in why


def test_the_summary_names_the_winning_candidate_and_each_validation_score() -> None:
    from tasks.report import candidate_lines, candidate_scores

    tried = [
        SimpleNamespace(params={"C": 0.01, "max_iter": 500}, metric="roc_auc", value=0.61),
        SimpleNamespace(params={"C": 1.0, "max_iter": 500}, metric="roc_auc", value=0.83),
        SimpleNamespace(params={"C": 9.0, "max_iter": 500}, metric="roc_auc", value=float("nan")),
    ]
    scores = candidate_scores(tried, "maximize")
    assert [c.chosen for c in scores] == [False, True, False]
    lines = candidate_lines(SimpleNamespace(candidates=scores))  # type: ignore[arg-type]
    assert "candidate #2 won" in lines[0]
    assert lines[1:] == [
        "  #1 C=0.01: validation roc_auc 0.6100",
        "  #2 C=1.0: validation roc_auc 0.8300  <- chosen",
        "  #3 C=9.0: validation roc_auc not computed",
    ]


def test_a_refused_bound_does_not_also_count_as_a_missing_one(tmp_path: Path) -> None:
    text = spec_text().replace("{metric: recall, max_drop: 0.05}", "{metric: recall, max_drop: -1}")
    text = text.replace("metric: roc_auc\n", "metric: roc_aux\n")
    found = spec_problems(write_spec(tmp_path, text))
    assert any(
        "guardrails[0].max_drop: input should be greater than or equal to 0 (got -1)" in p for p in found
    )
    # the metric was hidden behind the schema error before
    assert any("promotion.metric: 'roc_aux'" in p for p in found), found
    assert not any("a guardrail needs max_drop, min or max" in p for p in found), found
