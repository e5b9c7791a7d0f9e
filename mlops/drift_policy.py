"""The drift verdict as a pure function: figures in, a DriftVerdict and its reasons out. Nothing else."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

ON_DRIFT = ("none", "alert", "retrain")  # "none": report only
EPSILON = 1e-9


@dataclass(frozen=True)
class DriftVerdict:
    drifted: bool
    quality_dropped: bool
    action: str  # none | alert | retrain
    reasons: tuple[str, ...]

    @property
    def acts(self) -> bool:
        return self.action != "none"


def verdict(
    drifted_share: float,
    threshold: float,
    on_drift: str,
    quality: float | None = None,
    reference_quality: float | None = None,
    max_quality_drop: float | None = None,
    higher_is_better: bool = True,
) -> DriftVerdict:
    """Drift when drifted_share >= threshold; a quality drop when the batch's quality is worse than the
    reference's by more than max_quality_drop. Either one triggers on_drift ("alert" or "retrain"; "none"
    only reports)."""
    if on_drift not in ON_DRIFT:
        raise ValueError(f"on_drift must be one of {', '.join(ON_DRIFT)}, got {on_drift!r}")
    if not 0 <= drifted_share <= 1 or math.isnan(drifted_share):
        raise ValueError(f"drifted_share must be between 0 and 1, got {drifted_share!r}")
    if not 0 <= threshold <= 1 or math.isnan(threshold):
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    if max_quality_drop is not None and (math.isnan(max_quality_drop) or max_quality_drop < 0):
        raise ValueError(f"max_quality_drop must be a non-negative number, got {max_quality_drop!r}")

    drifted = drifted_share >= threshold
    compare = "at or above" if drifted else "below"
    reasons = [f"drifted share of columns {drifted_share:.4g} is {compare} the threshold {threshold:.4g}"]

    dropped = False
    if quality is None or reference_quality is None:
        reasons.append(
            "quality not compared: " + ("no labels in the batch" if quality is None else "no reference")
        )
    elif math.isnan(quality) or math.isnan(reference_quality):
        reasons.append("quality not compared: a quality figure is NaN")
    elif max_quality_drop is None:
        reasons.append(f"quality {quality:.4f} vs reference {reference_quality:.4f}: no max_quality_drop set")
    else:
        worsening = reference_quality - quality if higher_is_better else quality - reference_quality
        dropped = worsening > max_quality_drop + EPSILON  # 0.75 - 0.70 is 0.05000000000000004 in floats
        where = f"quality {quality:.4f} vs reference {reference_quality:.4f}"
        if worsening <= 0:
            reasons.append(f"{where}: no drop")
        else:
            judged = "more than" if dropped else "within"
            reasons.append(f"{where}: a drop of {worsening:.4f}, {judged} the allowed {max_quality_drop:g}")

    action = on_drift if drifted or dropped else "none"
    return DriftVerdict(drifted=drifted, quality_dropped=dropped, action=action, reasons=tuple(reasons))


@dataclass(frozen=True)
class RetrainTrigger:
    retrain: bool
    reason: str


def retrain_trigger(
    action: str, batch_end: datetime, last_trigger: datetime | None, cooldown_days: float
) -> RetrainTrigger:
    """Whether this verdict starts a retrain: only for action 'retrain', and once per drift episode: a drift
    within cooldown_days (data time) of the last drift-triggered retrain belongs to the same episode."""
    if action != "retrain":
        return RetrainTrigger(
            False, "the policy does not ask for a retrain" if action == "none" else "on_drift is alert"
        )
    if last_trigger is not None:
        elapsed = (batch_end - last_trigger).total_seconds() / 86_400
        if 0 <= elapsed < cooldown_days:
            return RetrainTrigger(
                False,
                f"same drift episode: a retrain was triggered {elapsed:.1f} days earlier "
                f"(cooldown {cooldown_days:g} days)",
            )
    return RetrainTrigger(True, "drift: retraining on the declared training window")


def periods(start: datetime, end: datetime, every: str) -> list[tuple[datetime, datetime]]:
    """Consecutive [start, end) periods covering [start, end): every 'day', 'week' or 'month'."""
    if every not in ("day", "week", "month"):
        raise ValueError(f"every must be day, week or month, got {every!r}")
    if end <= start:
        raise ValueError(f"end {end} must be after start {start}")
    out, cur = [], start
    while cur < end:
        if every == "month":
            nxt = cur.replace(year=cur.year + cur.month // 12, month=cur.month % 12 + 1, day=1)
            nxt = nxt.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            nxt = cur + timedelta(days=1 if every == "day" else 7)
        out.append((cur, min(nxt, end)))
        cur = nxt
    return out
