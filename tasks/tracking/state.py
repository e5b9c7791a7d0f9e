"""The monitor's memory between runs, kept on the registered model: the drift episode (when it started, the
retrain attempts and their outcome, the last drift retrain that promoted), so the retrain policy's cooldown and
retry limit hold across runs, processes and machines."""

from __future__ import annotations

from tasks.tracking.champion import model_tags
from tasks.tracking.store import TAG, client


def read_drift_episode(model_name: str) -> dict[str, str]:
    """The registered model's tags of the drift episode (mlops.drift_policy.Episode.from_tags reads them, prefix
    removed); {} when the model does not exist yet. A failed read raises: it must not bypass the episode's limits."""
    tags = model_tags(model_name, "the drift episode") or {}
    return {k.removeprefix(TAG): v for k, v in tags.items() if k.startswith(TAG)}


def record_drift_episode(model_name: str, tags: dict[str, str]) -> None:
    """Write the episode's tags (Episode.to_tags: every key, "" for none, so nothing of an earlier episode stays)."""
    c = client()
    for key, value in tags.items():
        c.set_registered_model_tag(model_name, f"{TAG}{key}", value)
