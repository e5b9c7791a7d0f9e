"""notifications.yaml, beside prefect.yaml: who hears about what. Read and checked here (pydantic, no Prefect);
mlops/cli/notifications.py turns it into Prefect notification blocks and automations.

    channels:                       # where messages go; secrets come from the environment or a Prefect Secret
      ops-webhook: {kind: webhook, url_env: MLOPS_NOTIFY_WEBHOOK_URL}
      team-slack: {kind: slack, url_secret: team-slack-webhook}
      oncall-mail: {kind: email, smtp_host: smtp.example.com, smtp_user_env: SMTP_USER,
                    smtp_password_env: SMTP_PASSWORD, sender: mlops@example.com, to: [a@example.com]}
    rules:                          # what is worth a message, and to which channels
      - {when: drift, notify: [ops-webhook, team-slack]}
      - {when: run-failed, notify: [ops-webhook], pipelines: [flight-delays]}
      - {when: approval-waiting, notify: [oncall-mail]}
      - {when: rollback, notify: [ops-webhook]}
      - {when: manual-promotion, notify: [ops-webhook]}    # `mlops promote`
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops.cli.errors import UsageError
from mlops.text import did_you_mean

FILE_NAME = "notifications.yaml"
WHEN = ("drift", "run-failed", "approval-waiting", "rollback", "manual-promotion")
When = Literal["drift", "run-failed", "approval-waiting", "rollback", "manual-promotion"]
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:]+$")  # a name, IPv4 or IPv6
EMAIL = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")
SECRETS = {
    "webhook": ("url_env", "url_secret"),
    "slack": ("url_env", "url_secret"),
    "sendgrid": ("api_key_env", "api_key_secret"),
    "smtp": ("smtp_password_env", "smtp_password_secret"),
}
ENV_FIELDS = ("url_env", "api_key_env", "smtp_user_env", "smtp_password_env")
SECRET_FIELDS = ("url_secret", "api_key_secret", "smtp_password_secret")
ENV_EXAMPLES = {
    "url_env": "SLACK_WEBHOOK_URL",
    "api_key_env": "SENDGRID_API_KEY",
    "smtp_user_env": "SMTP_USER",
    "smtp_password_env": "SMTP_PASSWORD",
}
BLOCK = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # Prefect block names: lowercase letters, digits and dashes
EMAIL_FIELDS = {"sender", "to"}
SMTP_FIELDS = {"smtp_host", "smtp_port", "tls", "smtp_user_env"}


def looks_secret(value: str) -> bool:
    """A value that may carry a secret if shown: a URL (a webhook's token is in its path), or a login."""
    return "://" in value or "@" in value or value.lower().startswith(("http", "hooks.", "www."))


def not_a_name(field: str, value: str, what: str, example: str) -> str:
    """The error for a field that must NAME where a secret is kept but holds something else: the value is never
    shown (a pasted webhook URL, key or password would land in CI logs)."""
    kind = "looks like a URL" if looks_secret(value) else "is not such a name"
    held = "the URL" if field.startswith("url") else "the secret"
    return (
        f"{field} must name {what} (like {example}), not hold {held} itself; the value given {kind} and is not "
        "shown"
    )


class Channel(BaseModel):
    """A notification block. The secret part (a webhook URL, an API key, an SMTP login) is never in this file: `*_env`
    names an environment variable of the process that runs `mlops deploy`/`mlops serve`, `*_secret` a Prefect
    Secret block. An email channel with `smtp_host` sends through that SMTP server, one without through SendGrid."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook", "slack", "email"]
    url_env: str | None = Field(None, description="webhook, slack: environment variable holding the URL")
    url_secret: str | None = Field(None, description="webhook, slack: Prefect Secret block holding the URL")
    api_key_env: str | None = Field(
        None, description="email (SendGrid): environment variable holding the key"
    )
    api_key_secret: str | None = Field(
        None, description="email (SendGrid): Prefect Secret block holding the key"
    )
    smtp_host: str | None = Field(None, description="email (SMTP): the mail server's host name")
    smtp_port: int | None = Field(
        None, ge=1, le=65535, description="email (SMTP): default 587 (starttls), 465 (ssl), 25 (none)"
    )
    tls: Literal["starttls", "ssl", "none"] | None = Field(
        None, description="email (SMTP): starttls (default), ssl (SMTPS) or none (a trusted relay)"
    )
    smtp_user_env: str | None = Field(
        None, description="email (SMTP): environment variable holding the login name"
    )
    smtp_password_env: str | None = Field(
        None, description="email (SMTP): environment variable holding the password"
    )
    smtp_password_secret: str | None = Field(
        None, description="email (SMTP): Prefect Secret block holding the password"
    )
    sender: str | None = Field(None, description="email: the sender address")
    to: list[str] = Field(default_factory=list, description="email: the recipients")

    @property
    def form(self) -> str:
        """webhook | slack | smtp | sendgrid: what the block is built as."""
        if self.kind != "email":
            return self.kind
        return "smtp" if self.smtp_host else "sendgrid"

    @property
    def secret_env(self) -> str | None:
        return self.url_env or self.api_key_env or self.smtp_password_env

    @property
    def secret_block(self) -> str | None:
        return self.url_secret or self.api_key_secret or self.smtp_password_secret

    def env_names(self) -> list[str]:
        """Every environment variable this channel reads when it is deployed."""
        return [v for v in (self.url_env, self.api_key_env, self.smtp_user_env, self.smtp_password_env) if v]

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        form = self.form
        secret = SECRETS[form]
        allowed = {"kind", *secret} | (EMAIL_FIELDS if self.kind == "email" else set())
        allowed |= SMTP_FIELDS if form == "smtp" else set()
        wrong = [k for k in type(self).model_fields if k not in allowed and getattr(self, k)]
        given = [k for k in secret if getattr(self, k)]
        if self.kind == "email" and not given and form == "sendgrid":
            raise ValueError(
                "an email channel needs smtp_host (sent through your SMTP server) or one of api_key_env or "
                "api_key_secret (sent through SendGrid)"
            )
        if len(given) > 1 or (not given and form != "smtp"):
            raise ValueError(f"a {self.kind} channel needs exactly one of {secret[0]} or {secret[1]}")
        if wrong:
            what = {"smtp": "an SMTP email", "sendgrid": "a SendGrid email"}.get(form, f"a {form}")
            raise ValueError(f"{', '.join(wrong)} do(es) not apply to {what} channel")
        if form == "smtp" and bool(self.smtp_user_env) != bool(given):
            raise ValueError(
                "an SMTP login needs smtp_user_env and one of smtp_password_env or smtp_password_secret "
                "(leave all three out for a server that takes mail without a login)"
            )
        if self.kind == "email" and (not self.sender or not self.to):
            raise ValueError("an email channel needs a sender and at least one address in `to`")
        if self.smtp_host and not HOST.match(self.smtp_host):
            if looks_secret(self.smtp_host):
                raise ValueError(
                    "smtp_host: the value given is not a host name (smtp.example.com, 10.0.0.5); it looks like a "
                    "URL or holds a login, and is not shown"
                )
            raise ValueError(f"smtp_host {self.smtp_host!r} is not a host name (smtp.example.com, 10.0.0.5)")
        bad = [a for a in [self.sender or "", *self.to] if not EMAIL.match(a)]
        if self.kind == "email" and bad:
            raise ValueError(f"{', '.join(map(repr, bad))} is not an email address (name@domain)")
        for field in ENV_FIELDS:
            value = getattr(self, field)
            if value and not ENV.match(value):
                raise ValueError(not_a_name(field, value, "an environment variable", ENV_EXAMPLES[field]))
        for field in SECRET_FIELDS:
            value = getattr(self, field)
            if value and not BLOCK.match(value):
                raise ValueError(not_a_name(field, value, "a Prefect Secret block", "team-slack-webhook"))
        return self


class Rule(BaseModel):
    """One automation: an event kind, the pipelines it covers (all when empty), the channels it notifies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    when: When
    notify: list[str] = Field(min_length=1)
    pipelines: list[str] = Field(default_factory=list)
    name: str | None = Field(
        None, description="the automation's name after 'mlops: '; default: the event kind"
    )

    @property
    def key(self) -> str:
        return self.name or (self.when if not self.pipelines else f"{self.when} {'+'.join(self.pipelines)}")


class Notifications(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Notifications:
        problems = [
            f"channel name {n!r}: lowercase letters, digits, - and _"
            for n in self.channels
            if not NAME.match(n)
        ]
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            for name in rule.notify:
                if name not in self.channels:
                    guess = did_you_mean(name, list(self.channels))
                    hint = (
                        f"did you mean {guess!r}?"
                        if guess
                        else f"declared: {', '.join(self.channels) or 'none'}"
                    )
                    problems.append(f"rules.{i}.notify: unknown channel {name!r}; {hint}")
            if rule.key in seen:
                problems.append(f"rules.{i}: a second rule named {rule.key!r}; give one a distinct `name`")
            seen.add(rule.key)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load(project: Path) -> Notifications | None:
    """The project's notifications.yaml, checked; None when there is none. UsageError (exit 2) on any problem: an
    empty file (a deploy would remove every mlops automation on the server; `rules: []` says so on purpose), a file
    that is not UTF-8, invalid YAML, a field that is wrong, a pipeline that is not a spec under deployments/. No
    message shows a value that may be a secret."""
    import yaml

    from mlops.text import yaml_error

    path = project / FILE_NAME
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: is not UTF-8 text (byte {exc.start} cannot be decoded; saved as Latin-1 or Windows-1252?); "
            f"save it as UTF-8 (your editor's encoding setting, or `iconv -f latin1 -t utf-8 {FILE_NAME} > "
            f"{FILE_NAME}.new && mv {FILE_NAME}.new {FILE_NAME}`) and deploy again."
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot be read ({exc.strerror or exc}); fix it and deploy again."
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # where and PyYAML's reason only: its full text quotes the line (a secret?)
        where, what = yaml_error(exc)
        raise UsageError(
            f"{path}: cannot be read as YAML ({', '.join(x for x in (where, what) if x)}); fix the file and deploy "
            "again."
        ) from None
    if raw is None:
        raise UsageError(
            f"{path} is empty (or only comments): deploying it would remove every mlops automation on the server. "
            "Declare `channels:` and `rules:` (see notifications.example.yaml); to remove them all on purpose, write "
            "`rules: []`; to leave the server's notifications alone, delete the file."
        )
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping with `channels:` and `rules:`; see docs/prefect.md.")
    try:
        declared = Notifications.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{path}: {describe(exc, raw)}. Fix the file and deploy again.") from None
    problems = []
    if "rules" not in raw:
        problems.append(
            "no `rules:`, so a deploy would remove every mlops automation on the server; declare the rules, or "
            "write `rules: []` to remove them all on purpose"
        )
    problems += pipeline_problems(declared, project)
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}. Fix the file and deploy again.")
    return declared


def pipeline_names(project: Path) -> list[str]:
    """The pipelines of the project: the `name:` of each spec under deployments/ (unreadable specs are left to
    `mlops validate`)."""
    import yaml

    names = []
    for spec in sorted((project / "deployments").glob("*.y*ml")):
        try:
            raw = yaml.safe_load(spec.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            names.append(raw["name"])
    return names


def pipeline_problems(declared: Notifications, project: Path) -> list[str]:
    """A rule's `pipelines:` must name pipelines of the project: a misspelt one would never be notified."""
    known = pipeline_names(project)
    problems = []
    for i, rule in enumerate(declared.rules):
        for name in rule.pipelines:
            if name in known:
                continue
            guess = did_you_mean(name, known)
            hint = (
                f"did you mean {guess!r}?"
                if guess
                else f"the pipelines (the `name:` of each spec under deployments/) are: {', '.join(known) or 'none'}"
            )
            problems.append(f"rules.{i}.pipelines: {name!r} is not a pipeline of this project, so it would never be "
                            f"notified; {hint}")  # fmt: skip
    return problems


def describe(exc: ValidationError, raw: dict[str, object]) -> str:
    """Pydantic's errors as one line each: the field path, what is wrong, and the closest valid field name."""
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            field = str(e["loc"][-1])
            model = Channel if "channels" in where else Rule if "rules" in where else Notifications
            guess = did_you_mean(field, list(model.model_fields))
            parts.append(f"{where}: unknown field" + (f"; did you mean {guess!r}?" if guess else ""))
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)
