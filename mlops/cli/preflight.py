"""Before a run starts Prefect: the services it is configured for must be usable. A malformed or unreachable
PREFECT_API_URL, an MLOPS_HOME or MLFLOW_TRACKING_URI that cannot work: each named with its variable, its value
and the fix, in one paragraph, before anything runs (never Prefect's "RuntimeError ... report it")."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlops.cli.runtime import fail

HEALTH_TIMEOUT = 5.0
UNSET = "unset it to run on a temporary local Prefect server"


def preflight_spec(spec: Path, params: dict[str, Any] | None = None) -> None:
    """The same checks as `mlops validate`, before anything runs: a spec error exits 2 with nothing written."""
    from mlops.cli.checks import check_spec
    from mlops.cli.runtime import spec_problems

    _, problems = check_spec(spec, params)
    if problems:
        spec_problems(problems)


def check_services(settings: Any) -> None:
    from mlops.cli.access import Refused, check_mlflow_access, check_prefect_auth

    if settings.prefect_api_url:
        check_prefect_api(settings.prefect_api_url)
    from tasks.tracking.preflight import StoreUnusable, check_store
    from tasks.tracking.store import AccessDenied

    try:
        if settings.prefect_api_url:
            check_prefect_auth(settings.prefect_api_url)
        check_store(settings)
        check_mlflow_access(settings)
    except (StoreUnusable, Refused, AccessDenied) as exc:
        fail(exc.exit_code, str(exc))


def check_prefect_api(url: str) -> None:
    """PREFECT_API_URL must be an http(s) URL of a server that answers; any HTTP answer counts (a server that
    needs a key still says so itself), only no answer at all is refused."""
    import urllib.error
    import urllib.request

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        well_formed = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a port that is not a number
        well_formed = False
    if not well_formed:
        fail(
            2,
            f"PREFECT_API_URL is '{url}', which is not a Prefect API URL; set it to your Prefect server's API, "
            f"e.g. http://127.0.0.1:4200/api (`mlops serve` starts one), or {UNSET}. Nothing was run.",
        )
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT):
            return
    except urllib.error.HTTPError:
        return  # something answers at that address: Prefect's own client says the rest
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        fail(
            1,
            f"PREFECT_API_URL is {url}, but no Prefect server answers there ({reason}); start it (`mlops serve`, "
            f"or `prefect server start`), correct PREFECT_API_URL, or {UNSET}. Nothing was run.",
        )
