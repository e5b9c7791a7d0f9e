"""notifications.yaml made real on the Prefect server: a notification block per channel and an automation per
rule, created or updated by `mlops deploy` and `mlops serve`. Idempotent: automations are matched by name
("mlops: <rule>"), an unchanged one is left alone, a duplicate is removed, and one whose rule was deleted from
the file is deleted too. Also the CLI's announcements of a champion changed by hand (the `mlops.rollback` and
`mlops.promotion.manual` events).

The messages are Prefect's Jinja templates, rendered by the server when the event arrives; each says the
pipeline, the verdict or error in one line, and links to the Prefect run and the MLflow run (or model version).
Secrets are read at deploy time from the environment or a Prefect Secret block and stored only in the block's
secret fields: never in the repository, the automation or a log. Prefect is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.cli.errors import ServeError, UsageError

if TYPE_CHECKING:
    from mlops.cli.notify_config import Channel, Notifications, Rule

PREFIX = "mlops: "
DESCRIPTION = "Declared in notifications.yaml; `mlops deploy` keeps it in step (edits here are overwritten)."
FLOWS = ["retrain", "monitor", "replay", "predict"]
NO_RULES = "no notification rules: every mlops automation on the server is removed"
ONE_LINE = "|replace('\\n', ' ')|truncate(300)"
# In Slack's mrkdwn, & < > are markup: the free text of a message (reasons, errors) is escaped for Slack channels.
SLACK_ONE_LINE = ONE_LINE + "|replace('&', '&amp;')|replace('<', '&lt;')|replace('>', '&gt;')"

# (events, related resources to match, subject, body) per rule kind. The body's first line is the verdict.
SUBJECTS = {
    "drift": "mlops: drift in {{ event.resource.name }}",
    "rollback": "mlops: {{ event.resource.name }} rolled back",
    "manual-promotion": "mlops: {{ event.resource.name }} champion set by hand",
    "run-failed": "mlops: a {{ flow.name }} run {{ event.resource['prefect.state-name'] }}",
    "approval-waiting": "mlops: a promotion waits for approval",
}
PREFECT_LINK = "Prefect run: {{ flow_run|ui_url if flow_run else 'none' }}"
BODIES = {
    # state: "drift", "quality drop", "unjudgeable features" (joined with "and"); events before it carry none
    "drift": "Pipeline {{ event.resource.name }}: {{ event.payload.state or 'drift' }}, action {{ event.payload.action }}: "
    "{{ (event.payload.reasons or ['no reason given'])|first"
    + ONE_LINE
    + " }}\n"
    + PREFECT_LINK
    + "\nMLflow run: {{ event.payload.mlflow_run_url or 'not recorded' }}",
    "rollback": "Pipeline {{ event.resource.name }}: champion of {{ event.payload.model }} rolled back from "
    "v{{ event.payload.from_version }} to v{{ event.payload.to_version }} by {{ event.payload.actor }}: "
    "{{ event.payload.reason" + ONE_LINE + " }}\n"
    "Prefect run: none (done with mlops rollback)\nMLflow model version: {{ event.payload.mlflow_url }}",
    "manual-promotion": "Pipeline {{ event.resource.name }}: v{{ event.payload.to_version }} of "
    "{{ event.payload.model }} made champion by hand (was {{ event.payload.from_version }}) by "
    "{{ event.payload.actor }}: {{ event.payload.reason" + ONE_LINE + " }}\n"
    "Prefect run: none (done with mlops promote)\nMLflow model version: {{ event.payload.mlflow_url }}",
    "run-failed": "Pipeline {{ flow_run.parameters.spec_path }}: {{ flow.name }} run {{ flow_run.name }} "
    "{{ event.resource['prefect.state-name'] }}: "
    "{{ (event.resource['prefect.state-message'] or 'no message')"
    + ONE_LINE
    + " }}\n"
    + PREFECT_LINK
    + "\nMLflow runs: {mlflow_ui} (the Prefect run's artifacts link its MLflow run)",
    "approval-waiting": "Pipeline {{ flow_run.parameters.spec_path }}: a promotion waits for approval "
    "(answer in the Prefect UI or with mlops approve/reject {{ flow_run.parameters.spec_path }})\n"
    + PREFECT_LINK
    + "\nMLflow runs: {mlflow_ui} (the Prefect run's artifacts link the challenger's run)",
}


@dataclass(frozen=True)
class Change:
    automation: str
    what: str  # created | updated | unchanged | removed


def block_name(channel: str) -> str:
    """Prefect block names allow lowercase letters, digits and dashes."""
    return "mlops-" + channel.replace("_", "-")


def automation_name(rule: Rule) -> str:
    return PREFIX + rule.key


def trigger_for(rule: Rule) -> Any:
    """The EventTrigger of a rule: mlops' own events match the pipeline resource; a failed, crashed or paused
    flow run matches the project's flows, and with `pipelines:` the deployment tags (deployment runs only)."""
    from prefect.events.schemas.automations import EventTrigger, Posture

    related: list[dict[str, Any]] = []
    if rule.when in ("drift", "rollback", "manual-promotion"):
        from tasks.events import DRIFT_EVENT, MANUAL_PROMOTION_EVENT, ROLLBACK_EVENT, resource_id

        ours = {"drift": DRIFT_EVENT, "rollback": ROLLBACK_EVENT, "manual-promotion": MANUAL_PROMOTION_EVENT}
        expect = {ours[rule.when]}
        ids: str | list[str] = [resource_id(p) for p in rule.pipelines] or resource_id("*")
        match: dict[str, Any] = {"prefect.resource.id": ids}
    else:
        failed = rule.when == "run-failed"
        expect = (
            {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"} if failed else {"prefect.flow-run.Paused"}
        )
        match = {"prefect.resource.id": "prefect.flow-run.*"}
        related.append(
            {"prefect.resource.role": "flow", "prefect.resource.name": FLOWS if failed else ["retrain"]}
        )
        if rule.pipelines:
            related.append(
                {
                    "prefect.resource.role": "tag",
                    "prefect.resource.id": [f"prefect.tag.{p}" for p in rule.pipelines],
                }
            )
    return EventTrigger(
        expect=expect, match=match, match_related=related, posture=Posture.Reactive, threshold=1, within=0
    )


def automation_for(rule: Rule, block_ids: dict[str, Any], mlflow_ui: str, slack: Collection[str] = ()) -> Any:
    """The automation a rule declares: its trigger and one SendNotification per channel it names (the channels
    named in `slack` get the Slack-escaped message)."""
    from prefect.automations import AutomationCore, SendNotification

    body = BODIES[rule.when].replace("{mlflow_ui}", mlflow_ui)
    slack_body = body.replace(ONE_LINE, SLACK_ONE_LINE)
    actions = [
        SendNotification(
            block_document_id=block_ids[c],
            subject=SUBJECTS[rule.when],
            body=slack_body if c in slack else body,
        )
        for c in rule.notify
    ]
    return AutomationCore(
        name=automation_name(rule),
        description=DESCRIPTION,
        enabled=True,
        trigger=trigger_for(rule),
        actions=actions,
    )


def env_value(name: str, env: str) -> str:
    """A channel's setting from the environment of this process (never logged); UsageError when it is unset."""
    value = os.environ.get(env, "")
    if not value:
        raise UsageError(
            f"notifications.yaml: channel {name!r} reads its secret from ${env}, which is not set here; "
            f"export it before `mlops deploy`/`mlops serve` (or use a Prefect Secret block)."
        )
    return value


def checked_url(name: str, value: str, source: str) -> str:
    """A webhook channel's URL, checked before anything is deployed: http(s), a host, a valid port. UsageError
    otherwise; the value is never shown (a webhook URL carries its token)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a bad port, an unbalanced [ in the host
        valid = False
    if not valid:
        raise UsageError(
            f"notifications.yaml: channel {name!r} reads its URL from {source}, which does not hold a webhook URL "
            "(expected http:// or https:// and a host, e.g. https://hooks.slack.com/services/...); the value is "
            "not shown. Set it to the full URL the service gave you and deploy again."
        )
    return value.strip()


def secret_value(name: str, channel: Channel) -> str:
    """The channel's secret, from the environment of this process or a Prefect Secret block (never logged); empty
    for an SMTP channel without a login. A webhook or Slack URL is checked to be one (checked_url)."""
    url = channel.form in ("webhook", "slack")
    if channel.secret_env:
        value = env_value(name, channel.secret_env)
        return checked_url(name, value, f"${channel.secret_env}") if url else value
    if not channel.secret_block:
        return ""
    from prefect.blocks.system import Secret

    secret = channel.secret_block
    try:
        block: Any = Secret.load(secret)
        value = str(block.get())
    except ValueError:
        raise UsageError(
            f"notifications.yaml: channel {name!r} names the Prefect Secret block {secret!r}, which the server does "
            f"not have; create it (prefect block create secret, or Secret(value=...).save({secret!r}))."
        ) from None
    return checked_url(name, value, f"the Prefect Secret block {secret!r}") if url else value


def block_for(name: str, channel: Channel, secret: str) -> Any:
    """The notification block of a channel. A webhook's URL is kept in the block's secret fields (the UI shows
    it obfuscated) and substituted when the message is sent; the message is posted as JSON. Slack and SMTP: see
    mlops/cli/notify_blocks.py."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, SendgridEmail

    from mlops.cli import notify_blocks

    if channel.form == "slack":
        return notify_blocks.slack_block(block_name(name), secret)
    if channel.form == "smtp":
        user = env_value(name, channel.smtp_user_env) if channel.smtp_user_env else ""
        return notify_blocks.smtp_block(name, channel, user, secret)
    if channel.form == "sendgrid":
        return SendgridEmail(api_key=secret, sender_email=channel.sender, to_emails=channel.to)
    return CustomWebhookNotificationBlock(
        name=block_name(name),
        url="{{url}}",
        json_data={"subject": "{{subject}}", "body": "{{body}}", "text": "{{subject}}\n{{body}}"},
        secrets={"url": secret},
    )


def comparable(automation: Any) -> dict[str, Any]:
    """What makes two automations the same rule: everything but ids (sets compared as sorted lists)."""
    from prefect.automations import AutomationCore

    data = AutomationCore.model_validate(automation.model_dump(exclude={"id", "owner_resource"}))
    dumped = data.model_dump(mode="json", exclude={"owner_resource"})
    dumped["trigger"].pop("id", None)
    return _sorted(dumped)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_sorted(v) for v in value]
        return sorted(items) if all(isinstance(v, str) for v in items) else items
    return value


def sync(project: Path, api_url: str) -> list[Change] | None:
    """Make the server's blocks and automations what notifications.yaml says; None when there is no such file."""
    from mlops.cli import notify_config

    declared = notify_config.load(project)
    if declared is None:
        return None
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from mlops.settings import get_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            return _apply(declared, get_settings().mlflow_ui_url, get_client)
        except (UsageError, ServeError):
            raise
        except Exception as exc:  # noqa: BLE001 - any setup failure becomes one ServeError naming the server
            detail = redacted(str(exc), declared)[:300]
            raise ServeError(
                f"could not set up the notifications of notifications.yaml on {api_url}: {type(exc).__name__}: "
                f"{detail}. The deployments are in place; fix the cause and run `mlops deploy` again."
            ) from None


def redacted(text: str, declared: Notifications) -> str:
    """`text` (a library's error) without any secret a channel reads from the environment, plain or URL-quoted:
    a library may quote the URL or login it failed on, and this message lands in CI logs."""
    from urllib.parse import quote

    for channel in declared.channels.values():
        for env in channel.env_names():
            value = os.environ.get(env, "")
            if len(value) >= 4:  # a shorter value would blank ordinary words, and is no secret worth the name
                for form in {value, quote(value, safe=""), quote(value)}:
                    text = text.replace(form, "***")
    return text


def _apply(declared: Notifications, mlflow_ui: str, get_client: Any) -> list[Change]:
    used = {c for rule in declared.rules for c in rule.notify}
    built = {}  # every block built (secrets read, settings checked) before any is saved
    for name in sorted(used):
        channel = declared.channels[name]
        built[name] = block_for(name, channel, secret_value(name, channel))
    block_ids = {name: block.save(block_name(name), overwrite=True) for name, block in built.items()}
    slack = {n for n, c in declared.channels.items() if c.kind == "slack"}
    wanted = {automation_name(r): automation_for(r, block_ids, mlflow_ui, slack) for r in declared.rules}
    changes = []
    with get_client(sync_client=True) as client:
        existing: dict[str, list[Any]] = {}
        for a in client.read_automations():
            if a.name.startswith(PREFIX):
                existing.setdefault(a.name, []).append(a)
        for name, automation in wanted.items():
            found = existing.pop(name, [])
            for extra in found[1:]:  # a duplicate from an earlier, interrupted deploy
                client.delete_automation(extra.id)
            if not found:
                client.create_automation(automation)
                changes.append(Change(name, "created"))
            elif comparable(found[0]) != comparable(automation):
                client.update_automation(found[0].id, automation)
                changes.append(Change(name, "updated"))
            else:
                changes.append(Change(name, "unchanged"))
        for name, stale in existing.items():
            if all(a.description == DESCRIPTION for a in stale):
                for a in stale:
                    client.delete_automation(a.id)
                changes.append(Change(name, "removed"))
    return changes


def announce_rollback(pipeline: str, model: str, before: str, after: str, reason: str, actor: str) -> bool:
    """Emit `mlops.rollback` when a Prefect server is there to hear it (PREFECT_API_URL, or one running on this
    machine); False when there is none. Never fails the rollback, which is already recorded."""
    return _announce("rollback", pipeline, model, before, after, reason, actor)


def announce_manual_promotion(
    pipeline: str, model: str, before: str, after: str, reason: str, actor: str
) -> bool:
    """Emit `mlops.promotion.manual` after `mlops promote` recorded it; as announce_rollback. `before` is the
    champion it replaced ("v3", or "no champion")."""
    return _announce("manual-promotion", pipeline, model, before, after, reason, actor)


def _announce(kind: str, pipeline: str, model: str, before: str, after: str, reason: str, actor: str) -> bool:
    from mlops.cli.runtime import prefect_settings

    settings = prefect_settings(start=False)  # a kept local server if one runs; never start one for this
    if not settings.prefect_api_url:
        return False
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.events import MANUAL_PROMOTION_EVENT, ROLLBACK_EVENT, emit_registry_change
    from tasks.tracking.store import version_url

    payload = {
        "model": model, "from_version": before, "to_version": after, "reason": reason, "actor": actor,
        "mlflow_url": version_url(model, after),
    }  # fmt: skip
    try:
        with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
            event = ROLLBACK_EVENT if kind == "rollback" else MANUAL_PROMOTION_EVENT
            return emit_registry_change(event, pipeline, payload) is not None
    except Exception:  # noqa: BLE001 - the caller reports an event that could not be sent
        return False


def check_notifications(project: Path) -> None:
    """Before anything is deployed: notifications.yaml is valid and every secret it reads from the environment is
    set (UsageError, exit 2, otherwise). Secret blocks are read from the server at deploy time."""
    from mlops.cli import notify_config
    from mlops.cli.render import out

    declared = notify_config.load(project)
    if declared is None:
        return
    for name in sorted({c for rule in declared.rules for c in rule.notify}):
        channel = declared.channels[name]
        for env in channel.env_names():
            value = env_value(name, env)
            if env == channel.url_env:
                checked_url(name, value, f"${env}")
    if not declared.rules:
        out.print(f"Notifications ({notify_config.FILE_NAME}): {NO_RULES}", markup=False)


def deploy_notifications(project: Path, api_url: str) -> None:
    """`mlops deploy`/`mlops serve`: sync notifications.yaml and say what changed (nothing when there is none)."""
    from mlops.cli.render import out

    changes = sync(project, api_url)
    if changes is None:
        return
    counts = {w: sum(c.what == w for c in changes) for w in ("created", "updated", "unchanged", "removed")}
    summary = ", ".join(f"{n} {w}" for w, n in counts.items() if n) or "nothing to do"
    if not any(c.what != "removed" for c in changes):  # `rules: []`: said in so many words
        summary = f"{NO_RULES}" + (
            f" ({counts['removed']} removed)" if counts["removed"] else " (there were none)"
        )
    out.print(f"Notifications (notifications.yaml): {summary}", markup=False)
    for c in changes:
        if c.what != "unchanged":
            out.print(f"  {c.what}: automation '{c.automation}'", markup=False)
