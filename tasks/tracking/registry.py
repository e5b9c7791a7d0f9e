"""Changing what is in production: register a candidate and move the aliases as decided (all or nothing, with a
smoke test of the new champion), undo what a killed run left half-done, and roll the champion back. Every change
is tagged on the version and its run and written to the ledger."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError, PipelineStopped
from mlops.manual_promotion import RULE as MANUAL_RULE
from mlops.manual_promotion import ManualPromotion, PromotionRefused, check_manual_promotion
from mlops.manual_promotion import decision_tags as manual_decision_tags
from tasks.tracking.champion import alias_version
from tasks.tracking.ledger import LEDGER_PREFIX, decision_evidence, record
from tasks.tracking.store import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG,
    client,
    fmt,
    is_already_exists,
    is_not_found,
    is_transient,
    read_or_none,
    registry_error,
    shown_tags,
    version_url,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlops.policy import Decision
    from tasks.tracking.runs import TrainingRun

ALIASES_BEFORE = "aliases_before"
PUBLISHED = "published"  # "true": committed; "abandoned"/"superseded": undone or overridden


@dataclass(frozen=True)
class Published:
    version: str
    champion_version: str | None
    version_url: str
    aliases: dict[str, str | None]
    duplicate_of: str | None = None  # set when this run's work had been done before: nothing new registered


def decision_tags(decision: Decision, champion_version: str | None, extra: dict[str, str]) -> dict[str, str]:
    tags = {
        "decision": decision.verdict,
        "decision.rule": decision.rule,
        "decision.reasons": "\n".join(decision.reasons),
        "decision.metric": decision.metric,
        "decision.challenger_value": fmt(decision.challenger_value),
        "decision.champion_value": fmt(decision.champion_value),
        "decision.champion_version": champion_version or "",
        "decision.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    return {f"{TAG}{k}": v for k, v in tags.items()}


def publish(
    model_name: str,
    run: TrainingRun,
    decision: Decision,
    champion_version: str | None,
    metrics: dict[str, float],
    extra_tags: dict[str, str],
    mode: str = "auto",
    actor: str = "",
    smoke_sample: pd.DataFrame | None = None,
) -> Published:
    """Register the candidate, record the decision on it and in the ledger, and move the aliases as decided.

    All or nothing: when any step fails, the aliases are put back and the new version is deleted, so no orphan
    version and no half-moved alias is left behind. After a move, the champion is loaded by its alias and
    predicts on a sample; if that fails the aliases go back, the failure is recorded, and the run stops.
    `mode="dry_run"` registers and records but moves no alias.
    """
    import mlflow

    c = client()
    try:
        c.create_registered_model(
            model_name, description="Managed by mlops: aliases champion, challenger, previous"
        )
    except Exception as exc:
        if not is_already_exists(exc):
            raise
    before = {alias: alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    tags = decision_tags(decision, champion_version, extra_tags | {"mode": mode})
    tags |= {f"{TAG}metric.{k}": fmt(v) for k, v in metrics.items()}
    tags[f"{TAG}{ALIASES_BEFORE}"] = json.dumps(before)  # what undo_unpublished restores after a crash
    tags = shown_tags(tags)
    key = extra_tags.get("idempotency_key", "")
    existing = _version_with_key(c, model_name, key) if key else None
    if existing is not None and (existing.tags or {}).get(f"{TAG}{PUBLISHED}") == "true":
        return _duplicate(c, model_name, run, decision, existing, before, actor)
    version: str | None = None
    created = False
    moved = decision.promote and mode != "dry_run"
    try:
        if existing is not None:  # an earlier run with the same key died after registering: finish its work
            version = str(existing.version)
            for k, v in tags.items():
                c.set_model_version_tag(model_name, version, k, v)
            if (existing.tags or {}).get(f"{TAG}{PUBLISHED}"):  # undone before: pending again until committed
                c.delete_model_version_tag(model_name, version, f"{TAG}{PUBLISHED}")
        else:
            with _quiet_mlflow_prints():
                version = str(mlflow.register_model(run.model_uri, model_name, tags=tags).version)
            created = True
        description = version_description(decision, before[CHAMPION], mode, actor)
        c.update_model_version(model_name, version, description=description)
        for k, v in tags.items():
            c.set_tag(run.run_id, k, v)
        c.set_tag(run.run_id, f"{TAG}model_version", version)
        if mode != "dry_run":
            c.set_registered_model_alias(model_name, CHALLENGER, version)
        if moved:
            if before[CHAMPION] and before[CHAMPION] != version:
                c.set_registered_model_alias(model_name, PREVIOUS, before[CHAMPION])
            c.set_registered_model_alias(model_name, CHAMPION, version)
        action = "dry-run" if mode == "dry_run" else ("promote" if decision.promote else "reject")
        record(
            model_name, action, version=version, champion_before=before[CHAMPION],
            champion_after=version if moved else before[CHAMPION], actor=actor or f"rule:{decision.rule}",
            rule=decision.rule, reasons=list(decision.reasons), evidence=decision_evidence(decision, run.run_id),
        )  # fmt: skip
    except BaseException:
        _restore(c, model_name, before, version if created else None)
        raise
    if moved and smoke_sample is not None:
        _smoke_test(c, model_name, version, before, smoke_sample)
    c.set_model_version_tag(model_name, version, f"{TAG}{PUBLISHED}", "true")
    after = {alias: alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    return Published(version, after[CHAMPION], version_url(model_name, version), after)


def version_description(decision: Decision, champion_version: str | None, mode: str, actor: str) -> str:
    """The decision in one sentence, for the model version's description in the MLflow UI (the tags stay the
    machine-readable record): promoted or rejected, by which rule or person, why, against which champion."""
    if actor.startswith("approval:"):
        who = f"by {actor.removeprefix('approval:')} (manual approval; policy rule '{decision.rule}')"
    else:
        who = f"by the promotion policy (rule '{decision.rule}')"
    against = f"against champion v{champion_version}" if champion_version else "with no champion before it"
    why = "; ".join(decision.reasons) or decision.rule
    if mode == "dry_run":
        return f"Dry run, no alias moved: would have been {decision.verdict} {who} {against}, because {why}."
    return f"{decision.verdict.capitalize()} {who} {against}, because {why}."


@contextlib.contextmanager
def _quiet_mlflow_prints() -> Iterator[None]:
    """`mlflow.register_model` prints "Registered model 'x' already exists. Creating a new version..." on every
    call (publish creates the model first, so always, the first-ever retrain included). Silence MLflow's own
    output stream meanwhile: a private API, held here alone; tests/integration/test_time_and_listings.py fails
    if the line comes back."""
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    enabled = stream.enabled
    stream.enabled = False
    try:
        yield
    finally:
        stream.enabled = enabled


@dataclass(frozen=True)
class Unwind:
    """What undo_unpublished does, decided from the versions' tags alone (a pure function: plan_unwind)."""

    # the aliases as the earliest killed run found them; None: nothing to do
    restore: dict[str, str | None] | None
    undone: list[str]  # versions left by killed runs, newest first: their moves are undone
    superseded: list[str]  # unpublished versions a later commit already overrode: marked, nothing restored


def plan_unwind(versions: dict[str, dict[str, str]]) -> Unwind:
    """Which unpublished moves to undo, from each version's tags.

    A version with `aliases_before` and no `published` mark was left by a run that moved aliases (or may have)
    and died before its commit: a live run holds the promotion lock from its read to its commit, so under the lock
    every such version is a dead run's. The aliases go back to what the EARLIEST of them found, so a chain of
    killed runs unwinds fully. One older than the newest committed decision was overridden by that commit (a run
    of an older mlops that undid only its own key, or a failure that put the aliases back itself): it is marked,
    never restored, so a commit is never undone."""

    def at(number: str) -> str:
        return versions[number].get(f"{TAG}decision.at", "")

    pending = [
        v for v, t in versions.items() if f"{TAG}{ALIASES_BEFORE}" in t and not t.get(f"{TAG}{PUBLISHED}")
    ]
    committed = [at(v) for v, t in versions.items() if t.get(f"{TAG}{PUBLISHED}") == "true"]
    latest = max(committed, default="")
    superseded = sorted((v for v in pending if at(v) < latest), key=lambda v: (at(v), int(v)), reverse=True)
    undone = sorted((v for v in pending if at(v) >= latest), key=lambda v: (at(v), int(v)), reverse=True)
    if not undone:
        return Unwind(None, [], superseded)
    before = json.loads(versions[undone[-1]][f"{TAG}{ALIASES_BEFORE}"])
    return Unwind({a: before.get(a) for a in (CHAMPION, CHALLENGER, PREVIOUS)}, undone, superseded)


def undo_unpublished(model_name: str) -> list[str]:
    """Undo what killed runs did after registering and before their `published` mark (the commit point), whatever
    their data or key: the aliases go back to what the earliest of them found, their ledger entries are deleted
    (soft: MLflow keeps them as deleted runs), and each is marked `published=abandoned` so it is not undone twice
    (a run with the same key still finishes it: publish() treats only "true" as done). Returns the versions
    undone, newest first. The caller holds the promotion lock."""
    c = client()
    found = read_or_none(
        lambda: c.search_model_versions(f"name = '{model_name}'"), f"list the versions of '{model_name}'"
    )
    plan = plan_unwind({str(v.version): dict(v.tags or {}) for v in found or []})
    for number in plan.superseded:
        c.set_model_version_tag(model_name, number, f"{TAG}{PUBLISHED}", "superseded")
    if plan.restore is None:
        return []
    for alias, old in plan.restore.items():
        if alias_version(c, model_name, alias) != old:
            if old:
                c.set_registered_model_alias(model_name, alias, old)
            else:
                c.delete_registered_model_alias(model_name, alias)
    exp = c.get_experiment_by_name(f"{LEDGER_PREFIX}{model_name}")
    # newest first: killed midway, the earliest is still unmarked, and the next run restores from it again
    for number in plan.undone:
        if exp is not None:
            for r in c.search_runs(
                [exp.experiment_id], filter_string=f"tags.`{TAG}ledger.version` = '{number}'"
            ):
                if r.data.tags.get(f"{TAG}ledger.action") in ("promote", "reject", "dry-run"):
                    c.delete_run(r.info.run_id)
        c.set_model_version_tag(model_name, number, f"{TAG}{PUBLISHED}", "abandoned")
        why = "its run died before committing; its alias moves were undone"
        c.set_model_version_tag(model_name, number, f"{TAG}abandoned", why)
    return plan.undone


def _version_with_key(c: Any, model_name: str, key: str) -> Any:
    """The earliest version registered with this idempotency key, or None. A failed search is not a miss (a miss
    registers a duplicate): it raises RegistryError."""
    found = read_or_none(
        lambda: c.search_model_versions(f"name = '{model_name}' and tags.`{TAG}idempotency_key` = '{key}'"),
        f"look up the version of '{model_name}' with idempotency key {key[:12]}",
    )
    return min(found, key=lambda v: int(v.version)) if found else None


def _duplicate(
    c: Any,
    model_name: str,
    run: TrainingRun,
    decision: Decision,
    existing: Any,
    before: dict[str, str | None],
    actor: str,
) -> Published:
    """The same spec, data and code were already trained, registered and decided: register nothing new, but
    record that this run found it so."""
    version = str(existing.version)
    why = f"identical to v{version}: same spec, data and code (idempotency key), so no new version was registered"
    if existing.run_id != run.run_id:  # not the version's own (reused) run
        c.set_tag(run.run_id, f"{TAG}duplicate_of", version)
    record(
        model_name, "duplicate", version=version, champion_before=before[CHAMPION], champion_after=before[CHAMPION],
        actor=actor or "rule:idempotency", rule="duplicate", reasons=[*decision.reasons, why],
        evidence=decision_evidence(decision, run.run_id),
    )  # fmt: skip
    return Published(
        version, before[CHAMPION], version_url(model_name, version), before, duplicate_of=version
    )


def _smoke_test(
    c: Any, model_name: str, version: str, before: dict[str, str | None], sample: pd.DataFrame
) -> None:
    """Load the champion by its alias, as a consumer would, and predict; on failure put the aliases back."""
    import mlflow

    try:
        model = mlflow.sklearn.load_model(f"models:/{model_name}@{CHAMPION}")
        predicted = model.predict(sample)
        if len(predicted) != len(sample):
            raise ValueError(f"{len(predicted)} predictions for {len(sample)} rows")
    except Exception as exc:  # noqa: BLE001 - any failure to load or predict is the smoke test failing
        restored = _restore_aliases(c, model_name, before)
        c.set_model_version_tag(model_name, version, f"{TAG}smoke_test", f"failed: {exc}")
        if restored:
            raise PipelineStopped(
                f"v{version} was promoted but failed its smoke test (load by alias and predict: {exc}), and putting "
                f"the aliases back failed too: {restored}. The registry may now serve v{version}; check `mlops "
                f"status` and run `mlops rollback SPEC --to {before[CHAMPION]}` once the store answers."
            ) from None
        with contextlib.suppress(Exception):
            champion = f"v{before[CHAMPION]}" if before[CHAMPION] else "none"
            c.update_model_version(model_name, version, description=(
                f"Promoted by the policy, then rolled back by the smoke test (the champion is {champion} again), "
                f"because it failed to load and predict by alias: {exc}."
            ))  # fmt: skip
        record(
            model_name, "smoke-test-rollback", version=version, champion_before=version,
            champion_after=before[CHAMPION], actor="rule:smoke-test",
            rule="smoke-test", reasons=[f"v{version} failed to load and predict by alias: {exc}"], evidence={},
        )  # fmt: skip
        raise PipelineStopped(
            f"v{version} was promoted but failed its smoke test (load by alias and predict: {exc}); "
            f"the champion is back to v{before[CHAMPION]} and the failure is in the ledger."
        ) from None
    c.set_model_version_tag(model_name, version, f"{TAG}smoke_test", "passed")


def _restore_aliases(c: Any, model_name: str, before: dict[str, str | None]) -> str:
    """Put `champion` and `previous` back as they were, then read them back: "" when they match, else what differs
    (a restore that did not take must never be reported as done)."""
    for alias in (CHAMPION, PREVIOUS):
        with contextlib.suppress(Exception):  # each alias is read back below, so a failure here is not hidden
            if before[alias]:
                c.set_registered_model_alias(model_name, alias, before[alias])
            else:
                c.delete_registered_model_alias(model_name, alias)
    wrong = []
    for alias in (CHAMPION, PREVIOUS):
        try:
            now = alias_version(c, model_name, alias)
        except Exception as exc:  # noqa: BLE001 - an unreadable alias is a restore we cannot confirm
            wrong.append(f"{alias} could not be read back ({exc})")
            continue
        if now != before[alias]:
            wrong.append(f"{alias} is {_shown(now)}, was {_shown(before[alias])}")
    return "; ".join(wrong)


def _shown(version: str | None) -> str:
    return f"v{version}" if version else "unset"


def rollback(model_name: str, to_version: str | None, reason: str, actor: str) -> tuple[str, str]:
    """Move `champion` back (to `previous`, or to the given version), record it; returns (from, to).

    The caller holds the promotion lock. The target must load and predict on its own input example first."""
    import mlflow

    c = client()
    current = alias_version(c, model_name, CHAMPION)
    if current is None:
        raise MlopsError(
            f"'{model_name}' has no champion to roll back; train one with `mlops run retrain SPEC`."
        )
    target = to_version or alias_version(c, model_name, PREVIOUS)
    if target is None:
        raise MlopsError(
            f"'{model_name}' has no previous champion to go back to; name one with --to VERSION "
            "(`mlops history SPEC` lists them)."
        )
    if target == current:
        raise MlopsError(f"v{target} is already the champion of '{model_name}'; nothing to roll back.")
    try:
        c.get_model_version(model_name, target)
    except Exception as exc:
        if is_transient(exc):
            raise
        if not is_not_found(exc):
            raise registry_error(exc, f"read version {target} of '{model_name}'") from exc
        raise MlopsError(
            f"'{model_name}' has no version {target}; `mlops history SPEC` lists them."
        ) from None
    try:
        mlflow.sklearn.load_model(f"models:/{model_name}/{target}")
    except Exception as exc:  # noqa: BLE001 - any failure to load the target refuses the rollback
        raise MlopsError(
            f"v{target} of '{model_name}' cannot be loaded ({exc}); choose another with --to."
        ) from None
    c.set_registered_model_alias(model_name, CHAMPION, target)
    c.set_registered_model_alias(model_name, PREVIOUS, current)
    record(
        model_name, "rollback", version=target, champion_before=current, champion_after=target, actor=actor,
        rule="manual-rollback", reasons=[reason], evidence={"from": current, "to": target, "reason": reason},
    )  # fmt: skip
    with contextlib.suppress(Exception):  # the description is for people; the ledger holds the record
        earlier = (c.get_model_version(model_name, target).description or "").strip()
        c.update_model_version(model_name, target, description=(
            f"Made champion by {actor.removeprefix('user:')} (a rollback from v{current}), because {reason.strip()}."
            + (f" Earlier: {earlier}" if earlier else "")
        ))  # fmt: skip
    _supersede_unpublished(c, model_name)
    return current, target


def promote(
    model_name: str, pipeline: str, requested: str, reason: str, actor: str, approval_mode: str
) -> ManualPromotion:
    """Put a version in charge by hand (`mlops promote`): `champion` to it, `previous` to the champion it replaces,
    the decision recorded on the version and in the ledger as a manual promotion. The caller holds the promotion
    lock. Refused (PromotionRefused, exit 2, nothing moved) for a version that does not exist, belongs to another
    pipeline, is already the champion, or cannot be loaded; all or nothing after that."""
    import mlflow

    c = client()
    undo_unpublished(model_name)  # what killed runs left half-done is put back first, as a retrain does
    found = read_or_none(
        lambda: c.search_model_versions(f"name = '{model_name}'"), f"list the versions of '{model_name}'"
    )
    versions = {str(v.version): dict(v.tags or {}) for v in found or []}
    current = alias_version(c, model_name, CHAMPION)
    chosen = check_manual_promotion(requested, reason, model_name, pipeline, approval_mode, current, versions)
    target = chosen.version
    try:
        mlflow.sklearn.load_model(f"models:/{model_name}/{target}")
    except Exception as exc:  # noqa: BLE001 - a version that cannot load cannot serve: refused
        if is_transient(exc):
            raise  # the store is down: said as such (exit 1), not as a bad version
        raise PromotionRefused(
            f"v{target} of '{model_name}' cannot be loaded ({exc}); it cannot serve, so it was not promoted. "
            "Nothing was moved."
        ) from None
    before = {alias: alias_version(c, model_name, alias) for alias in (CHAMPION, CHALLENGER, PREVIOUS)}
    earlier = versions[target]
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tags = manual_decision_tags(chosen, earlier, reason, actor, at)
    policy = tags[f"{TAG}decision.policy"]
    try:
        c.set_registered_model_alias(model_name, CHAMPION, target)
        if current:
            c.set_registered_model_alias(model_name, PREVIOUS, current)
        for k, v in tags.items():
            c.set_model_version_tag(model_name, target, k, v)
        record(
            model_name, "manual-promotion", version=target, champion_before=current, champion_after=target,
            actor=actor, rule=MANUAL_RULE, reasons=[reason.strip()],
            evidence={"from": current, "to": target, "reason": reason.strip(), "policy_decision": policy},
        )  # fmt: skip
    except BaseException:
        _restore(c, model_name, before, None)
        for k in tags:  # the version's own decision tags as they were
            with contextlib.suppress(Exception):
                if k in earlier:
                    c.set_model_version_tag(model_name, target, k, earlier[k])
                else:
                    c.delete_model_version_tag(model_name, target, k)
        raise
    with contextlib.suppress(Exception):  # the description is for people; the tags and ledger hold the record
        was = f" (the policy had {policy})" if policy else ""
        replaced = f"replacing v{current}" if current else "with no champion before it"
        c.update_model_version(model_name, target, description=(
            f"Promoted by hand by {actor.removeprefix('user:')}{was}, {replaced}, because {reason.strip()}."
        ))  # fmt: skip
    _supersede_unpublished(c, model_name)
    return chosen


def _supersede_unpublished(c: Any, model_name: str) -> None:
    """A rollback sets the champion by hand: what killed runs left is now overridden, and the next retrain must not
    undo the rollback by restoring what they found."""
    for v in c.search_model_versions(f"name = '{model_name}'"):
        tags = v.tags or {}
        if f"{TAG}{ALIASES_BEFORE}" in tags and not tags.get(f"{TAG}{PUBLISHED}"):
            c.set_model_version_tag(model_name, str(v.version), f"{TAG}{PUBLISHED}", "superseded")


def _restore(c: Any, model_name: str, before: dict[str, str | None], version: str | None) -> None:
    """Best effort: put every alias back, then delete the new version (each step on its own)."""
    for alias, old in before.items():
        with contextlib.suppress(Exception):
            if old:
                c.set_registered_model_alias(model_name, alias, old)
            else:
                c.delete_registered_model_alias(model_name, alias)
    if version:
        with contextlib.suppress(Exception):
            c.delete_model_version(model_name, version)
