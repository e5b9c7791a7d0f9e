"""What the Prefect server holds, read and set through Prefect's client: work pools (created for `mlops serve`,
checked for `mlops deploy` and `mlops trigger`) and the deployed schedules with their next dates.
Prefect is imported inside the functions.
"""

from __future__ import annotations

import time
from typing import Any

from mlops.cli.prefect_yaml import duration


def ensure_process_pools(api_url: str, names: list[str]) -> tuple[list[str], list[str]]:
    """Create each missing work pool as a process pool with Prefect's default job template.

    Returns (created, of another type): a pool of another type is left alone; its workers run its flows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    created, other = [], []
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for name in names:
            try:
                pool = client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=name,
                        type="process",
                        base_job_template=ProcessWorker.get_default_base_job_template(),
                        description="Runs flows as subprocesses of a worker started in the project folder.",
                    )
                )
                created.append(name)
                continue
            if pool.type != "process":
                other.append(f"{name} ({pool.type})")
    return created, other


def missing_pools(api_url: str, names: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    missing = []
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                missing.append(name)
    return missing


def wait_pools_ready(api_url: str, names: list[str], timeout: float = 60) -> list[str]:
    """Wait until a worker polls each pool (status READY); return the pools still not ready after `timeout`."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    waiting = list(names)
    start = time.monotonic()
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while waiting and time.monotonic() - start < timeout:
            waiting = [n for n in waiting if not _ready(client.read_work_pool(n).status)]
            if waiting:
                time.sleep(1)
    return waiting


def _ready(status: Any) -> bool:
    return status is not None and str(getattr(status, "value", status)).upper() == "READY"


def pool_has_worker(pool: str | None) -> bool | None:
    """Whether a worker polls the pool (None when it cannot be told)."""
    if not pool:
        return None
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            status = client.read_work_pool(pool).status
    except Exception:  # noqa: BLE001 - status display only: an unreadable pool shows as unknown
        return None
    return None if status is None else _ready(status)


def deployment_rows(api_url: str) -> list[tuple[str, str, str, str]]:
    """(deployment, schedules, next run, work pool) as the server holds them; the next run is computed from the
    active schedules, so it shows before the scheduler has created the runs."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = sorted(client.read_deployments(), key=lambda d: d.name)
    rows = []
    for d in deployments:
        schedules = ", ".join(_describe_schedule(s) for s in d.schedules) or "none"
        dates = [when for s in d.schedules if s.active and (when := next_date(s.schedule)) is not None]
        rows.append(
            (
                f"{flows.get(d.flow_id, '?')}/{d.name}",
                schedules,
                min(dates).strftime("%Y-%m-%d %H:%M %Z") if dates else "-",
                d.work_pool_name or "-",
            )
        )
    return rows


def next_date(schedule: Any) -> Any:
    """The schedule's next date after now, computed as the server's scheduler does (None if it cannot be).

    The one use of a private Prefect API in the front door: the client-side schedule models
    (prefect.client.schemas.schedules) cannot compute dates, so the schedule is re-read as the server-side model
    of the same name. tests/integration/test_library_contracts.py fails loudly if an upgrade breaks this."""
    import asyncio

    from prefect.server.schemas import schedules as server_schedules

    model = getattr(server_schedules, type(schedule).__name__, None)
    if model is None:
        return None
    try:
        dates = asyncio.run(model.model_validate(schedule.model_dump()).get_dates(n=1))
    except Exception:  # noqa: BLE001 - status display only: a schedule Prefect cannot expand shows no next run
        return None
    return dates[0] if dates else None


def _describe_schedule(s: Any) -> str:
    sched = s.schedule
    text = getattr(sched, "cron", None) or getattr(sched, "rrule", None)
    if text is None and getattr(sched, "interval", None) is not None:
        text = f"every {duration(sched.interval.total_seconds())}"
    tz = getattr(sched, "timezone", None)
    return f"{text}{' ' + tz if tz else ''}{'' if s.active else ' (off)'}"
