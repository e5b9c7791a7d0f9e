"""A registered model belongs to one pipeline: who owns it (recorded as tags on the registered model), whether a
spec may use it, and what changed between the champion's inputs and the challenger's. Pure: no MLflow, no files.

Without this, a spec naming another pipeline's `registry.model_name` would register an unrelated model (another
task, other features) as a new version of it, and could make it champion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mlops.errors import Problem, SpecError

if TYPE_CHECKING:
    from mlops.policy import Decision
    from mlops.spec import LoadedSpec

OWNER_TAG = "mlops.owner."
FIELD = "registry.model_name"


@dataclass(frozen=True)
class Owner:
    """The pipeline a registered model belongs to, as its spec declares it."""

    pipeline: str
    spec_path: str
    task: str
    target: str
    features: tuple[str, ...] = ()

    def tags(self) -> dict[str, str]:
        """The registered model's tags that record this owner."""
        values = {
            "pipeline": self.pipeline,
            "spec_path": self.spec_path,
            "task": self.task,
            "target": self.target,
            "features": ",".join(self.features),
        }
        return {f"{OWNER_TAG}{k}": v for k, v in values.items()}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Owner | None:
        """The owner recorded in a registered model's tags; None when it has none (made by an older version)."""
        get = {k[len(OWNER_TAG) :]: v for k, v in tags.items() if k.startswith(OWNER_TAG)}
        if not get.get("pipeline"):
            return None
        features = tuple(f for f in get.get("features", "").split(",") if f)
        return cls(
            get["pipeline"], get.get("spec_path", ""), get.get("task", ""), get.get("target", ""), features
        )

    def describe(self) -> str:
        where = f"{self.spec_path}, " if self.spec_path else ""
        return f"pipeline '{self.pipeline}' ({where}{self.task} of '{self.target}')"


def owner_of(loaded: LoadedSpec, features: Sequence[str] = ()) -> Owner:
    spec = loaded.spec
    return Owner(spec.name, str(loaded.path), spec.model.task, spec.data.target, tuple(features))


def ownership_problems(model_name: str, mine: Owner, recorded: Owner | None) -> list[Problem]:
    """Why the spec `mine` may not use the registered model owned by `recorded` (empty when it may)."""
    if recorded is None:
        return []
    if recorded.pipeline != mine.pipeline:
        return [
            Problem(
                mine.spec_path,
                FIELD,
                f"'{model_name}' belongs to {recorded.describe()}, not to pipeline '{mine.pipeline}'",
                f"choose another {FIELD} for this pipeline (a model belongs to one pipeline); or, if this spec "
                f"is '{recorded.pipeline}' renamed, give it back its name '{recorded.pipeline}'",
            )
        ]
    if (recorded.task, recorded.target) != (mine.task, mine.target):
        return [
            Problem(
                mine.spec_path,
                FIELD,
                f"'{model_name}' holds the {recorded.task} of '{recorded.target}' models of pipeline "
                f"'{mine.pipeline}' ({recorded.spec_path}), but this spec now declares the {mine.task} of "
                f"'{mine.target}'",
                f"a model of another task or target is a new model: choose a new {FIELD} "
                "(the old one keeps its versions and history)",
            )
        ]
    return []


def check_ownership(model_name: str, mine: Owner, recorded_tags: Mapping[str, str] | None) -> list[str]:
    """Refuse (SpecError, exit 2) a spec whose model belongs to another pipeline, task or target; return notes.

    `recorded_tags` are the registered model's tags, None when the model does not exist yet."""
    if recorded_tags is None:
        return []
    recorded = Owner.from_tags(recorded_tags)
    problems = ownership_problems(model_name, mine, recorded)
    if problems:
        raise SpecError(problems)
    if recorded is None:
        return [
            f"the registered model '{model_name}' records no owner (made by an older version); this run "
            f"records pipeline '{mine.pipeline}' ({mine.spec_path}) as its owner"
        ]
    return []


def shared_model_names(owners: Mapping[str, tuple[str, Owner]]) -> dict[str, list[Problem]]:
    """Specs (file -> (model_name, owner)) that declare the same registry.model_name: each is told the others."""
    by_model: dict[str, list[str]] = {}
    for file, (model_name, _) in owners.items():
        by_model.setdefault(model_name, []).append(file)
    out: dict[str, list[Problem]] = {}
    for model_name, files in by_model.items():
        if len(files) < 2:
            continue
        for file in files:
            others = ", ".join(owners[f][1].describe() for f in files if f != file)
            out.setdefault(file, []).append(
                Problem(
                    file,
                    FIELD,
                    f"'{model_name}' is also the model of {others}",
                    f"a model belongs to one pipeline: choose a {FIELD} of its own for each spec",
                )
            )
    return out


def feature_changes(champion: Sequence[str], challenger: Sequence[str]) -> str | None:
    """What differs between the champion's inputs and the challenger's, in words; None when they are the same."""
    if not champion:
        return None  # no champion, or one whose inputs are unknown: nothing to compare
    added = [f for f in challenger if f not in set(champion)]
    removed = [f for f in champion if f not in set(challenger)]
    if not added and not removed:
        return None
    parts = []
    if added:
        parts.append(f"added {', '.join(added)}")
    if removed:
        parts.append(f"removed {', '.join(removed)}")
    return (
        f"the challenger's inputs differ from the champion's ({'; '.join(parts)}); both were scored on the "
        "same holdout rows"
    )


def note_feature_changes(
    decision: Decision, champion: Sequence[str] | None, challenger: Sequence[str]
) -> Decision:
    """The decision with the change of inputs among its reasons, so it is never compared silently."""
    change = feature_changes(champion or (), challenger)
    return replace(decision, reasons=(*decision.reasons, change)) if change else decision
