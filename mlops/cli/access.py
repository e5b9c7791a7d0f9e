"""Shared servers with authentication: a client without credentials, or whose user may not do what it asks, is
told so in one paragraph naming the server and the variable to set, exit 2 (credentials to correct, as
mlops/cli/main.py's exit codes say: waiting does not make them right; mlops/reach.py), before anything is written (checked
before a run starts) or at the first refused write (never read as "no champion", never retried).

Credentials come from the environment only (PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME/PASSWORD) and no
message here ever contains a password or an auth string."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from mlops.errors import MlopsError
from mlops.reach import connect_timeout
from mlops.text import mask_url


class Refused(MlopsError):
    """A shared server refused this client's credentials: a setting to correct (exit 2), never retried."""

    exit_code = 2


def prefect_refused(url: str) -> Refused:
    has = bool(_prefect_auth_string())
    who = "the auth string in PREFECT_API_AUTH_STRING" if has else "a client without credentials"
    return Refused(
        f"the Prefect server at {mask_url(url)} refused {who} (401 unauthorized); set PREFECT_API_AUTH_STRING to the "
        "server's 'user:password' (its PREFECT_SERVER_API_AUTH_STRING; ask whoever runs it), then rerun. "
        "Nothing was run."
    )


def refused(exc: BaseException) -> MlopsError | None:
    """The user's message for an error that is a server refusing this client (MLflow 401/403, Prefect 401/403);
    None for any other error."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403) and type(exc).__module__.startswith(("prefect", "httpx")):
        from mlops.settings import get_settings

        url = str(getattr(getattr(exc, "request", None), "url", "") or get_settings().prefect_api_url or "")
        return prefect_refused(url.split("/api/")[0] + "/api" if "/api/" in url else url)
    from tasks.tracking.store import access_denied

    return access_denied(exc)


def _prefect_auth_string() -> str | None:
    from mlops.settings import get_settings

    secret = get_settings().prefect_api_auth_string
    value = secret.get_secret_value() if secret is not None else None
    if value is None:
        from prefect.settings import PREFECT_API_AUTH_STRING

        value = PREFECT_API_AUTH_STRING.value()
    return value or None


def check_prefect_auth(url: str, timeout: float | None = None) -> None:
    """Prefect's /health answers without credentials; an API call does not: 401 -> Refused. Any other answer (or
    none) is left to the run."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url.rstrip('/')}/admin/version")
    auth = _prefect_auth_string()
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=connect_timeout() if timeout is None else timeout):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise prefect_refused(url) from None
    except (OSError, ValueError):
        return


def local_store(tracking_uri: str) -> bool:
    """A store on this machine (sqlite:, file:, a plain path) has no credentials to refuse: checking it would only
    cost a search (and, for file:, a store opened) before every run. Servers (http, https, ...) are checked."""
    uri = tracking_uri.strip()
    return urlsplit(uri).scheme.lower() in ("file", "sqlite") or uri.startswith(("/", ".", "~"))


def check_mlflow_access(settings: Any) -> None:
    """A tracking server that refuses these credentials (401) stops the run before anything starts. Reading is
    all that is checked here: a read-only user is refused at its first write (AccessDenied)."""
    if settings.embedded_mlflow or local_store(settings.tracking_uri):
        return
    from tasks.tracking.store import access_denied, client

    try:
        client(settings).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - access_denied sorts the error; anything else is re-raised below
        denied = access_denied(exc)
        if denied is not None:
            raise denied from None
