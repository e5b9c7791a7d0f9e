"""Issue #12 item 4: every unpublished move is undone, not only the one with the same idempotency key. Runs killed
after moving aliases (here two in a row, with other data than the next run) leave them for the next run of the
pipeline, whatever its data: it first puts them back as the earliest killed run found them, then decides against
the true champion. A rollback in between overrides them instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.retrain import retrain
from mlops.policy import decide
from mlops.spec import Promotion
from tasks.tracking import ledger, store
from tasks.tracking.registry import publish, rollback, undo_unpublished
from tasks.tracking.runs import TrainingRun
from tests.conftest import edit_spec
from tests.integration.test_retrain_flow import registry

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def killed_after_its_ledger_entry(run: TrainingRun, champion: str, key: str) -> str:
    """What a run SIGKILLed after moving the aliases and writing its ledger entry, before its commit mark, leaves:
    the real publish() steps, without the final `published` tag."""
    promote = decide({"roc_auc": 1.0}, {"roc_auc": 0.5}, Promotion(metric="roc_auc"))
    version = publish(
        "cancer-model", run, promote, champion, {"roc_auc": 1.0}, {"idempotency_key": key}
    ).version
    store.client().delete_model_version_tag("cancer-model", version, "mlops.published")
    return version


def test_the_next_run_undoes_every_killed_run_then_decides_against_the_true_champion(project: Path) -> None:
    spec = project / "deployments" / "cancer.yaml"
    first = retrain(str(spec))
    assert first.decision.rule == "first-model"  # v1 champion
    run = TrainingRun(first.run_id, "1", f"runs:/{first.run_id}/model", first.run_url)
    assert killed_after_its_ledger_entry(run, "1", "killed-a") == "2"
    assert killed_after_its_ledger_entry(run, "2", "killed-b") == "3"
    assert registry("cancer-model")["aliases"] == {"champion": "3", "challenger": "3", "previous": "2"}

    edit_spec(
        project, "{C: 1.0, max_iter: 500}", "{C: 1.0, max_iter: 501}"
    )  # other spec, other idempotency key
    result = retrain(str(spec))
    assert result.champion_before == "1", result.decision.reasons  # compared with the true champion
    assert result.version == "4" and result.decision.rule == "not-improved"
    assert registry("cancer-model")["aliases"] == {"champion": "1", "challenger": "4", "previous": None}
    entries = ledger.history("cancer-model")  # the killed runs' promotions are gone from the ledger
    assert [(e.action, e.version, e.champion_before) for e in entries] == [
        ("promote", "1", ""),
        ("reject", "4", "1"),
    ]
    c = store.client()
    for version in ("2", "3"):
        assert c.get_model_version("cancer-model", version).tags["mlops.published"] == "abandoned"
    assert undo_unpublished("cancer-model") == []  # never undone twice

    # a rollback after a killed run overrides it: the next run must not put the killed run's "before" back
    assert killed_after_its_ledger_entry(run, "1", "killed-c") == "5"
    assert rollback("cancer-model", "4", "v5 came from a crashed run", actor="user:test") == ("5", "4")
    assert c.get_model_version("cancer-model", "5").tags["mlops.published"] == "superseded"
    assert undo_unpublished("cancer-model") == []
    assert registry("cancer-model")["aliases"]["champion"] == "4"
