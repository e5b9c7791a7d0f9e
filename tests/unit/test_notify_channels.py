"""Slack and SMTP email channels (issue 16): their notifications.yaml form, every mistake a one-paragraph usage
error (exit 2), and the Prefect blocks built from them, without a server (tests/e2e/test_notifications.py delivers
them through a real one)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.cli import notifications as nt
from mlops.cli import notify_blocks as nb
from mlops.cli import notify_config as nc
from mlops.cli.errors import UsageError

SMTP = {
    "kind": "email", "smtp_host": "smtp.example.com", "smtp_user_env": "SMTP_USER",
    "smtp_password_env": "SMTP_PASSWORD", "sender": "mlops@example.com", "to": ["a@example.com", "b@example.org"],
}  # fmt: skip
PASSWORD = "pa55:w/rd@x?y&z"


def test_an_smtp_channel_loads_and_the_sendgrid_form_stays_valid() -> None:
    smtp = nc.Channel.model_validate(SMTP)
    assert smtp.form == "smtp" and smtp.env_names() == ["SMTP_USER", "SMTP_PASSWORD"]
    relay = nc.Channel(
        kind="email", smtp_host="relay", tls="none", sender="m@example.com", to=["a@example.com"]
    )
    assert relay.form == "smtp" and relay.env_names() == []
    sendgrid = nc.Channel(kind="email", api_key_env="K", sender="m@example.com", to=["a@example.com"])
    assert sendgrid.form == "sendgrid" and sendgrid.env_names() == ["K"]
    assert nc.Channel(kind="slack", url_secret="s").form == "slack"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"smtp_password_env": None}, "an SMTP login needs smtp_user_env and one of smtp_password_env"),
        ({"smtp_user_env": None}, "an SMTP login needs smtp_user_env"),
        ({"smtp_password_secret": "s"}, "exactly one of smtp_password_env or smtp_password_secret"),
        ({"smtp_host": None}, "needs smtp_host (sent through your SMTP server) or one of api_key_env"),
        (
            {"smtp_host": None, "api_key_env": "K", "smtp_password_env": None},
            "smtp_user_env do(es) not apply to a SendGrid email channel",
        ),
        ({"api_key_env": "K"}, "api_key_env do(es) not apply to an SMTP email channel"),
        ({"tls": "tls"}, "channels.x.tls"),
        ({"smtp_port": 0}, "channels.x.smtp_port"),
        ({"smtp_host": "smtp example com"}, "smtp_host 'smtp example com' is not a host name"),
        ({"to": ["oncall"]}, "'oncall' is not an email address"),
        ({"sender": "mlops at example.com"}, "'mlops at example.com' is not an email address"),
        ({"smtp_user_env": "not a var"}, "smtp_user_env must name an environment variable (like SMTP_USER)"),
        ({"smtp_pasword_env": "P"}, "did you mean 'smtp_password_env'?"),
        ({"kind": "webhook", "url_env": "U"}, "do(es) not apply to a webhook channel"),
    ],
)
def test_smtp_mistakes_are_usage_errors_naming_the_field(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    import yaml

    channel = {k: v for k, v in {**SMTP, **change}.items() if v is not None}
    (tmp_path / nc.FILE_NAME).write_text(yaml.safe_dump({"channels": {"x": channel}}))
    with pytest.raises(UsageError) as caught:
        nc.load(tmp_path)
    assert caught.value.exit_code == 2 and expected in str(caught.value)


def apprise_of(block: object) -> object:
    (plugin,) = nb.apprise_plugins(block)
    return plugin


@pytest.mark.parametrize("stand_in", [object(), SimpleNamespace(_apprise_client=None)])
def test_a_prefect_without_the_apprise_client_is_a_plain_usage_error(stand_in: object) -> None:
    """What a Prefect that renamed SlackWebhook's private `_apprise_client` gives: our error, not an AttributeError
    (tests/integration/test_library_contracts.py pins the attribute on the Prefect we run)."""
    with pytest.raises(UsageError) as caught:
        nb.apprise_plugins(stand_in)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(
        "Prefect's SlackWebhook no longer exposes _apprise_client (checked on Prefect 3.8.8; this is Prefect "
    )
    assert str(caught.value).endswith(
        "): mlops cannot check email settings; pin prefect>=3.8.8,<3.9 or report it."
    )


@pytest.mark.parametrize(
    ("tls", "port", "scheme", "mode"),
    [
        (None, 587, "mailtos://", "starttls"),
        ("ssl", 465, "mailtos://", "ssl"),
        ("none", 25, "mailto://", "insecure"),
    ],
)
def test_the_smtp_settings_reach_apprise_as_written(
    tls: str | None, port: int, scheme: str, mode: str
) -> None:
    channel = nc.Channel.model_validate({**SMTP, "tls": tls})
    url = nb.mail_url(channel, "bot@example.com", PASSWORD)
    assert url.startswith(scheme) and PASSWORD not in url  # quoted, so any character is safe
    mail = apprise_of(nb.smtp_block("x", channel, "bot@example.com", PASSWORD))
    assert (mail.smtp_host, mail.port, mail.secure_mode) == ("smtp.example.com", port, mode)  # type: ignore[attr-defined]
    assert (mail.user, mail.password) == ("bot@example.com", PASSWORD)  # type: ignore[attr-defined]
    assert mail.from_addr[1] == "mlops@example.com"  # type: ignore[attr-defined]
    assert [t[1] for t in mail.targets] == ["a@example.com", "b@example.org"]  # type: ignore[attr-defined]
    assert mail.notify_format == "text"  # type: ignore[attr-defined]


def test_an_smtp_block_keeps_its_login_secret_and_a_refused_address_stops_the_deploy() -> None:
    channel = nc.Channel.model_validate({**SMTP, "smtp_port": 2525})
    block = nb.smtp_block("x", channel, "bot", PASSWORD)
    assert "pa55" not in str(block.model_dump()) and "pa55" not in repr(block)
    no_login = nb.smtp_block("x", nc.Channel.model_validate({**SMTP, "tls": "none"}), "", "")
    assert apprise_of(no_login).user is None  # type: ignore[attr-defined]
    bad = nc.Channel.model_validate({**SMTP, "to": ["a@example.com", "b@x..org"]})  # apprise would drop b
    with pytest.raises(
        UsageError, match="channel 'x': these SMTP settings are not accepted.*to b@x..org\\);"
    ) as caught:
        nb.smtp_block("x", bad, "bot", PASSWORD)
    assert caught.value.exit_code == 2 and "pa55" not in str(caught.value)


def test_a_slack_channel_posts_slacks_json_and_keeps_its_url_secret() -> None:
    url = "https://hooks.slack.com/services/T000/B000/t0ken"
    block = nt.block_for("team", nc.Channel(kind="slack", url_env="X"), url)
    assert "t0ken" not in str(block.model_dump()) and block.name == "mlops-team"
    request = block._build_request_args(
        body="Pipeline p: drift\nPrefect run: http://x", subject="mlops: drift"
    )
    assert request["url"] == url and request["method"] == "POST"
    assert request["json"] == {"text": "*mlops: drift*\nPipeline p: drift\nPrefect run: http://x"}


def test_block_for_reads_the_smtp_login_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = nc.Channel.model_validate(SMTP)
    monkeypatch.delenv("SMTP_USER", raising=False)
    with pytest.raises(UsageError, match=r"channel 'mail' reads its secret from \$SMTP_USER"):
        nt.block_for("mail", channel, PASSWORD)
    monkeypatch.setenv("SMTP_USER", "bot")
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    block = nt.block_for("mail", channel, nt.secret_value("mail", channel))
    assert apprise_of(block).password == PASSWORD  # type: ignore[attr-defined]
    assert nt.secret_value("relay", nc.Channel.model_validate({**SMTP, "smtp_user_env": None,
                                                               "smtp_password_env": None})) == ""  # fmt: skip


def test_deploy_checks_every_smtp_variable_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / nc.FILE_NAME).write_text(
        "channels:\n  mail: {kind: email, smtp_host: h, smtp_user_env: SMTP_USER, smtp_password_env: SMTP_PASSWORD,"
        " sender: m@example.com, to: [a@example.com]}\nrules: [{when: drift, notify: [mail]}]\n"
    )
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    monkeypatch.delenv("SMTP_USER", raising=False)
    with pytest.raises(UsageError, match=r"\$SMTP_USER, which is not set"):
        nt.check_notifications(tmp_path)
    monkeypatch.setenv("SMTP_USER", "bot")
    monkeypatch.delenv("SMTP_PASSWORD")
    with pytest.raises(UsageError, match=r"\$SMTP_PASSWORD, which is not set"):
        nt.check_notifications(tmp_path)


def test_slack_actions_escape_slack_markup_in_the_free_text_only() -> None:
    from prefect.server.events.actions import SendNotification

    rule = nc.Rule(when="run-failed", notify=["ops", "team"])
    built = nt.automation_for(rule, {"ops": uuid.uuid4(), "team": uuid.uuid4()}, "http://m", slack={"team"})
    plain, slack = (a.body for a in built.actions)
    assert "&lt;" not in plain and "replace('<', '&lt;')" in slack
    assert slack.replace(nt.SLACK_ONE_LINE, nt.ONE_LINE) == plain
    for action in built.actions:  # the server's own template validator
        SendNotification.model_validate(action.model_dump())


def test_the_documented_example_loads_with_its_slack_and_smtp_channels(tmp_path: Path) -> None:
    from tests.conftest import REPO

    section = (REPO / "docs" / "prefect.md").read_text().split("## Notifications", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / nc.FILE_NAME).write_text(example)
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "flight_delays.yaml").write_text("name: flight-delays\n")  # its rule names it
    loaded = nc.load(tmp_path)
    assert loaded is not None
    assert {c.form for c in loaded.channels.values()} == {"webhook", "slack", "smtp"}


def test_the_commented_channels_of_the_shipped_example_are_valid(tmp_path: Path) -> None:
    """notifications.example.yaml shows Slack and SMTP email as comments: uncommented, they load."""
    from tests.conftest import REPO

    lines = (REPO / "notifications.example.yaml").read_text().splitlines()
    start = lines.index("channels:")
    shown = [
        line.replace("  # ", "  ", 1)
        for line in lines[start + 1 : lines.index("rules:")]
        if line.startswith(("  # team-slack:", "  # oncall:", "  #      "))
    ]
    (tmp_path / nc.FILE_NAME).write_text("channels:\n" + "\n".join(shown) + "\nrules: []\n")
    loaded = nc.load(tmp_path)
    assert loaded is not None
    assert {n: c.form for n, c in loaded.channels.items()} == {"team-slack": "slack", "oncall": "smtp"}


def test_a_refused_channel_stops_the_deploy_before_any_block_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks are all built before any is saved: the server (none listens here) is never asked for anything."""
    (tmp_path / nc.FILE_NAME).write_text(
        "channels:\n  a-hook: {kind: webhook, url_env: HOOK}\n"
        "  z-mail: {kind: email, smtp_host: h, tls: none, sender: m@example.com, to: [b@x..org]}\n"
        "rules: [{when: drift, notify: [a-hook, z-mail]}]\n"
    )
    monkeypatch.setenv("HOOK", "http://127.0.0.1:1/hook")
    with pytest.raises(UsageError, match="channel 'z-mail': these SMTP settings are not accepted"):
        nt.sync(tmp_path, "http://127.0.0.1:9/api")
