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
  - {when: manual-promotion, notify: [ops-webhook]}
"""


def write(tmp_path: Path, text: str) -> Path:
    """notifications.yaml in a project whose deployments/ holds the pipeline `flight-delays`."""
    (tmp_path / "deployments").mkdir(exist_ok=True)
    (tmp_path / "deployments" / "flight_delays.yaml").write_text("name: flight-delays\n")
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
        "manual-promotion",
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
        (
            "channels: {ops: {kind: webhook, url_env: 'not a var'}}",
            "url_env must name an environment variable",
        ),
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
    by_hand = nt.trigger_for(by_on["manual-promotion"])
    assert by_hand.expect == {"mlops.promotion.manual"}
    assert by_hand.match.model_dump()["prefect.resource.id"] == "mlops.pipeline.*"
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
    by_hand = nt.automation_for(by_on["manual-promotion"], ids, "x")
    assert by_hand.name == "mlops: manual-promotion"
    assert all(f"event.payload.{k}" in by_hand.actions[0].body for k in ("to_version", "actor", "reason"))


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
    assert {r.when for r in loaded.rules} == set(nc.WHEN)


def test_the_served_server_knows_its_ui_url_for_the_links_in_messages(tmp_path: Path) -> None:
    """Without PREFECT_UI_URL the server (which has no PREFECT_API_URL) renders `{{ flow_run|ui_url }}` as None."""
    from mlops.cli import supervisor as sv

    assert sv.server_env(4321, tmp_path)["PREFECT_UI_URL"] == "http://127.0.0.1:4321"


# --- issue 24: the file fails closed, and no message shows a secret ------------------------------------------

HOOK = "https://hooks.slack.com/services/T000/B000/s3cretT0ken"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n# another\n"])
def test_an_empty_file_is_refused_because_a_deploy_would_remove_every_automation(
    tmp_path: Path, text: str
) -> None:
    message = problem(tmp_path, text)
    assert "is empty (or only comments)" in message and "remove every mlops automation" in message
    assert "`rules: []`" in message


def test_rules_left_out_is_refused_and_an_empty_list_is_accepted_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no `rules:`" in problem(tmp_path, "channels: {ops: {kind: webhook, url_env: X}}\n")
    write(tmp_path, "rules: []\n")
    loaded = nc.load(tmp_path)
    assert loaded is not None and loaded.rules == []
    nt.check_notifications(tmp_path)  # what `mlops deploy --check` shows
    assert "no notification rules: every mlops automation on the server is removed" in capsys.readouterr().out


def test_a_misspelt_pipeline_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    text = "channels: {ops: {kind: webhook, url_env: X}}\nrules: [{when: drift, notify: [ops], pipelines: [flight-delay]}]"
    message = problem(tmp_path, text)
    assert "rules.0.pipelines: 'flight-delay' is not a pipeline of this project" in message
    assert "did you mean 'flight-delays'?" in message


def test_a_file_that_is_not_utf8_is_one_paragraph_naming_the_fix(tmp_path: Path) -> None:
    write(tmp_path, "")
    (tmp_path / nc.FILE_NAME).write_bytes("# équipe\nrules: []\n".encode("latin-1"))
    with pytest.raises(UsageError) as caught:
        nc.load(tmp_path)
    message = str(caught.value)
    assert "is not UTF-8 text" in message and "save it as UTF-8" in message and "iconv -f latin1" in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "url_env",
            HOOK,
            "url_env must name an environment variable (like SLACK_WEBHOOK_URL), not hold the URL",
        ),
        ("url_secret", HOOK, "url_secret must name a Prefect Secret block"),
        ("api_key_env", "SG.s3cretT0ken.xyz", "api_key_env must name an environment variable"),
        ("smtp_password_env", "hunter2 s3cretT0ken", "smtp_password_env must name an environment variable"),
        (
            "smtp_host",
            "smtp://user:s3cretT0ken@mail.example.com",
            "smtp_host: the value given is not a host name",
        ),
    ],
)
def test_a_secret_pasted_into_a_field_is_never_echoed(
    tmp_path: Path, field: str, value: str, expected: str
) -> None:
    kind = "kind: webhook" if field.startswith("url") else "kind: email, sender: a@b.c, to: [a@b.c]"
    extra = {
        "api_key_env": "",
        "smtp_password_env": ", smtp_host: smtp.example.com, smtp_user_env: U",
        "smtp_host": "",
    }.get(field, "")
    text = (
        f"channels: {{ops: {{{kind}{extra}, {field}: '{value}'}}}}\nrules: [{{when: drift, notify: [ops]}}]\n"
    )
    message = problem(tmp_path, text)
    assert expected in message, message
    assert "s3cretT0ken" not in message and "not shown" in message


def test_a_yaml_error_does_not_quote_the_line(tmp_path: Path) -> None:
    message = problem(tmp_path, f"channels: {{ops: {{kind: webhook, url_env: {HOOK}\n")
    assert "cannot be read as YAML" in message and "s3cretT0ken" not in message


@pytest.mark.parametrize(
    "value", ["hooks.slack.com/services/x", "ftp://example.com/x", "https:///no-host", "http://h:99999/"]
)
def test_a_malformed_webhook_url_is_refused_before_deploying_and_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    write(
        tmp_path,
        "channels: {ops: {kind: webhook, url_env: HOOK_URL}}\nrules: [{when: drift, notify: [ops]}]\n",
    )
    monkeypatch.setenv("HOOK_URL", value)
    with pytest.raises(UsageError) as caught:
        nt.check_notifications(tmp_path)
    message = str(caught.value)
    assert "reads its URL from $HOOK_URL, which does not hold a webhook URL" in message
    assert value not in message and caught.value.exit_code == 2
    monkeypatch.setenv("HOOK_URL", HOOK)
    nt.check_notifications(tmp_path)


def test_a_library_error_never_carries_a_secret_into_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = nc.load(write(tmp_path, GOOD))
    assert loaded is not None
    monkeypatch.setenv("MLOPS_TEST_WEBHOOK", HOOK)
    monkeypatch.setenv("SENDGRID_KEY", "SG.key/with:odd@chars")
    text = f"POST {HOOK} failed; login SG.key%2Fwith%3Aodd%40chars refused"
    assert nt.redacted(text, loaded) == "POST *** failed; login *** refused"
