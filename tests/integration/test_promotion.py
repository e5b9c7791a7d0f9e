"""Champion/challenger promotion that can be defended and undone: noise, dry runs, the ledger, rollback,
the smoke test and manual approval, on real MLflow (SQLite) and a real Prefect API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.retrain import retrain
from mlops.errors import MlopsError, PipelineStopped
from tasks.tracking import ledger
from tasks.tracking.registry import publish, rollback
from tasks.tracking.runs import TrainingRun
from tests.conftest import edit_spec, make_project
from tests.integration.conftest import copy_home, trained_home
from tests.integration.test_retrain_flow import registry

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_better_by_noise_alone_is_not_promoted_and_the_interval_is_given(project: Path) -> None:
    spec = edit_spec(project, "{C: 1.0, max_iter: 500}", "{C: 0.03, max_iter: 500}")
    edit_spec(
        project, "min_improvement: 0.001", "min_improvement: 0.0\n  bootstrap: {resamples: 1000, seed: 1}"
    )
    assert retrain(str(spec)).decision.rule == "first-model"
    edit_spec(project, "{C: 0.03, max_iter: 500}", "{C: 0.1, max_iter: 500}")
    result = retrain(str(spec))
    d = result.decision
    assert result.challenger_metrics["roc_auc"] > result.champion_metrics["roc_auc"]  # better on paper...
    assert not d.promote and d.rule == "not-significant"  # ...but by noise on 165 holdout rows
    assert d.evidence.interval.low < 0 < d.evidence.interval.high and d.evidence.holdout_rows == 165
    assert "may be noise: the 95% interval of the improvement" in d.reasons[0]
    assert registry("cancer-model")["aliases"]["champion"] == "1"


def test_clearly_better_model_passes_the_bootstrap(project: Path) -> None:
    spec = edit_spec(project, "{C: 1.0, max_iter: 500}", "{C: 0.001, max_iter: 500}")
    weak = "  target: target\n  features: {numeric: [mean_smoothness, mean_symmetry]}\n"
    edit_spec(project, "  target: target\n", weak)  # a champion on two weak features: clearly worse
    edit_spec(project, "max_drop: 0.05}]", "max_drop: 1.0}]\n  bootstrap: {resamples: 1000, seed: 1}")
    retrain(str(spec))
    edit_spec(project, "{C: 0.001, max_iter: 500}", "{C: 1.0, max_iter: 500}")
    edit_spec(project, weak, "  target: target\n")
    d = retrain(str(spec)).decision
    assert d.promote and d.evidence.interval.low > 0.001, d.reasons


def test_dry_run_records_the_decision_and_moves_nothing(project: Path) -> None:
    spec = edit_spec(project, "min_improvement: 0.001", "min_improvement: 0.001\n  approval: {mode: dry_run}")
    result = retrain(str(spec))
    assert result.decision.promote and result.mode == "dry_run"
    state = registry("cancer-model")
    assert state["versions"] == [1] and set(state["aliases"].values()) == {None}
    (entry,) = ledger.history("cancer-model")
    assert entry.action == "dry-run" and entry.champion_after == "" and entry.version == "1"


def test_ledger_previous_alias_and_rollback(project: Path) -> None:
    spec = edit_spec(project, "{C: 1.0, max_iter: 500}", "{C: 0.001, max_iter: 500}")
    edit_spec(project, "max_drop: 0.05", "max_drop: 1.0")
    retrain(str(spec))
    edit_spec(project, "{C: 0.001, max_iter: 500}", "{C: 1.0, max_iter: 500}")
    retrain(str(spec))  # promoted: v2 champion, v1 previous
    edit_spec(project, "{C: 1.0, max_iter: 500}", "{C: 1.0, max_iter: 501}")
    retrain(str(spec))  # the same model in effect: rejected
    assert registry("cancer-model")["aliases"] == {"champion": "2", "challenger": "3", "previous": "1"}

    before, after = rollback("cancer-model", None, "v2 misbehaves on Mondays", actor="user:test")
    assert (before, after) == ("2", "1")
    assert registry("cancer-model")["aliases"] == {"champion": "1", "challenger": "3", "previous": "2"}
    entries = ledger.history("cancer-model")
    assert [e.action for e in entries] == ["promote", "promote", "reject", "rollback"]
    assert [(e.champion_before, e.champion_after) for e in entries] == [
        ("", "1"),
        ("1", "2"),
        ("2", "2"),
        ("2", "1"),
    ]
    assert entries[-1].actor == "user:test" and entries[-1].reasons == ["v2 misbehaves on Mondays"]
    assert entries[2].actor == "rule:not-improved"

    with pytest.raises(MlopsError, match="already the champion"):
        rollback("cancer-model", "1", "again", actor="user:test")
    with pytest.raises(MlopsError, match="has no version 9"):
        rollback("cancer-model", "9", "typo", actor="user:test")
    assert len(ledger.history("cancer-model")) == 4


def test_a_failed_smoke_test_puts_the_champion_back_and_is_recorded(
    project: Path, use_trained: Callable[[str], Any]
) -> None:
    import pandas as pd

    first = use_trained("cancer")  # v1 of the cancer spec, trained once a session (the same model)
    run = TrainingRun(first.run_id, "1", f"runs:/{first.run_id}/model", first.run_url)
    from mlops.policy import decide
    from mlops.spec import Promotion

    promote = decide({"roc_auc": 1.0}, {"roc_auc": 0.5}, Promotion(metric="roc_auc"))
    broken_sample = pd.DataFrame({"not_a_feature": [1.0, 2.0]})  # the champion cannot predict on this
    with pytest.raises(PipelineStopped, match="failed its smoke test"):
        publish("cancer-model", run, promote, "1", {"roc_auc": 1.0}, {}, smoke_sample=broken_sample)
    state = registry("cancer-model")
    assert state["aliases"]["champion"] == "1" and state["aliases"]["previous"] is None
    assert ledger.history("cancer-model")[-1].action == "smoke-test-rollback"


def test_a_restore_that_did_not_take_is_never_reported_as_done(
    project: Path, use_trained: Callable[[str], Any]
) -> None:
    """The smoke test's restore reads the aliases back: a champion it could not put back is named, not assumed."""
    from tasks.tracking.registry import _restore_aliases
    from tasks.tracking.store import client

    use_trained("cancer")  # v1 of the cancer spec, trained once a session (the same model)
    assert _restore_aliases(client(), "cancer-model", {"champion": "1", "previous": None}) == ""
    # v7 does not exist, so the alias cannot be set back to it: the read-back says what differs
    found = _restore_aliases(client(), "cancer-model", {"champion": "7", "previous": None})
    assert "champion is v1, was v7" in found
    assert registry("cancer-model")["aliases"]["champion"] == "1"


@pytest.mark.parametrize(
    ("answer", "promoted", "rule"), [(True, True, "first-model"), (False, False, "approval-rejected")]
)
def test_manual_approval_from_the_terminal(project: Path, answer: bool, promoted: bool, rule: str) -> None:
    from mlops.cli.approvals import answer as give_answer

    spec = edit_spec(
        project,
        "min_improvement: 0.001",
        "min_improvement: 0.001\n  approval: {mode: manual, timeout_seconds: 120}",
    )
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", retrain(str(spec))), daemon=True)
    worker.start()
    deadline = time.monotonic() + 90
    while True:
        try:
            give_answer(spec, answer, reviewer="user:ana", comment="checked the evidence")
            break
        except MlopsError:  # not paused yet
            assert time.monotonic() < deadline, "the run never paused for approval"
            time.sleep(1)
    worker.join(120)
    d = result["r"].decision
    assert d.promote is promoted and d.rule == rule and "user:ana" in d.reasons[-1]
    assert registry("cancer-model")["aliases"]["champion"] == ("1" if promoted else None)
    assert ledger.history("cancer-model")[-1].actor == "approval:user:ana"


def test_manual_approval_times_out_to_a_rejection(project: Path) -> None:
    spec = edit_spec(
        project,
        "min_improvement: 0.001",
        "min_improvement: 0.001\n  approval: {mode: manual, timeout_seconds: 10}",
    )
    d = retrain(str(spec)).decision
    assert not d.promote and d.rule == "approval-timeout"
    assert registry("cancer-model")["aliases"]["champion"] is None


def test_candidates_train_concurrently_and_the_best_on_validation_becomes_the_challenger(
    project: Path,
) -> None:
    from mlflow import MlflowClient

    from mlops.settings import get_settings

    spec = edit_spec(
        project,
        "params: {C: 1.0, max_iter: 500}",
        "params: {max_iter: 500}\n  candidates: [{C: 0.0005}, {C: 1.0}, {C: 0.002}]",
    )
    result = retrain(str(spec))
    run = MlflowClient(get_settings().tracking_uri).get_run(result.run_id)
    assert run.data.params["model.C"] == "1.0"  # the strongest regularisation loses on validation
    assert {"candidate.0", "candidate.1", "candidate.2"} <= set(run.data.params)
    assert "validation_roc_auc" in run.data.params["candidate.1"]


def test_a_bad_candidate_param_is_a_spec_error(project: Path) -> None:
    from mlops.cli.checks import check_spec

    spec = edit_spec(
        project,
        "params: {C: 1.0, max_iter: 500}",
        "params: {max_iter: 500}\n  candidates: [{C: 1.0}, {Cc: 2.0}]",
    )
    _, problems = check_spec(spec)
    assert [p.path for p in problems] == ["model.candidates[1].Cc"] and "did you mean 'C'?" in problems[
        0
    ].render()


def _promote(spec: Path, *args: str) -> Any:
    from typer.testing import CliRunner

    from mlops.cli.main import app

    return CliRunner().invoke(app, ["promote", str(spec), *args])


# the cancer spec with a loose guardrail, then its second version: max_iter 501, the same model in effect
LOOSE = ("max_drop: 0.05", "max_drop: 1.0")
SAME_MODEL = ("{C: 1.0, max_iter: 500}", "{C: 1.0, max_iter: 501}")


@pytest.fixture(scope="module")
def rejected_v2_home(
    prefect_harness: str, empty_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An MLOPS_HOME where the LOOSE spec trained v1 (champion), then SAME_MODEL's v2 (rejected), made once for
    the two tests that start from that registry (each copies it: `use_rejected_v2`)."""

    def train(folder: Path) -> None:
        spec = edit_spec(make_project(folder / "proj"), *LOOSE)
        retrain(str(spec))  # v1 champion
        edit_spec(folder / "proj", *SAME_MODEL)
        assert retrain(str(spec)).decision.rule == "not-improved"  # v2 rejected: the same model in effect

    return trained_home(tmp_path_factory, empty_store, "rejected-v2", train)


@pytest.fixture
def use_rejected_v2(project: Path, rejected_v2_home: Path, isolated_home: Path) -> Path:
    """This test's MLOPS_HOME a copy of `rejected_v2_home`; returns the project's spec, edited as it was there."""
    copy_home(rejected_v2_home, isolated_home)
    edit_spec(project, *LOOSE)
    return edit_spec(project, *SAME_MODEL)


def test_a_person_promotes_a_version_the_policy_rejected(project: Path, use_rejected_v2: Path) -> None:
    """Issue 23: an honest model rejected against a leaky first champion is put in charge by name, as a manual
    promotion (not a rollback): aliases, decision tags, ledger and history say so; mistakes move nothing."""
    spec = use_rejected_v2  # v1 champion, v2 rejected (asserted where the home is made)
    before = registry("cancer-model")
    assert before["aliases"] == {"champion": "1", "challenger": "2", "previous": None}

    mistakes = [
        (["--version", "9", "--reason", "typo"], "has no version 9"),
        (["--version", "1", "--reason", "again"], "already the champion"),
        (["--version", "other-model/2", "--reason", "x"], "names a version of 'other-model'"),
        (["--version", "2", "--reason", "  "], "--reason must say why"),
        (["--version", "2"], "Missing option '--reason'"),
    ]
    for args, said in mistakes:
        result = _promote(spec, *args)
        assert result.exit_code == 2, (args, result.output)
        assert said in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output
    assert registry("cancer-model") == before and len(ledger.history("cancer-model")) == 2

    result = _promote(spec, "--version", "v2", "--reason", "v1 saw the label through a leaky column")
    assert result.exit_code == 0, result.output
    assert "v2 promoted by hand" in result.output
    assert registry("cancer-model")["aliases"] == {"champion": "2", "challenger": "2", "previous": "1"}
    from tasks.tracking.champion import registry_state

    v2 = next(v for v in registry_state("cancer-model") if v.version == "2")
    assert v2.tag("decision") == "promoted" and v2.tag("decision.rule") == "manual-promotion"
    assert (
        v2.tag("decision.policy") == "rejected (not-improved)" and v2.tag("decision.champion_version") == "1"
    )
    assert "v1 saw the label through a leaky column" in v2.tag("decision.reasons")
    entry = ledger.history("cancer-model")[-1]
    assert (entry.action, entry.champion_before, entry.champion_after) == ("manual-promotion", "1", "2")
    assert entry.reasons == ["v1 saw the label through a leaky column"] and entry.actor.startswith("user:")

    import json

    from typer.testing import CliRunner

    from mlops.cli.main import app

    shown = CliRunner().invoke(app, ["history", str(spec), "--json"])
    last = json.loads(shown.output)["entries"][-1]
    assert (
        shown.exit_code == 0 and last["action"] == "manual-promotion" and last["rule"] == "manual-promotion"
    )
    assert last["reasons"] == ["v1 saw the label through a leaky column"]
    # the next retrain compares against the promoted champion: a rejected run now reads v2
    edit_spec(project, "{C: 1.0, max_iter: 501}", "{C: 1.0, max_iter: 502}")
    assert retrain(str(spec)).champion_before == "2"


@pytest.mark.usefixtures("use_rejected_v2")  # v1 champion, v2 rejected
def test_a_manual_promotion_that_fails_midway_moves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.tracking import registry as reg
    from tasks.tracking.champion import registry_state

    before = registry("cancer-model")
    tags_before = next(v for v in registry_state("cancer-model") if v.version == "2").tags

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("the tracking store went away")

    monkeypatch.setattr(reg, "record", broken)
    with pytest.raises(RuntimeError):
        reg.promote("cancer-model", "cancer", "2", "why", actor="user:test", approval_mode="auto")
    assert registry("cancer-model") == before
    assert next(v for v in registry_state("cancer-model") if v.version == "2").tags == tags_before
    assert len(ledger.history("cancer-model")) == 2


def test_promote_respects_a_dry_run_spec(project: Path) -> None:
    spec = edit_spec(project, "min_improvement: 0.001", "min_improvement: 0.001\n  approval: {mode: dry_run}")
    retrain(str(spec))
    result = _promote(spec, "--version", "1", "--reason", "try")
    assert result.exit_code == 2 and "dry_run" in result.output
    assert set(registry("cancer-model")["aliases"].values()) == {None}
