"""Issue #12, items 7 and 8 on the real things: a retrain (real Prefect, MLflow on SQLite, scikit-learn) that
refuses an empty declared feature or too many unlabelled rows, and says what it left out otherwise; a monitor
batch with duplicate column names; a GX suite with a NaN bound; a high-cardinality column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from flows.retrain import retrain
from mlops.cli.render import print_retrain
from mlops.errors import DataError
from mlops.settings import get_settings
from mlops.spec import load_spec
from tasks import data, quality, report, train
from tests.conftest import SUITE, cancer_frame

pytestmark = [pytest.mark.integration]


def without_target_check(project: Path) -> None:
    """The suite without its expectation on the target (unlabelled rows would fail it)."""
    suite = {**SUITE, "expectations": SUITE["expectations"][:2]}
    (project / "expectations" / "cancer.json").write_text(json.dumps(suite))


def write_data(project: Path, frame) -> None:
    frame.to_csv(project / "data" / "cancer.csv", index=False)


def declare(project: Path, line: str) -> Path:
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text().replace("  target: target\n", f"  target: target\n  {line}\n"))
    return spec


@pytest.mark.usefixtures("prefect_harness")
def test_a_declared_feature_with_no_values_stops_the_retrain_naming_it(project: Path) -> None:
    write_data(project, cancer_frame().assign(mean_texture=np.nan))
    spec = declare(project, "features: {numeric: [mean_radius, mean_texture]}")
    with pytest.raises(DataError, match=r"'mean_texture'.*no values.*data\.features"):
        retrain(str(spec))


@pytest.mark.usefixtures("prefect_harness")
def test_an_empty_inferred_column_and_unlabelled_rows_are_said_in_the_result_and_the_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = cancer_frame().assign(notes_field=np.nan)
    frame.loc[frame.index[:20], "target"] = None  # 20 of 569 = 3.5%, under the default 10%
    write_data(project, frame)
    spec = project / "deployments" / "cancer.yaml"
    without_target_check(project)
    result = retrain(str(spec))
    assert any("notes_field" in n and "no values" in n for n in result.notes)
    assert any("20 of 569 rows (3.5%)" in n for n in result.notes)
    assert "20 rows without a target" in result.split
    markdown = report.summary_markdown(result)
    assert "notes_field" in markdown and "20 of 569 rows" in markdown
    capsys.readouterr()
    print_retrain(result, get_settings())
    printed = capsys.readouterr().out
    assert "notes_field" in printed and "20 of 569 rows" in printed

    run = MlflowClient(get_settings().tracking_uri).get_run(result.run_id)
    assert run.data.tags["mlops.excluded_features"] == "notes_field"
    assert run.data.tags["mlops.missing_target_rows"] == "20"
    assert "notes_field" not in json.loads(run.data.params["features.numeric"].replace("'", '"'))


@pytest.mark.usefixtures("prefect_harness")
def test_too_many_unlabelled_rows_stop_the_retrain(project: Path) -> None:
    frame = cancer_frame()
    frame.loc[frame.index[:100], "target"] = None  # 17.6%
    write_data(project, frame)
    without_target_check(project)
    with pytest.raises(DataError, match=r"100 of 569 rows \(17\.6%\).*max_missing_target_share"):
        retrain(str(project / "deployments" / "cancer.yaml"))
    assert MlflowClient(get_settings().tracking_uri).search_registered_models() == []


def test_a_monitor_batch_with_duplicate_column_names_is_refused(project: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch.csv"
    frame = cancer_frame().head(50)
    text = frame.to_csv(index=False)
    header, rest = text.split("\n", 1)
    batch.write_text(header.replace("mean_texture", "mean_radius") + "\n" + rest)
    loaded = load_spec(project / "deployments" / "cancer.yaml")
    with pytest.raises(DataError, match=r"duplicate column names: mean_radius"):
        data.load_batch(loaded, str(batch))


@pytest.mark.parametrize("bound", ["NaN", "Infinity", "-Infinity"])
def test_a_suite_with_a_non_finite_bound_is_a_suite_problem(tmp_path: Path, bound: str) -> None:
    path = tmp_path / "suite.json"
    path.write_text(
        '{"name": "s", "expectations": [{"type": "expect_column_values_to_be_between",'
        f' "kwargs": {{"column": "mean_radius", "min_value": 0, "max_value": {bound}}}}}]}}'
    )
    (problem,) = quality.check_suite("s.yaml", "quality.suite", path, ["mean_radius"])
    text = problem.render()
    assert "expectation #1" in text and "max_value" in text and bound.lstrip("-") in text
    assert problem.path == "quality.suite"


def test_a_non_finite_value_nested_in_the_kwargs_is_a_suite_problem(tmp_path: Path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(
        '{"name": "s", "expectations": [{"type": "expect_column_values_to_be_in_set",'
        ' "kwargs": {"column": "mean_radius", "value_set": [1, NaN]}}]}'
    )
    (problem,) = quality.check_suite("s.yaml", "quality.suite", path, ["mean_radius"])
    assert "value_set[1]" in problem.render()


def test_a_high_cardinality_column_is_refused_naming_it(project: Path) -> None:
    frame = cancer_frame()
    frame["patient_id"] = [f"p{i:04d}" for i in range(len(frame))]
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(
        spec.read_text()
        .replace("sklearn.linear_model.LogisticRegression", "sklearn.ensemble.HistGradientBoostingClassifier")
        .replace("{C: 1.0, max_iter: 500}", "{max_iter: 20}")
        .replace("{numeric: {scale: true}}", "{categorical: {max_categories: null}}")
    )
    loaded = load_spec(spec)
    parts = data.split(frame, loaded)
    with pytest.raises(DataError, match=r"'patient_id'.*categories.*max_categories.*ordinal"):
        train.train(parts, loaded.spec.model, "target", 0, memory_budget=500_000)
