"""Issue #12 item 5: a model belongs to one pipeline. Its owner is recorded on the registered model; a spec of
another pipeline naming it is refused before any work (retrain and monitor), an old model without owner tags is
claimed with a note, and a challenger with other inputs than the champion's says so in its decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.monitor import monitor
from flows.retrain import retrain
from mlops.errors import SpecError
from tasks.tracking import ledger, store
from tests.conftest import spec_text
from tests.integration.test_retrain_flow import registry

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def owner_tags(name: str) -> dict[str, str]:
    tags = store.client().get_registered_model(name).tags or {}
    return {k: v for k, v in tags.items() if k.startswith("mlops.owner.")}


def test_another_pipeline_naming_the_model_is_refused_and_registers_nothing(project: Path) -> None:
    first = project / "deployments" / "cancer.yaml"
    assert retrain(str(first)).decision.rule == "first-model"
    tags = owner_tags("cancer-model")
    assert tags["mlops.owner.pipeline"] == "cancer" and tags["mlops.owner.spec_path"] == str(first)
    assert tags["mlops.owner.task"] == "classification" and tags["mlops.owner.target"] == "target"
    assert "mean_radius" in tags["mlops.owner.features"].split(",")

    second = project / "deployments" / "other.yaml"
    second.write_text(
        spec_text(name="other", params="{C: 0.5, max_iter: 500}").replace("other-model", "cancer-model")
    )
    for flow in (retrain, monitor):
        with pytest.raises(SpecError) as caught:
            flow(str(second))
        text = str(caught.value)
        assert caught.value.exit_code == 2
        assert text.startswith(f"{second}: registry.model_name: 'cancer-model' belongs to pipeline 'cancer'")
        assert f"({first}, classification of 'target')" in text and "choose another" in text
    assert registry("cancer-model") == {
        "versions": [1],
        "aliases": {"champion": "1", "challenger": "1", "previous": None},
    }
    assert [e.action for e in ledger.history("cancer-model")] == ["promote"]
    assert store.client().get_experiment_by_name("other") is None  # no training run either


def test_an_untagged_model_is_claimed_and_changed_inputs_are_said(project: Path) -> None:
    spec = project / "deployments" / "cancer.yaml"
    retrain(str(spec))
    c = store.client()
    for key in owner_tags("cancer-model"):  # as an older version left it
        c.delete_registered_model_tag("cancer-model", key)
    spec.write_text(
        spec.read_text().replace(
            "  target: target\n", "  target: target\n  features: {exclude: [mean_radius]}\n"
        )
    )
    result = retrain(str(spec))
    assert any("records no owner" in n and "pipeline 'cancer'" in n for n in result.notes), result.notes
    assert owner_tags("cancer-model")["mlops.owner.pipeline"] == "cancer"
    assert "mean_radius" not in owner_tags("cancer-model")["mlops.owner.features"].split(",")
    reason = result.decision.reasons[-1]
    assert "the challenger's inputs differ from the champion's (removed mean_radius)" in reason
    assert "removed mean_radius" in ledger.history("cancer-model")[-1].reasons[-1]
