"""`mlops trigger`: find the deployment that runs a spec, start a run of it, and (with --wait) follow it to its
end with Prefect's own `wait_for_flow_run`. Prefect is imported inside the functions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.cli.errors import ServeError, UsageError
from mlops.cli.supervisor import ui_url_for
from mlops.secrets import hide_secrets
from mlops.spec import project_root
from mlops.text import mask_url, without_credentials

FINAL_OK = "COMPLETED"


@dataclass(frozen=True)
class Target:
    """The deployment a `mlops trigger` starts, and where to look at it."""

    full_name: str  # flow/deployment
    deployment_id: str
    pool: str | None
    spec_path: str


def require_api_url() -> str:
    from mlops.settings import get_settings

    url = get_settings().prefect_api_url
    if not url:
        raise UsageError(
            "deployment runs live on a Prefect server and PREFECT_API_URL is not set. Start the local one with "
            "`mlops serve` (it prints the export line), or point at a shared server: "
            "export PREFECT_API_URL=http://HOST:4200/api"
        )
    from mlops.cli.preflight import prefect_unreachable

    down = prefect_unreachable(url)  # seconds, not Prefect's client retrying a silent server for minutes
    if down is not None:
        raise down
    return url


def find_deployment(flow_name: str, spec: Path, deployment: str | None = None) -> Target:
    """The `flow_name` deployment on the server whose spec_path parameter is `spec` (or the one named)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    api_url = require_api_url()
    wanted = spec.resolve()
    root = project_root(spec)
    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
    except Exception as exc:  # noqa: BLE001 - any failure to read deployments becomes one ServeError naming the server
        raise ServeError(
            f"cannot read deployments from the Prefect server at {mask_url(api_url)} ({type(exc).__name__}: "
            f"{hide_secrets(str(exc))}). Is it "
            f"running? Start it with `mlops serve`, or fix PREFECT_API_URL."
        ) from None
    if deployment:
        found = [d for d in found if d.name == deployment]
    matches = []
    for d in found:
        sp = (d.parameters or {}).get("spec_path")
        if isinstance(sp, str) and ((root / sp).resolve() == wanted or Path(sp).resolve() == wanted):
            matches.append(d)
    if not matches:
        listed = (
            ", ".join(f"{d.name} ({(d.parameters or {}).get('spec_path', '?')})" for d in found) or "none"
        )
        named = f" named '{deployment}'" if deployment else ""
        raise UsageError(
            f"no '{flow_name}' deployment{named} on {mask_url(api_url)} runs {spec}; deployed {flow_name} deployments: "
            f"{listed}. Declare one in prefect.yaml and deploy it (`mlops deploy`, or restart `mlops serve`)."
        )
    if len(matches) > 1:
        names = ", ".join(d.name for d in matches)
        raise UsageError(
            f"several '{flow_name}' deployments run {spec} ({names}); pick one with --deployment NAME."
        )
    d = matches[0]
    return Target(f"{flow_name}/{d.name}", str(d.id), d.work_pool_name, str(d.parameters.get("spec_path")))


def start_run(target: Target, parameters: dict[str, Any]) -> Any:
    """Create the flow run now (it waits for a worker); returns the FlowRun."""
    from prefect.deployments import run_deployment

    return run_deployment(name=target.full_name, parameters=parameters, timeout=0)


def flow_run_url(flow_run_id: Any) -> str:
    from mlops.settings import get_settings

    api = get_settings().prefect_api_url or ""
    return f"{without_credentials(ui_url_for(api))}/runs/flow-run/{flow_run_id}"


def wait_for(flow_run_id: Any, timeout: float) -> Any:
    """The run once it reaches a final state, or as it is after `timeout` seconds (not final then: the run goes on
    on the server). Prefect's `wait_for_flow_run` does the waiting, following the run's events."""
    import asyncio
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.exceptions import FlowRunWaitTimeout
    from prefect.flow_runs import wait_for_flow_run

    try:
        return asyncio.run(wait_for_flow_run(UUID(str(flow_run_id)), timeout=math.ceil(timeout)))
    except FlowRunWaitTimeout:
        with get_client(sync_client=True) as client:
            return client.read_flow_run(flow_run_id)


def run_artifacts(flow_run_id: Any) -> list[tuple[str, str]]:
    """(key, description or link) of a run's artifacts, for the terminal. Prefect 3.8 stores link artifacts as
    markdown `[text](url)`, so a one-link body is shown as its URL."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    out = []
    for a in sorted(artifacts, key=lambda a: a.key or ""):
        link = LINK.fullmatch(a.data.strip()) if isinstance(a.data, str) else None
        text = f"{link.group(1)}: {link.group(2)}" if link else (a.description or a.type or "")
        out.append((a.key or "-", text))
    return out


LINK = re.compile(r"\[([^\]]*)\]\((\S+)\)")
