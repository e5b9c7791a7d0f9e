"""The monitor's memory between runs, kept on the registered model: when drift last started a retrain, so the
retrain policy's cooldown holds across runs, processes and machines."""

from __future__ import annotations

from tasks.tracking.store import TAG, client, is_transient


def last_retrain_trigger(model_name: str) -> str | None:
    """When (data time, ISO) drift last started a retrain of this model; None when it never did."""
    c = client()
    try:
        return c.get_registered_model(model_name).tags.get(f"{TAG}last_drift_retrain") or None
    except Exception as exc:
        if is_transient(exc):
            raise
        return None


def record_retrain_trigger(model_name: str, when: str) -> None:
    client().set_registered_model_tag(model_name, f"{TAG}last_drift_retrain", when)
