"""The credentials this process holds, and the one way to hide them: whatever is printed, logged, tagged or
reported passes through hide_secrets. The standard library only (no pydantic): the CLI's every line goes through it,
`mlops --version` included."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import unquote

from mlops.text import mask_secrets

# Variables whose value is a credential by their name alone (MLFLOW_TRACKING_PASSWORD, PREFECT_API_KEY,
# PREFECT_API_AUTH_STRING, AWS_SECRET_ACCESS_KEY, DATABASE_PASSWORD, MLOPS_NOTIFY_WEBHOOK_URL: a webhook URL is its own secret, ...)
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|ACCESS_KEY|AUTH_STRING|CREDENTIALS?)$|_SECRET_|WEBHOOK"
)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credentials this process holds in its environment: the values of the variables named as secrets, the
    password half of a `user:password` auth string, and the password of every URL-valued variable (as written and
    percent-decoded). What hide_secrets() masks wherever it appears, even where no pattern would find it."""
    found: list[str] = []
    for name, value in (os.environ if environ is None else environ).items():
        if not value:
            continue
        if _SECRET_NAME.search(name.upper()):
            found.append(value)
            if name.upper().endswith("AUTH_STRING") and ":" in value:
                found.append(value.partition(":")[2])
        if "://" in value and "@" in value:
            netloc = value.partition("://")[2].split("/", 1)[0].split("?", 1)[0]
            userinfo = netloc.rpartition("@")[0]
            if ":" in userinfo:
                password = userinfo.partition(":")[2]
                found += [password, unquote(password)]
    return found


def hide_secrets(text: str) -> str:
    """`text` as it may be printed, logged, tagged or reported: every URL's password, every secret-looking
    parameter and every credential held in the environment masked (mlops.text.mask_secrets)."""
    return mask_secrets(text, secret_values())
