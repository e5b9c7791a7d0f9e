"""Prefect events: how a drift verdict reaches automations (prefect.yaml triggers turn it into a retrain run)."""

from __future__ import annotations

from typing import Any

DRIFT_EVENT = "mlops.drift.detected"
ROLLBACK_EVENT = "mlops.rollback"
MANUAL_PROMOTION_EVENT = "mlops.promotion.manual"


def resource_id(pipeline: str) -> str:
    return f"mlops.pipeline.{pipeline}"


def emit_drift(pipeline: str, spec_path: str, payload: dict[str, Any], retrain: bool = False) -> str | None:
    """Emit `mlops.drift.detected` for the pipeline, with the verdict in the payload; returns the event id.

    The resource label `mlops.retrain` is "true" when the automation should start the retrain deployment
    (prefect.yaml's trigger matches on it); a monitor that retrains in its own process says "false"."""
    from prefect.events import emit_event

    event = emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": resource_id(pipeline),
            "prefect.resource.name": pipeline,
            "mlops.retrain": "true" if retrain else "false",
        },
        payload={"spec_path": spec_path, **payload},
    )
    return str(event.id) if event else None


def emit_registry_change(event_name: str, pipeline: str, payload: dict[str, Any]) -> str | None:
    """Emit `mlops.rollback` or `mlops.promotion.manual` for the pipeline after the CLI recorded that change of
    champion (notifications.yaml rules listen for them); waits up to a few seconds for the event to leave this
    process, as the CLI exits right after."""
    from prefect.events import emit_event

    event = emit_event(
        event=event_name,
        resource={"prefect.resource.id": resource_id(pipeline), "prefect.resource.name": pipeline},
        payload=payload,
    )
    return str(event.id) if event and drain_events() else None


def drain_events(timeout: float = 10) -> bool:
    """Send the events still queued in this process and stop Prefect's events worker; False when they were not all
    sent within `timeout` seconds.

    Stopping the worker queues a sentinel behind the last event, and Prefect's worker, handling that event, warns
    "Still processing items: 1 items remaining..." (the 1 is its own sentinel) on the terminal of a command that is
    done, e.g. after `mlops rollback`. That notice alone is silenced here; a failed send is still logged as an
    error."""
    import logging

    from prefect.events.worker import EventsWorker

    notice = logging.getLogger(EventsWorker.__name__)  # Prefect's services log under their class name
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        _, not_done = EventsWorker.drain_all(timeout=timeout)  # type: ignore[misc]
    finally:
        notice.setLevel(level)
    return not not_done
