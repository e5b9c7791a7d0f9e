"""notifications.yaml, beside prefect.yaml: who hears about what. Read and checked here (pydantic, no Prefect);
mlops/cli/notifications.py turns it into Prefect notification blocks and automations.

    channels:                       # where messages go; secrets come from the environment or a Prefect Secret
      ops-webhook: {kind: webhook, url_env: MLOPS_NOTIFY_WEBHOOK_URL}
      team-slack: {kind: slack, url_secret: team-slack-webhook}
      oncall-mail: {kind: email, api_key_env: SENDGRID_API_KEY, sender: mlops@example.com, to: [a@example.com]}
    rules:                          # what is worth a message, and to which channels
      - {when: drift, notify: [ops-webhook, team-slack]}
      - {when: run-failed, notify: [ops-webhook], pipelines: [flight-delays]}
      - {when: approval-waiting, notify: [oncall-mail]}
      - {when: rollback, notify: [ops-webhook]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops.cli.errors import UsageError
from mlops.text import did_you_mean

FILE_NAME = "notifications.yaml"
WHEN = ("drift", "run-failed", "approval-waiting", "rollback")
When = Literal["drift", "run-failed", "approval-waiting", "rollback"]
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Channel(BaseModel):
    """A notification block. The secret part (a webhook URL, an API key) is never in this file: `*_env` names an
    environment variable of the process that runs `mlops deploy`/`mlops serve`, `*_secret` a Prefect Secret block."""

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
    sender: str | None = Field(None, description="email: the sender address")
    to: list[str] = Field(default_factory=list, description="email: the recipients")

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        secret = ("api_key_env", "api_key_secret") if self.kind == "email" else ("url_env", "url_secret")
        other = ("url_env", "url_secret") if self.kind == "email" else ("api_key_env", "api_key_secret")
        given = [k for k in secret if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"a {self.kind} channel needs exactly one of {secret[0]} or {secret[1]}")
        wrong = [k for k in other if getattr(self, k)]
        if self.kind != "email":
            wrong += [k for k in ("sender", "to") if getattr(self, k)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} do(es) not apply to a {self.kind} channel")
        if self.kind == "email" and (not self.sender or not self.to):
            raise ValueError("an email channel needs a sender and at least one address in `to`")
        env = self.url_env or self.api_key_env
        if env and not ENV.match(env):
            raise ValueError(f"{env!r} is not an environment variable name")
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
    """The project's notifications.yaml, checked; None when there is none. UsageError (exit 2) on any problem."""
    import yaml

    path = project / FILE_NAME
    if not path.is_file():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot be read as YAML ({exc}); fix the file and deploy again.") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping with `channels:` and `rules:`; see docs/prefect.md.")
    try:
        return Notifications.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{path}: {describe(exc, raw)}. Fix the file and deploy again.") from None


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
