"""`mlops promote`: may a person put this version in charge? Decided from the registry's state alone (a pure function),
so every refusal is said before anything moves.

A person promotes a version the policy rejected (or never compared fairly), e.g. when the first champion proves
leaky and a better, honest model was rejected as "not improved" against its inflated score. It is not a rollback:
the ledger says "manual-promotion", with who and why."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops.errors import MlopsError

TAG = "mlops."
RULE = "manual-promotion"


class PromotionRefused(MlopsError):
    """The request names something that cannot be promoted: nothing was moved."""

    exit_code = 2


@dataclass(frozen=True)
class ManualPromotion:
    version: str
    champion_before: str | None  # becomes `previous`


def check_manual_promotion(
    requested: str,
    reason: str,
    model_name: str,
    pipeline: str,
    approval_mode: str,
    champion: str | None,
    versions: dict[str, dict[str, str]],
) -> ManualPromotion:
    """The version to make champion, or PromotionRefused saying what is wrong and how to go on.

    `versions`: every version of the model with its tags. The spec's approval rules hold: `dry_run` never moves
    an alias (refused); `manual` asks a person, and this command is that person's decision (recorded by name);
    `auto` lets the policy decide and a person overrule it, on the record."""
    history = "`mlops history SPEC` and `mlops status SPEC` list them"
    if not reason.strip():
        raise PromotionRefused("--reason must say why (it is recorded in the ledger and on the version).")
    if approval_mode == "dry_run":
        raise PromotionRefused(
            f"the spec's promotion.approval.mode is dry_run, which records decisions and never moves an alias; "
            f"set it to auto or manual to put a model of '{model_name}' in charge. Nothing was moved."
        )
    plain = re.fullmatch(r"\s*[vV]?(\d+)\s*", requested)
    named = re.fullmatch(r"\s*(?:models:/)?([^/@\s]+)[/@][vV]?(\d+)\s*", requested)
    if plain is not None:
        number = plain.group(1)
    elif named is not None and named.group(1) == model_name:
        number = named.group(2)
    elif named is not None:
        raise PromotionRefused(
            f"--version {requested} names a version of '{named.group(1)}', not of this spec's model "
            f"'{model_name}'; promote it with that model's spec, or give a version number of "
            f"'{model_name}' ({history}). Nothing was moved."
        )
    else:
        raise PromotionRefused(f"--version takes a version number such as 3 or v3, not '{requested}'.")
    number = str(int(number))
    tags = versions.get(number)
    if tags is None:
        known = ", ".join(f"v{v}" for v in sorted(versions, key=int)) or "none yet"
        raise PromotionRefused(
            f"'{model_name}' has no version {number} (its versions: {known}); {history}. Nothing was moved."
        )
    owner = tags.get(f"{TAG}pipeline", "")
    if owner and owner != pipeline:
        raise PromotionRefused(
            f"v{number} of '{model_name}' was trained by pipeline '{owner}', not by '{pipeline}' of this spec; "
            "promote it with that pipeline's spec. Nothing was moved."
        )
    if tags.get(f"{TAG}published") == "abandoned":
        raise PromotionRefused(
            f"v{number} of '{model_name}' was left by a run that died before committing (its moves were undone); "
            "retrain to get a complete version. Nothing was moved."
        )
    if number == champion:
        raise PromotionRefused(f"v{number} is already the champion of '{model_name}'; nothing to promote.")
    return ManualPromotion(number, champion)


def decision_tags(
    promotion: ManualPromotion, earlier: dict[str, str], reason: str, actor: str, at: str
) -> dict[str, str]:
    """The version's `mlops.decision*` tags after a manual promotion; the policy's earlier verdict stays beside
    them (`decision.policy`, e.g. "rejected (not-improved)") so the version still says what the policy thought."""
    before = earlier.get(f"{TAG}decision", "")
    rule = earlier.get(f"{TAG}decision.rule", "")
    policy = f"{before} ({rule})" if before and rule else before
    if earlier.get(f"{TAG}decision.rule") == RULE:  # promoted by hand before: keep the policy's own verdict
        policy = earlier.get(f"{TAG}decision.policy", "")
    by = actor.removeprefix("user:")
    return {
        f"{TAG}decision": "promoted",
        f"{TAG}decision.rule": RULE,
        f"{TAG}decision.reasons": f"promoted by hand by {by}: {reason.strip()}",
        f"{TAG}decision.champion_version": promotion.champion_before or "",
        f"{TAG}decision.at": at,
        f"{TAG}decision.by": actor,
        f"{TAG}decision.policy": policy,
    }
