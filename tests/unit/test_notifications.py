"""notifications.yaml: the schema (every mistake a one-paragraph usage error, exit 2) and the Prefect automations
built from it (triggers, actions, message templates), without a server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mlops.cli import notifications as nt
from mlops.cli import notify_config as nc
from mlops.cli.errors import UsageError

GOOD = """
channels:
  ops-webhook: {kind: webhook, url_env: MLOPS_TEST_WEBHOOK}
  team-slack: {kind: slack, url_secret: team-slack-url}
  oncall: {kind: email, api_key_env: SENDGRID_KEY, sender: mlops@example.com, to: [a@example.com]}
rules:
  - {when: drift, notify: [ops-webhook, team-slack]}
  - {when: run-failed, notify: [ops-webhook], pipelines: [flight-delays]}
  - {when: approval-waiting, notify: [oncall]}
  - {when: rollback, notify: [ops-webhook]}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / nc.FILE_NAME).write_text(text)
    return tmp_path


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(UsageError) as caught:
        nc.load(write(tmp_path, text))
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "Traceback" not in message and str(tmp_path / nc.FILE_NAME) in message
    return message


def test_no_file_means_no_notifications(tmp_path: Path) -> None:
    assert nc.load(tmp_path) is None
    assert nt.sync(tmp_path, "http://127.0.0.1:9/api") is None  # nothing asked of the server


def test_a_good_file_loads(tmp_path: Path) -> None:
    loaded = nc.load(write(tmp_path, GOOD))
    assert loaded is not None
    assert [r.key for r in loaded.rules] == [
        "drift",
        "run-failed flight-delays",
        "approval-waiting",
        "rollback",
    ]
    assert loaded.channels["oncall"].to == ["a@example.com"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{when: drift, notify: [ops]}]", "rules.0.notify: unknown channel 'ops'"),
        (
            "channels: {ops: {kind: webhook, url_env: X}}\nrules: [{when: drift, notify: [opz]}]",
            "did you mean 'ops'?",
        ),
        (
            "channels: {ops: {kind: webhook, url_env: X}}\nrules: [{when: drfit, notify: [ops]}]",
            "rules.0.when",
        ),
        ("channels: {ops: {kind: webhook, url_env: X, urll: y}}", "channels.ops.urll: unknown field"),
        ("channels: {ops: {kind: webhook, url: 'https://hooks.example.com/x'}}", "did you mean 'url_env'?"),
        ("channels: {ops: {kind: webhook}}", "exactly one of url_env or url_secret"),
        ("channels: {ops: {kind: slack, url_env: X, url_secret: y}}", "exactly one of url_env or url_secret"),
        ("channels: {ops: {kind: email, api_key_env: K}}", "needs a sender and at least one address"),
        ("channels: {ops: {kind: webhook, url_env: X, to: [a@b.c]}}", "to do(es) not apply to a webhook"),
        ("channels: {ops: {kind: webhook, url_env: 'not a var'}}", "not an environment variable name"),
        ("channels: {Ops!: {kind: webhook, url_env: X}}", "channel name 'Ops!'"),
        (
            "channels: {ops: {kind: webhook, url_env: X}}\n"
            "rules: [{when: drift, notify: [ops]}, {when: drift, notify: [ops]}]",
            "a second rule named 'drift'",
        ),
        ("- just a list", "expected a mapping"),
        ("channels: {ops: [unclosed", "cannot be read as YAML"),
    ],
)
def test_mistakes_are_usage_errors_naming_the_field(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in problem(tmp_path, text)


def test_a_missing_secret_is_named_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = nc.Channel(kind="webhook", url_env="MLOPS_TEST_WEBHOOK")
    monkeypatch.delenv("MLOPS_TEST_WEBHOOK", raising=False)
    with pytest.raises(UsageError, match=r"\$MLOPS_TEST_WEBHOOK, which is not set"):
        nt.secret_value("ops", channel)
    monkeypatch.setenv("MLOPS_TEST_WEBHOOK", "http://127.0.0.1:1/hook?token=s3cret")
    assert nt.secret_value("ops", channel) == "http://127.0.0.1:1/hook?token=s3cret"


def rules(tmp_path: Path) -> dict[str, nc.Rule]:
    loaded = nc.load(write(tmp_path, GOOD))
    assert loaded is not None
    return {r.when: r for r in loaded.rules}


def test_drift_and_rollback_rules_match_the_pipeline_events(tmp_path: Path) -> None:
    by_on = rules(tmp_path)
    drift = nt.trigger_for(by_on["drift"])
    assert drift.expect == {"mlops.drift.detected"}
    assert drift.match.model_dump()["prefect.resource.id"] == "mlops.pipeline.*"
    assert drift.posture == "Reactive" and drift.threshold == 1
    rollback = nt.trigger_for(by_on["rollback"])
    assert rollback.expect == {"mlops.rollback"}
    narrowed = nt.trigger_for(nc.Rule(when="drift", notify=["x"], pipelines=["a", "b"]))
    assert narrowed.match.model_dump()["prefect.resource.id"] == ["mlops.pipeline.a", "mlops.pipeline.b"]


def test_run_rules_match_failed_crashed_and_paused_runs_of_the_project_flows(tmp_path: Path) -> None:
    by_on = rules(tmp_path)
    failed = nt.trigger_for(by_on["run-failed"])
    assert failed.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    related = [r.model_dump() for r in failed.match_related]
    assert {
        "prefect.resource.role": "flow",
        "prefect.resource.name": ["retrain", "monitor", "replay", "predict"],
    } in related
    assert {"prefect.resource.role": "tag", "prefect.resource.id": ["prefect.tag.flight-delays"]} in related
    paused = nt.trigger_for(by_on["approval-waiting"])
    assert paused.expect == {"prefect.flow-run.Paused"}
    assert [r.model_dump() for r in paused.match_related] == [
        {"prefect.resource.role": "flow", "prefect.resource.name": ["retrain"]}
    ]


def test_each_channel_gets_a_notification_action_with_the_pipeline_verdict_and_links(tmp_path: Path) -> None:
    by_on = rules(tmp_path)
    ids = {"ops-webhook": uuid.uuid4(), "team-slack": uuid.uuid4(), "oncall": uuid.uuid4()}
    drift = nt.automation_for(by_on["drift"], ids, "http://mlflow.internal:5000")
    assert drift.name == "mlops: drift" and drift.enabled
    assert [a.block_document_id for a in drift.actions] == [ids["ops-webhook"], ids["team-slack"]]
    body = drift.actions[0].body
    assert "{{ event.resource.name }}" in body and "event.payload.action" in body
    assert "flow_run|ui_url" in body and "event.payload.mlflow_run_url" in body
    failed = nt.automation_for(by_on["run-failed"], ids, "http://mlflow.internal:5000")
    assert "prefect.state-message" in failed.actions[0].body
    assert "http://mlflow.internal:5000" in failed.actions[0].body
    assert "{mlflow_ui}" not in failed.actions[0].body
    rollback = nt.automation_for(by_on["rollback"], ids, "x")
    assert (
        "event.payload.reason" in rollback.actions[0].body
        and "event.payload.mlflow_url" in rollback.actions[0].body
    )


def test_templates_are_valid_for_the_prefect_server(tmp_path: Path) -> None:
    """The server validates the templates when the automation is created: checked here with its own validator."""
    from prefect.server.events.actions import SendNotification

    for rule in rules(tmp_path).values():
        built = nt.automation_for(rule, {c: uuid.uuid4() for c in rule.notify}, "http://m")
        for action in built.actions:
            SendNotification.model_validate(action.model_dump())


def test_the_same_rule_compares_equal_whatever_the_ids_and_set_order(tmp_path: Path) -> None:
    from prefect.automations import Automation

    rule = rules(tmp_path)["run-failed"]
    ids = {"ops-webhook": uuid.uuid4()}
    one = nt.automation_for(rule, ids, "http://m")
    read_back = Automation.model_validate({**one.model_dump(), "id": uuid.uuid4()})
    assert nt.comparable(read_back) == nt.comparable(nt.automation_for(rule, ids, "http://m"))
    assert nt.comparable(read_back) != nt.comparable(nt.automation_for(rule, ids, "http://other"))
    assert nt.comparable(one) != nt.comparable(
        nt.automation_for(rule, {"ops-webhook": uuid.uuid4()}, "http://m")
    )


def test_a_webhook_block_keeps_its_url_secret() -> None:
    block = nt.block_for(
        "ops", nc.Channel(kind="webhook", url_env="X"), "http://127.0.0.1:1/hook?token=s3cret"
    )
    assert "s3cret" not in block.url and "s3cret" not in str(block.model_dump())
    request = block._build_request_args(body="the body", subject="the subject")
    assert request["url"] == "http://127.0.0.1:1/hook?token=s3cret"
    assert request["json"]["body"] == "the body" and request["json"]["subject"] == "the subject"


def test_deploy_checks_the_file_and_its_environment_before_deploying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlops deploy` and `mlops serve` call this before `prefect deploy`: a missing secret stops them (exit 2)
    with nothing deployed; a Prefect Secret block is only read at deploy time."""
    write(tmp_path, GOOD)
    monkeypatch.delenv("MLOPS_TEST_WEBHOOK", raising=False)
    monkeypatch.setenv("SENDGRID_KEY", "k")
    with pytest.raises(UsageError, match="channel 'ops-webhook' reads its secret from \\$MLOPS_TEST_WEBHOOK"):
        nt.check_notifications(tmp_path)
    monkeypatch.setenv("MLOPS_TEST_WEBHOOK", "http://127.0.0.1:1/hook")
    nt.check_notifications(tmp_path)  # team-slack's Secret block is not looked up here
    nt.check_notifications(tmp_path / "elsewhere")  # no notifications.yaml: nothing to check


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    from tests.conftest import REPO

    loaded = nc.load(write(tmp_path, (REPO / "notifications.example.yaml").read_text()))
    assert loaded is not None
    assert {r.when for r in loaded.rules} == {"drift", "run-failed", "approval-waiting", "rollback"}


def test_the_served_server_knows_its_ui_url_for_the_links_in_messages(tmp_path: Path) -> None:
    """Without PREFECT_UI_URL the server (which has no PREFECT_API_URL) renders `{{ flow_run|ui_url }}` as None."""
    from mlops.cli import supervisor as sv

    assert sv.server_env(4321, tmp_path)["PREFECT_UI_URL"] == "http://127.0.0.1:4321"
