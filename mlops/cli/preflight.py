"""Before a run starts Prefect: the services it is configured for must be usable. A malformed or unreachable
PREFECT_API_URL, an MLOPS_HOME or MLFLOW_TRACKING_URI that cannot work: each named with its variable, its value
and the fix, in one paragraph, before anything runs (never Prefect's "RuntimeError ... report it"). Each server is
reached with the connect timeout and bounded retry of mlops/reach.py: seconds, not minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlops.cli.runtime import fail
from mlops.errors import MlopsError
from mlops.text import mask_url

UNSET = "unset it to run on a temporary local Prefect server"


def preflight_spec(spec: Path, params: dict[str, Any] | None = None) -> None:
    """The same checks as `mlops validate`, before anything runs: a spec error exits 2 with nothing written."""
    from mlops.cli.checks import check_spec
    from mlops.cli.runtime import spec_problems

    _, problems = check_spec(spec, params)
    if problems:
        spec_problems(problems)


def check_services(settings: Any) -> None:
    from mlops.cli.access import check_mlflow_access, check_prefect_auth

    if settings.prefect_api_url:
        check_prefect_api(settings.prefect_api_url)
    from tasks.tracking.preflight import check_store

    try:
        if settings.prefect_api_url:
            check_prefect_auth(settings.prefect_api_url)
        check_store(settings)  # a server store is reached first (ServiceDown, ServiceRefused)
        check_mlflow_access(settings)
    except MlopsError as exc:
        fail(exc.exit_code, str(exc))


def check_prefect_api(url: str) -> None:
    """PREFECT_API_URL must be an http(s) URL of a server that answers within the retry policy; any HTTP answer
    counts (a server that needs a key still says so itself), only no answer at all is refused."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        well_formed = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a port that is not a number
        well_formed = False
    if not well_formed:
        fail(
            2,
            f"PREFECT_API_URL is '{mask_url(url)}', which is not a Prefect API URL; set it to your Prefect server's API, "
            f"e.g. http://127.0.0.1:4200/api (`mlops serve` starts one), or {UNSET}. Nothing was run.",
        )
    error = prefect_unreachable(url)
    if error is not None:
        fail(error.exit_code, str(error))


def prefect_unreachable(url: str) -> MlopsError | None:
    """None when a Prefect API answers at PREFECT_API_URL within the retry policy of mlops/reach.py, else the
    user's message: ServiceDown (exit 1) when nothing answers (Prefect's own client would wait up to its request
    timeout, 60 s, on each of its retries for a server that accepts and never answers), ServiceRefused (exit 2)
    when something answers that is not a Prefect API (not_prefect_api)."""
    from mlops.reach import http_attempt, http_failure, reach, unreached_error

    unreached = reach(http_attempt(f"{url.rstrip('/')}/health"), http_failure)
    if unreached is None:
        return not_prefect_api(url)
    return unreached_error(
        "Prefect server",
        "PREFECT_API_URL",
        url,
        unreached,
        f"start it (`mlops serve`, or `prefect server start`), correct PREFECT_API_URL, or {UNSET}",
        f"correct PREFECT_API_URL, or {UNSET}",
    )


def health(url: str) -> tuple[int | None, bytes]:
    """GET `<url>/health` once: the HTTP status (None when nothing answers) and the start of the body."""
    import urllib.error
    import urllib.request

    from mlops.reach import connect_timeout, credentials_apart

    bare, headers = credentials_apart(f"{url.rstrip('/')}/health")
    try:
        with urllib.request.urlopen(
            urllib.request.Request(bare, headers=headers), timeout=connect_timeout()
        ) as r:
            return int(r.status), r.read(4096)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(4096)
    except (OSError, ValueError):
        return None, b""


def is_prefect_health(status: int | None, body: bytes) -> bool:
    """A Prefect server's API answers GET /health with 200 and the JSON `true`."""
    return status == 200 and body.strip() == b"true"


def not_prefect_api(url: str) -> MlopsError | None:
    """Something answers at PREFECT_API_URL: is it a Prefect API? A Prefect server's `/api/health` says `true`;
    its root, a wrong path and any other web server answer 404 or an HTML page, and Prefect's client would then
    fail deep in a run with a message that names neither the variable nor the fix. So the URL is said, with the
    address of the API when this server has one (`http://host:4200` without `/api`), before anything runs.
    A server that asks for credentials here (401, 403) is left to the credentials check."""
    from mlops.reach import ServiceRefused

    status, body = health(url)
    if status in (401, 403) or is_prefect_health(status, body):
        return None
    base = url.strip().rstrip("/")
    parts = urlsplit(base)
    candidates = [f"{base}/api"] if not base.endswith("/api") else []
    root = f"{parts.scheme}://{parts.netloc}/api"
    if root not in (base, *candidates):
        candidates.append(root)
    found = next((c for c in candidates if is_prefect_health(*health(c))), None)
    if status is None:
        said = "no answer"
    elif b"<html" in body.lower() or b"<!doctype html" in body.lower():
        said = f"HTTP {status} and an HTML page"
    else:
        text = body.decode("utf-8", "replace").strip().replace("\n", " ")
        said = f"HTTP {status}" + (f" and '{text[:60]}'" if text else "")
    if found is not None:
        why = " (no /api)" if found == f"{base}/api" else f" (GET {mask_url(base)}/health answered {said})"
        return ServiceRefused(
            f"PREFECT_API_URL is {mask_url(url)}{why}: the Prefect API is at {mask_url(found)}; set "
            f"PREFECT_API_URL={mask_url(found)}, then rerun. Nothing was run."
        )
    return ServiceRefused(
        f"PREFECT_API_URL is {mask_url(url)}, but what answers there is not a Prefect API: GET "
        f"{mask_url(base)}/health answered {said}, where a Prefect server answers `true`; set PREFECT_API_URL to "
        f"your Prefect server's API (it ends in /api, e.g. http://127.0.0.1:4200/api), or {UNSET}. Nothing was run."
    )
