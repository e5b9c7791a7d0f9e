"""Wording shared by every message that points at a mistake: the closest valid name, where a YAML file breaks.

The ground floor of the ground floor: the standard library only, so any module may use it.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def did_you_mean(value: object, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt value, or None when nothing is close enough to suggest."""
    match = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's first line of text, at most `limit` characters: what goes inside a one-paragraph message
    (libraries' multi-line texts and stack dumps stay in the log)."""
    return (str(exc).strip().splitlines() or [""])[0][:limit]


def yaml_error(exc: Exception) -> tuple[str, str]:
    """(where, what) of a yaml.YAMLError: where is "line L, column C" (1-based; "" when PyYAML gives no
    position), what is PyYAML's own short reason."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return where, what


def shown(value: object) -> str:
    """A value as a person reads it: text in quotes, numbers plain (numpy's np.int64(0) is 0, a float keeps at
    most 6 significant digits), a list as its items; never a library's repr."""
    # numpy scalars (np.int64, np.float64, np.bool_) as Python's, without importing numpy
    if type(value).__module__ == "numpy" and callable(getattr(value, "item", None)):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()  # type: ignore[attr-defined]
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return "[" + ", ".join(shown(v) for v in items) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    return str(value)


# --- secrets never shown -------------------------------------------------------------------------------------

MASK = "***"
_SECRET_WORD = r"[A-Za-z_\-]*(?:password|passwd|pwd|secret|token|(?:api|access|private|secret)[_-]?key|signature|credentials?|auth|auth[_-]?string)"
# scheme://user:password@host, whatever the scheme: the password runs to the last '@' before the host ends (so an
# unencoded '@' in it is masked whole); a port (`host:4200/x@y`) is not a password: it has no '@' before a '/'
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#'\"<>]*):(?P<pw>[^\s/?#'\"<>]*)@")
# password=..., ?token=..., &api_key=..., MLFLOW_TRACKING_PASSWORD=...; and, in a query string only, the short
# names (sig, key, pass) that would be words in a sentence
_PAIR = re.compile(
    rf"(?i)(?P<head>(?:(?<=[?&;])(?:sig|key|pass)|(?<![A-Za-z0-9]){_SECRET_WORD})\s*=\s*)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;,'\"<>)]+)"
)
# a webhook URL whose path is its secret (Slack, Discord, Microsoft Teams): the path after the service's prefix
_WEBHOOK_PATH = re.compile(
    r"(?P<head>https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:[\w.-]*\.)?discord(?:app)?\.com/api/"
    r"webhooks/|[\w.-]+\.webhook\.office\.com/webhookb2/))[^\s'\"<>]+"
)
# an Authorization header's value: Bearer/Basic/Token and a token-like word (a digit, '+', '/' or '=' in it)
_HEADER = re.compile(
    r"(?P<head>\b(?:Bearer|Basic|Token)\s+)(?=[A-Za-z0-9._~+/\-]*[0-9+/=])[A-Za-z0-9._~+/\-]{8,}=*"
)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every credential we can recognise replaced by ***: the password of any `scheme://user:pw@`
    URL (whatever the scheme: postgresql, mysql, http, ...), secret query parameters and libpq words
    (`?password=`, `token=`, `api_key=`, ...), `Bearer`/`Basic` header values, and each of `secrets` (values
    known to be secret, e.g. MLFLOW_TRACKING_PASSWORD) wherever it appears. Everything else is left as it was,
    so a message still names the host, the port and the user."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _PAIR.sub(lambda m: m["head"] + MASK, text)
    text = _WEBHOOK_PATH.sub(lambda m: m["head"] + MASK, text)
    return _HEADER.sub(lambda m: m["head"] + MASK, text)


def mask_url(url: str) -> str:
    """A URL as it may be printed, logged, tagged or reported: its password (and any secret query parameter)
    replaced by ***, the rest unchanged (`postgresql://mlflow:***@db:5432/mlflow`)."""
    return mask_secrets(url)


def without_credentials(url: str) -> str:
    """A URL to show as a link (a UI address): no `user:password@` at all (the browser asks), no secret query
    parameters."""
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        if "@" in parts.netloc:
            url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return mask_secrets(url)
