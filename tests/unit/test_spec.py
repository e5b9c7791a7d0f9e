from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.spec import PipelineSpec, load_spec
from tests.conftest import REPO, spec_problems, spec_text, write_spec


@pytest.mark.parametrize("name", ["flight_delays.yaml", "diabetes.yaml"])
def test_example_specs_load(name: str) -> None:
    loaded = load_spec(REPO / "deployments" / name)
    assert loaded.root == REPO
    assert loaded.resolve(loaded.spec.quality.suite).is_file()
    assert len(loaded.sha256) == 64


def test_misspelled_field_names_path_and_closest_name(tmp_path: Path) -> None:
    text = spec_text().replace("  min_improvement:", "  min_improvment:")
    (msg,) = spec_problems(write_spec(tmp_path, text))
    assert "spec.yaml: promotion.min_improvment: unknown field" in msg
    assert "did you mean 'min_improvement'?" in msg


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    text = (
        spec_text()
        .replace("  target: target", "  targett: target")
        .replace("task: classification", "task: clasification")
    )
    msgs = spec_problems(write_spec(tmp_path, text))
    joined = "\n".join(msgs)
    assert "data.targett: unknown field; did you mean 'target'?" in joined
    assert "data.target: required field is missing" in joined
    assert "model.task: 'clasification' is not allowed; did you mean 'classification'?" in joined


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    text = spec_text().replace("holdout_fraction: 0.3", "holdout_fraction: lots")
    (msg,) = spec_problems(write_spec(tmp_path, text))
    assert "data.split.holdout_fraction" in msg and "valid number" in msg and "'lots'" in msg


def test_out_of_range_fraction(tmp_path: Path) -> None:
    (msg,) = spec_problems(
        write_spec(tmp_path, spec_text().replace("holdout_fraction: 0.3", "holdout_fraction: 1.5"))
    )
    assert "data.split.holdout_fraction" in msg and "less than 1" in msg


def test_metric_must_belong_to_the_task(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, spec_text().replace("metric: roc_auc", "metric: roc_aux")))
    assert "promotion.metric: 'roc_aux' is not a metric of classification; did you mean 'roc_auc'?" in msg


def test_estimator_outside_allowlist_is_refused(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, spec_text(estimator="os.system")))
    assert "model.estimator: 'os.system' is not an allowed estimator" in msg


def test_regressor_for_a_classification_task(tmp_path: Path) -> None:
    (msg,) = spec_problems(
        write_spec(tmp_path, spec_text(estimator="sklearn.linear_model.Ridge", params="{}"))
    )
    assert "model.estimator" in msg and "not a classification estimator" in msg


def test_time_split_needs_time_column(tmp_path: Path) -> None:
    msgs = spec_problems(write_spec(tmp_path, spec_text().replace("strategy: stratified", "strategy: time")))
    assert any("data.split.strategy: a time split needs data.time_column" in m for m in msgs)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, "name: x\ndata: [unclosed\n"))
    assert "not valid YAML" in msg and "line" in msg


def test_yaml_python_tags_are_never_constructed(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, "name: !!python/object/apply:os.system ['echo hacked']\n"))
    assert "not valid YAML" in msg


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, "- a\n- b\n"))
    assert "expected a mapping" in msg


def test_missing_spec_file(tmp_path: Path) -> None:
    (msg,) = spec_problems(tmp_path / "nope.yaml")
    assert "nope.yaml: no such spec file" in msg


def test_guardrail_metric_is_checked(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, spec_text().replace("{metric: recall,", "{metric: recal,")))
    assert "promotion.guardrails[0].metric: 'recal'" in msg and "did you mean 'recall'?" in msg


def test_json_schema_forbids_unknown_fields() -> None:
    schema = PipelineSpec.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"name", "data", "model", "registry", "promotion"} <= set(schema["required"])
    json.dumps(schema)  # serialisable for editors


@pytest.mark.parametrize("bad", ["../../etc/cron.d/x", "a/b", " space", ""])
def test_model_name_cannot_be_a_path(tmp_path: Path, bad: str) -> None:
    (msg,) = spec_problems(
        write_spec(tmp_path, spec_text().replace("{model_name: cancer-model}", f"{{model_name: '{bad}'}}"))
    )
    assert "registry.model_name" in msg


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ("{kind: sql, table: outcomes}", "labels.source.url_env: a sql source needs url_env"),
        ("{kind: sql, url_env: LABELS_DB_URL, query: 'DELETE FROM outcomes'}", "labels.source.query"),
        ("{kind: sql, url: 'postgresql://u:pw@db/x', table: outcomes}", "allowed for DuckDB only"),
        ("{kind: csv, path: labels.csv, table: outcomes}", "labels.source.table: table is for a sql source"),
    ],
)
def test_a_labels_source_is_checked_as_the_data_source_is(tmp_path: Path, labels: str, said: str) -> None:
    """A labels sql source with no URL, a query that is not one SELECT or a PostgreSQL URL written in the spec passed
    `mlops validate` (only data.source was checked) and failed, or ran the statement, at the monitor."""
    text = spec_text().replace("  target: target\n", "  target: target\n  id_column: id\n")
    problems = spec_problems(write_spec(tmp_path, text + f"labels:\n  source: {labels}\n"))
    assert any(said in p for p in problems), problems
    assert not any("pw@" in p for p in problems)


def test_a_labels_source_in_duckdb_may_write_its_url(tmp_path: Path) -> None:
    text = spec_text().replace("  target: target\n", "  target: target\n  id_column: id\n")
    path = write_spec(
        tmp_path, text + "labels:\n  source: {kind: sql, url: 'duckdb:///labels.duckdb', table: o}\n"
    )
    assert load_spec(path).spec.labels.source.url == "duckdb:///labels.duckdb"  # type: ignore[union-attr]
