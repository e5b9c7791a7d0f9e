"""Answering a manual promotion approval from the terminal: find the paused retrain run of a spec, resume it."""

from __future__ import annotations

from pathlib import Path

from mlops.errors import MlopsError


def answer(spec: Path, approved: bool, reviewer: str, comment: str) -> str:
    """Resume the retrain run of `spec` that waits for approval, with the answer; returns the run's name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import get_current_settings

    from mlops.cli.preflight import prefect_unreachable
    from mlops.settings import get_settings

    url = get_settings().prefect_api_url or get_current_settings().api.url  # set by prefect_settings()
    down = prefect_unreachable(str(url)) if url else None
    if down is not None:
        raise down
    wanted = spec.resolve()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["retrain"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
        )
    waiting = [r for r in runs if _same(r.parameters.get("spec_path"), wanted)]
    if not waiting:
        raise MlopsError(
            f"no retrain run of {spec} is waiting for approval (none is paused on this Prefect server)."
        )
    run = sorted(waiting, key=lambda r: r.created or 0)[-1]
    resume_flow_run(run.id, run_input={"approve": approved, "reviewer": reviewer, "comment": comment})
    return run.name


def _same(value: object, wanted: Path) -> bool:
    try:
        return value is not None and Path(str(value)).resolve() == wanted
    except OSError:
        return False
