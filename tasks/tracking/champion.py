"""Reading what is in production: the champion (with its model), who holds each alias, and every version of the
model with its aliases and decision tags. Apart from registry.py, which changes them, so the readers (the monitor,
`mlops status`) import nothing that can move an alias."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mlops.secrets import hide_secrets
from mlops.settings import get_settings
from mlops.text import first_line
from tasks.tracking.store import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG,
    TrackingUnavailable,
    client,
    is_not_found,
    is_transient,
    read_or_none,
    registry_error,
    version_by_alias,
)


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str | None
    model: Any = None
    features: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # its holdout metrics when it was registered


def load_champion(model_name: str) -> Champion | None:
    """The current champion and its model, or None when there is none yet (MLflow says so: any other error
    reading the alias stops the run with RegistryError, never "no champion")."""
    import mlflow

    c = client()
    mv = version_by_alias(c, model_name, CHAMPION)
    if mv is None:
        return None
    model = mlflow.sklearn.load_model(f"models:/{model_name}@{CHAMPION}")
    features = [str(x) for x in getattr(model, "feature_names_in_", [])]
    prefix = f"{TAG}metric."
    metrics = {k[len(prefix) :]: float(v) for k, v in (mv.tags or {}).items() if k.startswith(prefix) and v}
    return Champion(
        version=str(mv.version), run_id=mv.run_id, model=model, features=features, metrics=metrics
    )


def alias_version(c: Any, model_name: str, alias: str) -> str | None:
    """The version holding `alias`, or None when MLflow says there is none (else RegistryError)."""
    mv = version_by_alias(c, model_name, alias)
    return None if mv is None else str(mv.version)


def model_tags(model_name: str, what: str = "the tags") -> dict[str, str] | None:
    """The registered model's tags; None when there is no such model yet. A failed read raises RegistryError,
    saying it was reading `what` (e.g. "the owner")."""
    c = client()
    model = read_or_none(lambda: c.get_registered_model(model_name), f"read {what} of '{model_name}'")
    return None if model is None else dict(model.tags or {})


def champion_version(model_name: str) -> str | None:
    return alias_version(client(), model_name, CHAMPION)


def trained_span(model_name: str, version: str) -> tuple[str, str]:
    """The first and last time of a version's training rows, from its tags ("" where not recorded)."""
    c = client()
    mv = read_or_none(lambda: c.get_model_version(model_name, version), f"read v{version} of '{model_name}'")
    tags = dict(mv.tags or {}) if mv is not None else {}
    return tags.get(f"{TAG}trained_from", ""), tags.get(f"{TAG}trained_to", "")


@dataclass(frozen=True)
class VersionInfo:
    version: str
    aliases: list[str]
    created: str
    run_id: str | None
    tags: dict[str, str]

    @property
    def metrics(self) -> dict[str, float]:
        p = f"{TAG}metric."
        return {k[len(p) :]: float(v) for k, v in self.tags.items() if k.startswith(p) and v != ""}

    def tag(self, name: str) -> str:
        return self.tags.get(f"{TAG}{name}", "")


def registry_state(model_name: str) -> list[VersionInfo]:
    """Every version of the model, newest first, with aliases and mlops tags (for `mlops status`)."""
    c = client()
    try:
        versions = c.search_model_versions(f"name = '{model_name}'")
    except Exception as exc:
        if is_transient(exc):
            raise TrackingUnavailable(
                f"cannot reach the MLflow tracking store at {get_settings().tracking_uri_shown} "
                f"({hide_secrets(first_line(exc))}); "
                "start it or unset MLFLOW_TRACKING_URI to use the embedded store."
            ) from None
        if is_not_found(exc):
            return []
        raise registry_error(exc, f"list the versions of '{model_name}'") from exc
    holders = {alias: alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    out = [
        VersionInfo(
            version=str(v.version),
            aliases=[
                a for a, held in holders.items() if held == str(v.version)
            ],  # search results omit aliases
            created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.creation_timestamp / 1000)),
            run_id=v.run_id,
            tags=dict(v.tags or {}),
        )
        for v in versions
    ]
    return sorted(out, key=lambda v: int(v.version), reverse=True)
