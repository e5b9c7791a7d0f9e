"""The retrain flow end to end on a real Prefect API, real MLflow (SQLite), real GX and scikit-learn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.retrain import retrain
from mlops.errors import DataError, QualityGateFailed
from mlops.settings import get_settings
from tasks.tracking import champion, ledger, store

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def registry(name: str) -> dict:
    """Everything promotion could change: versions and the three aliases."""
    c = store.client()
    versions = sorted(v.version for v in c.search_model_versions(f"name = '{name}'"))
    aliases = {a: champion.alias_version(c, name, a) for a in ("champion", "challenger", "previous")}
    return {"versions": versions, "aliases": aliases}


def test_first_run_promotes_and_second_is_compared_on_the_same_holdout(project: Path) -> None:
    spec_path = project / "deployments" / "cancer.yaml"
    spec = str(spec_path)
    first = retrain(spec)
    assert first.decision.promote and first.decision.rule == "first-model"
    assert registry("cancer-model")["aliases"] == {"champion": "1", "challenger": "1", "previous": None}

    spec_path.write_text(spec_path.read_text().replace("{C: 1.0, max_iter: 500}", "{C: 1.0, max_iter: 501}"))
    second = retrain(
        spec
    )  # a different spec (the same model in effect): a new version, compared and rejected
    assert not second.decision.promote and second.decision.rule == "not-improved"
    assert second.champion_metrics == pytest.approx(second.challenger_metrics)  # same data, seed, holdout
    assert registry("cancer-model")["aliases"] == {"champion": "1", "challenger": "2", "previous": None}

    c = MlflowClient(get_settings().tracking_uri)
    v2 = c.get_model_version("cancer-model", "2")
    assert v2.tags["mlops.decision"] == "rejected"
    assert "not enough improvement" in v2.tags["mlops.decision.reasons"]
    assert v2.tags["mlops.decision.champion_version"] == "1"
    run = c.get_run(second.run_id)
    assert run.data.tags["mlops.holdout_sha256"] == c.get_run(first.run_id).data.tags["mlops.holdout_sha256"]
    assert len(run.data.tags["mlops.spec_sha256"]) == 64 and len(run.data.tags["mlops.data_sha256"]) == 64
    assert run.data.metrics["holdout_roc_auc"] > 0.95
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"cancer-training", "cancer-holdout"}
    assert "spec/cancer.yaml" in [a.path for a in c.list_artifacts(second.run_id, "spec")]
    assert v2.run_id == second.run_id
    from mlflow.models import get_model_info

    info = get_model_info("models:/cancer-model/2")
    assert info.signature is not None and "mean_radius" in info.signature.inputs.input_names()

    third = retrain(spec)  # the same spec, data and code as v2: compared, recorded, nothing new registered
    assert third.duplicate_of == "2" and third.decision.rule == "not-improved"
    assert registry("cancer-model")["versions"] == [1, 2]
    last = ledger.history("cancer-model")[-1]
    assert last.action == "duplicate" and "identical to v2" in last.reasons[-1]
    # nothing refitted either: v2's own training run is reused, and it is not marked a duplicate of itself
    assert third.reused_run and third.run_id == second.run_id
    assert third.challenger_metrics == pytest.approx(second.challenger_metrics)
    assert "mlops.duplicate_of" not in c.get_run(third.run_id).data.tags
    assert len(training_runs(c)) == 2


def training_runs(c: MlflowClient) -> list:
    return c.search_runs([store.experiment_id("cancer")], filter_string="tags.`mlops.idempotency_key` != ''")


def test_a_run_killed_after_training_reuses_the_finished_run(project: Path) -> None:
    """Crash and resume: the training run finished (model logged) but nothing was registered."""
    spec = str(project / "deployments" / "cancer.yaml")
    first = retrain(spec)
    c = MlflowClient(get_settings().tracking_uri)
    c.delete_registered_model("cancer-model")  # as if the process died right after the training run
    c.delete_tag(first.run_id, "mlops.model_version")
    again = retrain(spec)
    assert again.reused_run and again.run_id == first.run_id and again.fit_seconds == 0.0
    assert again.challenger_metrics == pytest.approx(first.challenger_metrics)
    assert again.decision.rule == "first-model" and again.version == "1"
    assert c.get_model_version("cancer-model", "1").run_id == first.run_id
    assert len(training_runs(c)) == 1


def test_a_killed_training_run_is_not_reused(project: Path) -> None:
    """A training run that never finished (status RUNNING: the process died inside it) is trained again."""
    spec = str(project / "deployments" / "cancer.yaml")
    first = retrain(spec)
    c = MlflowClient(get_settings().tracking_uri)
    c.delete_registered_model("cancer-model")
    c.update_run(first.run_id, status="RUNNING")
    again = retrain(spec)
    assert not again.reused_run and again.run_id != first.run_id and again.fit_seconds > 0
    assert c.get_model_version("cancer-model", "1").run_id == again.run_id


def test_a_run_killed_after_registering_is_finished_by_the_next_run(project: Path) -> None:
    """Crash and resume: the version exists (same idempotency key) but its aliases were never moved."""
    spec = str(project / "deployments" / "cancer.yaml")
    first = retrain(spec)
    c = MlflowClient(get_settings().tracking_uri)
    for alias in ("champion", "challenger"):  # as if the process died right after registering
        c.delete_registered_model_alias("cancer-model", alias)
    c.delete_model_version_tag("cancer-model", "1", "mlops.published")
    again = retrain(spec)
    assert again.duplicate_of is None and again.version == first.version == "1"
    assert registry("cancer-model") == {
        "versions": [1],
        "aliases": {"champion": "1", "challenger": "1", "previous": None},
    }


def test_better_model_replaces_the_champion_and_previous_follows(project: Path) -> None:
    spec_path = project / "deployments" / "cancer.yaml"
    spec_path.write_text(
        spec_path.read_text().replace("{C: 1.0, max_iter: 500}", "{C: 0.0001, max_iter: 500}")
    )
    weak = retrain(str(spec_path))
    assert weak.decision.promote
    spec_path.write_text(
        spec_path.read_text().replace("{C: 0.0001, max_iter: 500}", "{C: 1.0, max_iter: 500}")
    )
    spec_path.write_text(spec_path.read_text().replace("max_drop: 0.05", "max_drop: 1.0"))
    strong = retrain(str(spec_path))
    assert strong.decision.promote and strong.decision.rule == "improved", strong.decision.reasons
    assert registry("cancer-model")["aliases"] == {"champion": "2", "challenger": "2", "previous": "1"}


def test_broken_batch_stops_the_run_and_leaves_the_registry_as_it_was(
    project: Path, use_trained: Callable[[str], Any]
) -> None:
    spec = str(project / "deployments" / "cancer.yaml")
    use_trained("cancer")  # v1 of the cancer spec, trained once a session (the same model)
    before = registry("cancer-model")
    csv = project / "data" / "cancer.csv"
    frame = pd.read_csv(csv)
    frame.loc[:19, "mean_radius"] = -1.0
    frame.to_csv(csv, index=False)
    with pytest.raises(QualityGateFailed) as info:
        retrain(spec)
    assert "expect_column_values_to_be_between on 'mean_radius': 20 unexpected rows" in str(info.value)
    assert Path(info.value.report_path).is_file()
    assert registry("cancer-model") == before
    failed = MlflowClient(get_settings().tracking_uri).search_runs(
        [store.experiment_id("cancer")], filter_string="tags.`mlops.stopped_by` = 'quality-gate'"
    )
    assert len(failed) == 1 and failed[0].info.status == "FAILED"


def test_warn_mode_goes_on_and_records_the_warning(project: Path) -> None:
    spec_path = project / "deployments" / "cancer.yaml"
    spec_path.write_text(spec_path.read_text().replace("on_failure: fail", "on_failure: warn"))
    csv = project / "data" / "cancer.csv"
    frame = pd.read_csv(csv)
    frame.loc[:4, "mean_radius"] = None
    frame.to_csv(csv, index=False)
    result = retrain(str(spec_path))
    assert result.quality_warning and result.decision.promote
    assert "expect_column_values_to_not_be_null on 'mean_radius': 5 unexpected rows" in result.notes[0]
    run = MlflowClient(get_settings().tracking_uri).get_run(result.run_id)
    assert run.data.tags["mlops.quality"] == "warn" and run.data.metrics["quality_failed_expectations"] == 1


def test_single_class_target_stops_before_anything_is_tracked(project: Path) -> None:
    csv = project / "data" / "cancer.csv"
    frame = pd.read_csv(csv)
    frame["target"] = "benign"
    frame.to_csv(csv, index=False)
    spec_path = project / "deployments" / "cancer.yaml"
    spec_path.write_text(
        spec_path.read_text().replace("quality: {suite: expectations/cancer.json, on_failure: fail}\n", "")
    )
    with pytest.raises(DataError, match="single class"):
        retrain(str(spec_path))
    assert registry("cancer-model")["versions"] == []


def test_a_failure_after_registration_leaves_no_orphan_version(
    project: Path, monkeypatch: pytest.MonkeyPatch, use_trained: Callable[[str], Any]
) -> None:
    """Fault injection on the real registry: the alias move fails after the version was created."""
    spec_path = project / "deployments" / "cancer.yaml"
    spec = str(spec_path)
    use_trained("cancer")  # v1 of the cancer spec, trained once a session (the same model)
    before = registry("cancer-model")
    spec_path.write_text(spec_path.read_text().replace("{C: 1.0, max_iter: 500}", "{C: 1.0, max_iter: 501}"))
    real = MlflowClient.set_registered_model_alias

    def flaky(self, name, alias, version):  # noqa: ANN001
        if alias == "challenger":
            raise RuntimeError("registry write failed")
        return real(self, name, alias, version)

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "set_registered_model_alias", flaky)
        with pytest.raises(RuntimeError, match="registry write failed"):
            retrain(spec)
    assert registry("cancer-model") == before
