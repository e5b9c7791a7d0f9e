"""What a new user trips over (issue 13), through the real CLI in-process, real GX and real scikit-learn: every
problem at once, the fix named, --param blamed on the option, the winning candidate shown."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.conftest import edit_spec

pytestmark = pytest.mark.integration


def flat(text: str) -> str:
    return " ".join(text.split())


def test_validate_reports_every_problem_behind_an_unknown_field_and_a_disallowed_estimator(
    project: Path,
) -> None:
    spec = edit_spec(project, "  min_improvement:", "  min_improvment:")
    edit_spec(project, "sklearn.linear_model.LogisticRegression", "sklearn.svm.SVC")
    edit_spec(project, "  target: target\n", "  target: target\n  features: {numeric: [mean_radiuss]}\n")
    suite = json.loads((project / "expectations" / "cancer.json").read_text())
    suite["expectations"].append(
        {"type": "expect_column_values_to_not_be_nul", "kwargs": {"column": "target"}}
    )
    (project / "expectations" / "cancer.json").write_text(json.dumps(suite))

    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    err = flat(result.stderr)
    assert "promotion.min_improvment: unknown field" in err
    assert "model.estimator: 'sklearn.svm.SVC' is not an allowed estimator" in err
    assert (
        "data.features.numeric[0]: column 'mean_radiuss' is not in the data; did you mean 'mean_radius'?"
        in err
    )
    assert "did you mean 'expect_column_values_to_not_be_null'?" in err
    assert "Traceback" not in result.output


def test_a_misspelt_expectation_type_gets_a_did_you_mean(tmp_path: Path) -> None:
    from tasks.quality import check_suite

    path = tmp_path / "suite.json"
    path.write_text(
        json.dumps(
            {"name": "s", "expectations": [{"type": "expect_column_valeus_to_be_between", "kwargs": {}}]}
        )
    )
    (problem,) = check_suite("spec.yaml", "quality.suite", path, None)
    assert "expectation #1 'expect_column_valeus_to_be_between'" in problem.render()
    assert "did you mean 'expect_column_values_to_be_between'?" in problem.render()


def test_a_quality_gate_failure_names_the_missing_column_the_wrong_type_and_the_fix(tmp_path: Path) -> None:
    from tasks.quality import run_suite

    suite = {
        "name": "s",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "distance"}},
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["distanse", "temp"]}},
            {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "temp", "type_": "float64"}},
            {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "temp", "min_value": 100}},
        ],
    }
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    frame = pd.DataFrame({"distanse": [1.0, 2.0], "temp": [1, 2]})
    message = run_suite(frame, path).message()
    assert "on 'distance': column 'distance' is not in the data (did you mean 'distanse'?)" in message
    assert "observed None" not in message
    assert "missing column(s)" not in message  # the set check passes: both columns are there
    assert "column 'temp' holds int64, expected float64; convert the column in the data" in message
    assert "expect_column_mean_to_be_between on 'temp': observed 1.5" in message
    assert "np.float64" not in message


def test_validate_warns_about_a_suite_whose_column_set_includes_the_target(project: Path) -> None:
    suite_path = project / "expectations" / "cancer.json"
    suite = json.loads(suite_path.read_text())
    columns = list(pd.read_csv(project / "data" / "cancer.csv", nrows=1).columns)
    suite["expectations"].append(
        {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": columns}}
    )
    suite_path.write_text(json.dumps(suite))
    result = CliRunner().invoke(app, ["validate", str(project / "deployments" / "cancer.yaml")])
    assert result.exit_code == 0, result.output
    assert "warning: expectations/cancer.json: expectation #4" in flat(result.stderr)
    assert "lists the target 'target'" in flat(result.stderr)


def test_a_continuous_target_for_a_classifier_is_named_by_validate(project: Path) -> None:
    frame = pd.read_csv(project / "data" / "cancer.csv")
    frame["target"] = frame["mean_radius"] * 1.37  # a measurement, not classes
    frame.to_csv(project / "data" / "cancer.csv", index=False)
    (project / "expectations" / "cancer.json").write_text(json.dumps({"name": "c", "expectations": []}))
    result = CliRunner().invoke(app, ["validate", str(project / "deployments" / "cancer.yaml")])
    assert result.exit_code == 2, result.output
    err = flat(result.stderr)
    assert "data.target: the target 'target' looks continuous" in err
    assert "set `model.task: regression`" in err


def test_a_misspelt_param_option_is_blamed_on_the_option_not_on_the_spec(project: Path) -> None:
    spec = edit_spec(
        project,
        "params: {C: 1.0, max_iter: 500}",
        "params: {max_iter: 500}\n  candidates: [{C: 1.0}, {C: 0.1}]",
    )
    result = CliRunner().invoke(app, ["run", "retrain", str(spec), "--param", "max_iters=50"])
    assert result.exit_code == 2, result.output
    err = flat(result.stderr)
    assert (
        "--param max_iters: LogisticRegression has no parameter 'max_iters'; did you mean 'max_iter'?" in err
    )
    assert "problem(s)" not in err and "model.candidates" not in err


def test_a_param_option_a_candidate_sets_too_is_refused_not_ignored(project: Path) -> None:
    spec = edit_spec(
        project,
        "params: {C: 1.0, max_iter: 500}",
        "params: {max_iter: 500}\n  candidates: [{C: 1.0}, {C: 0.1}]",
    )
    result = CliRunner().invoke(app, ["run", "retrain", str(spec), "--param", "C=5"])
    assert result.exit_code == 2, result.output
    err = flat(result.stderr)
    assert "--param C=5: model.candidates[0], model.candidates[1] of" in err
    assert "the option would change nothing" in err
    ok = CliRunner().invoke(app, ["run", "retrain", str(spec), "--param", "max_iter=-3"])
    assert ok.exit_code == 2 and "--param max_iter=-3" in flat(ok.stderr), ok.output


@pytest.mark.usefixtures("prefect_harness")
def test_the_run_summary_names_the_winning_candidate_and_each_validation_score(project: Path) -> None:
    from flows.retrain import retrain
    from tasks.report import summary_markdown

    spec = edit_spec(
        project,
        "params: {C: 1.0, max_iter: 500}",
        "params: {max_iter: 500}\n  candidates: [{C: 0.0005}, {C: 1.0}]",
    )
    result = retrain(str(spec))
    assert [c.params for c in result.candidates] == [{"C": 0.0005}, {"C": 1.0}]
    assert [c.chosen for c in result.candidates] == [False, True]
    assert all(c.metric == "roc_auc" and 0 < c.value <= 1 for c in result.candidates)
    summary = summary_markdown(result)
    assert "candidate #2 won on validation" in summary
    assert "- #2 C=1.0: validation roc_auc" in summary and "<- chosen" in summary
