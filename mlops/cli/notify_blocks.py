"""The Slack and SMTP email channels as notification blocks that a stock Prefect server can send: the server's
automation loads the block by its type, so it must be one of Prefect's own (a block class of ours would have to be
installed where the server runs). Prefect is imported inside the functions.

- Slack: an incoming webhook is an HTTPS POST of `{"text": ...}`; Prefect's Custom Webhook block posts exactly
  that, to any URL (a real `https://hooks.slack.com/services/...` or a receiver on 127.0.0.1 in the tests). Its
  `SlackWebhook` block would only reach Slack's own hosts.
- SMTP: Prefect 3.8 has no SMTP block (`SendgridEmail` is HTTPS to SendGrid; `prefect-email` 0.4.3 has only
  credentials and a task, nothing an automation can notify through). Its `SlackWebhook` block hands any URL that
  is not a Slack webhook to apprise, which sends mail for a `mailto://` (plain) or `mailtos://` (TLS) URL: the
  login, server and addresses go in that URL, which the block keeps as a secret field (obfuscated in the UI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from mlops.cli.errors import UsageError

if TYPE_CHECKING:
    from mlops.cli.notify_config import Channel

DEFAULT_PORT = {"starttls": 587, "ssl": 465, "none": 25}
# Slack's text is mrkdwn: the subject in bold, then the body (pipeline and verdict on the first line, the links).
SLACK_TEXT = "*{{subject}}*\n{{body}}"


def slack_block(block_name: str, url: str) -> Any:
    """A Slack incoming webhook: the URL (it carries Slack's token) is kept in the block's secret fields."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    return CustomWebhookNotificationBlock(
        name=block_name, url="{{url}}", json_data={"text": SLACK_TEXT}, secrets={"url": url}
    )


def mail_url(channel: Channel, user: str, password: str) -> str:
    """The apprise URL of an SMTP channel: `mailtos://` with STARTTLS or SMTPS, `mailto://` without TLS; plain
    text, the server named explicitly (`smtp=`, so apprise applies none of its per-provider guesses)."""
    tls = channel.tls or "starttls"
    host = channel.smtp_host or ""
    port = channel.smtp_port or DEFAULT_PORT[tls]
    login = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    query = {"smtp": host, "from": channel.sender or "", "to": ",".join(channel.to), "format": "text"}
    if tls != "none":
        query["mode"] = tls
    scheme = "mailto" if tls == "none" else "mailtos"
    return f"{scheme}://{login}{host}:{port}/?{urlencode(query)}"


# The Prefect version `apprise_plugins` was checked on (pyproject.toml pins prefect>=3.8.8,<3.9), and the pin to
# suggest if a later one has moved the attribute; tests/integration/test_library_contracts.py pins the contract.
PREFECT_CHECKED = "3.8.8"
PREFECT_PIN = "prefect>=3.8.8,<3.9"


def apprise_plugins(block: Any) -> list[Any]:
    """The apprise plugins of an apprise-backed Prefect block (`SlackWebhook` with a `mailto(s)://` URL: one
    NotifyEmail whose `targets` are `(name, address)` pairs), or [] when apprise refused the URL.

    Private on purpose, and the only place mlops touches it: Prefect has no public way to see what apprise made of
    a URL. Its `block_initialization` (AbstractAppriseNotificationBlock._start_apprise_client) builds an
    `apprise.Apprise` from the URL and keeps it as `block._apprise_client`; iterating an Apprise yields the plugins
    it accepted. Checked on Prefect 3.8.8 with apprise 1.13.1. A Prefect that no longer has it is a UsageError
    (exit 2) saying so, never an AttributeError."""
    client = getattr(block, "_apprise_client", None)
    if client is None or not hasattr(client, "__iter__"):
        from importlib.metadata import version

        raise UsageError(
            f"Prefect's SlackWebhook no longer exposes _apprise_client (checked on Prefect {PREFECT_CHECKED}; "
            f"this is Prefect {version('prefect')}): mlops cannot check email settings; pin {PREFECT_PIN} or "
            f"report it."
        )
    return list(client)


def smtp_block(name: str, channel: Channel, user: str, password: str) -> Any:
    """SMTP email through Prefect's apprise-backed block (see the module's docstring); UsageError (exit 2) when
    apprise refuses the settings, rather than an automation that fails at its first message."""
    from prefect.blocks.notifications import SlackWebhook

    block = SlackWebhook(url=mail_url(channel, user, password))
    plugins = apprise_plugins(block)  # empty when apprise refused the URL; it never says why without its logs
    accepted = {str(t[1]).lower() for t in getattr(plugins[0], "targets", [])} if plugins else set()
    refused = [a for a in channel.to if a.lower() not in accepted]  # apprise drops them with a warning
    if not plugins or refused:
        raise UsageError(
            f"notifications.yaml: channel {name!r}: these SMTP settings are not accepted (smtp_host "
            f"{channel.smtp_host!r}, sender {channel.sender!r}, to {', '.join(refused or channel.to)}); check the "
            f"host name and the addresses, and deploy again."
        )
    return block
