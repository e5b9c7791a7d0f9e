"""Which pipeline a registered model belongs to: its owner tags (`mlops.owner.*` on the registered model), read
before any work and written, under the promotion lock, before a version is registered.

The comparison itself is the pure `mlops.ownership.check_ownership`."""

from __future__ import annotations

from collections.abc import Mapping

from mlops.ownership import Owner, check_ownership
from tasks.tracking.champion import model_tags
from tasks.tracking.store import client, is_already_exists

DESCRIPTION = "Managed by mlops: aliases champion, challenger, previous"


def read_owner_tags(model_name: str) -> dict[str, str] | None:
    """The registered model's tags, or None when there is no such model yet."""
    return model_tags(model_name, "the owner")


def claim(model_name: str, owner: Owner) -> list[str]:
    """Create the registered model if needed and record `owner` on it; refuse (SpecError) a model that belongs
    to another pipeline, task or target. Returns notes (a model without owner tags gets them here). The caller
    holds the promotion lock, so two pipelines cannot both claim a new model."""
    c = client()
    try:
        c.create_registered_model(model_name, description=DESCRIPTION)
        tags: dict[str, str] | None = None  # new: nothing to check
    except Exception as exc:
        if not is_already_exists(exc):
            raise
        tags = read_owner_tags(model_name) or {}
    notes = check_ownership(model_name, owner, tags)
    _write(c, model_name, owner.tags(), tags or {})
    return notes


def _write(c: object, model_name: str, wanted: Mapping[str, str], present: Mapping[str, str]) -> None:
    """Set the owner tags that differ (the pipeline, task and target were just checked to match; the spec path
    and the features follow the latest publish)."""
    for key, value in wanted.items():
        if present.get(key) != value:
            c.set_registered_model_tag(model_name, key, value)  # type: ignore[attr-defined]
