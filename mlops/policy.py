"""Promotion as a pure function: metrics in, a Decision with its reasons out. No MLflow, no Prefect, no files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from mlops.catalog import METRICS, Direction
from mlops.spec import Promotion


@dataclass(frozen=True)
class Interval:
    """Bootstrap percentile interval of the improvement (positive = challenger better)."""

    low: float
    high: float
    point: float
    confidence: float
    resamples: int
    seed: int

    def describe(self) -> str:
        return (
            f"{self.confidence:.0%} interval of the improvement [{self.low:+.4f}, {self.high:+.4f}] "
            f"(point {self.point:+.4f}; {self.resamples} paired bootstrap resamples, seed {self.seed})"
        )


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    metric: str
    challenger: float
    champion: float
    rows: int


@dataclass(frozen=True)
class Evidence:
    """What the decision rests on besides the two metric dicts; recorded with it."""

    holdout_rows: int  # the rows both models were compared on
    holdout_sha256: str = ""
    interval: Interval | None = None
    slices: tuple[SliceResult, ...] = ()
    excluded_rows: int = 0  # holdout rows left out because the champion trained on them
    champion_rows_known: bool = True  # False: the champion's training rows are not recorded, none excluded

    def compared_text(self) -> str:
        """One line for people: how many rows the comparison rests on, and what was left out."""
        if not self.champion_rows_known:
            return (
                f"compared on {self.holdout_rows:,} holdout rows (which rows the champion trained on is unknown: "
                "not recorded with its run, or their key columns are gone; none could be excluded)"
            )
        return (
            f"compared on {self.holdout_rows:,} holdout rows "
            f"({self.excluded_rows:,} rows the champion trained on excluded)"
        )


@dataclass(frozen=True)
class Decision:
    promote: bool
    rule: str  # first-model | improved | not-improved | guardrail | champion-error | invalid
    reasons: tuple[str, ...]
    metric: str
    direction: Direction
    challenger_value: float
    champion_value: float | None = None
    improvement: float | None = None
    guardrail_breaches: tuple[str, ...] = field(default_factory=tuple)
    evidence: Evidence | None = None

    @property
    def verdict(self) -> str:
        return "promoted" if self.promote else "rejected"


def improvement(challenger: float, champion: float, direction: Direction) -> float:
    """How much better the challenger is, positive when better, in the metric's own units."""
    return challenger - champion if direction == "maximize" else champion - challenger


IMPROVEMENT_HEADER = "improvement (+ = challenger better)"


def metric_improvement(
    name: str, challenger: float, champion: float | None, metric: str, direction: Direction
) -> float | None:
    """The improvement shown beside the reasons: the decision's `direction` for the promotion metric, the metric's
    natural direction for the others, so "rmse ... (improvement -0.3787)" and the table agree in sign (+ = better).
    None when either value is missing, or the metric's direction is unknown."""
    if champion is None or math.isnan(champion) or math.isnan(challenger):
        return None
    if name == metric:
        return improvement(challenger, champion, direction)
    if name not in METRICS:
        return None
    return improvement(challenger, champion, METRICS[name][1])


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    policy: Promotion,
    champion_error: str | None = None,
    evidence: Evidence | None = None,
) -> Decision:
    """Decide whether the challenger replaces the champion; both were scored on the same holdout rows."""
    metric = policy.metric
    direction = policy.direction or METRICS[metric][1]
    value = float(challenger.get(metric, math.nan))
    base = Decision(False, "invalid", (), metric, direction, value, evidence=evidence)

    if evidence is not None and evidence.holdout_rows < policy.min_holdout_rows:
        why = f"the holdout has {evidence.holdout_rows} rows, fewer than min_holdout_rows {policy.min_holdout_rows}"
        if evidence.excluded_rows:
            why += f" (after excluding {evidence.excluded_rows} rows the champion trained on)"
        return replace(base, rule="holdout-too-small", reasons=(why,))
    if math.isnan(value):
        return replace(base, reasons=(f"the challenger has no valid {metric}",))

    breaches = tuple(_bound_breaches(challenger, policy))
    if champion_error is not None:
        why = f"the champion could not score the holdout ({champion_error}); on_champion_error={policy.on_champion_error}"
        promote = policy.on_champion_error == "promote" and not breaches
        return replace(
            base,
            promote=promote,
            rule="champion-error",
            reasons=(why, *breaches),
            guardrail_breaches=breaches,
        )

    if champion is None:
        if breaches:
            return replace(base, rule="guardrail", reasons=breaches, guardrail_breaches=breaches)
        why = f"no champion yet: the first model ({metric} {value:.4f}) becomes champion"
        return replace(base, promote=True, rule="first-model", reasons=(why,))

    champ = float(champion.get(metric, math.nan))
    if math.isnan(champ):
        gain, gain_text, needed = math.inf, f"the champion has no valid {metric}", True
    else:
        gain = improvement(value, champ, direction)
        needed = gain > 0 and gain >= policy.min_improvement
        gain_text = (
            f"{metric} {value:.4f} vs champion {champ:.4f} "
            f"(improvement {gain:+.4f}{', lower is better;' if direction == 'minimize' else ','} "
            f"needs > 0 and >= {policy.min_improvement:g})"
        )
        if policy.min_relative_improvement is not None:
            relative = gain / abs(champ) if champ else math.inf
            needed = needed and relative >= policy.min_relative_improvement
            gain_text += f", relative {relative:+.2%} (needs >= {policy.min_relative_improvement:.2%})"
    breaches += tuple(_drop_breaches(challenger, champion, policy))
    breaches += tuple(_slice_breaches(evidence, policy))
    compared = replace(
        base,
        champion_value=champ,
        improvement=gain if math.isfinite(gain) else None,
        guardrail_breaches=breaches,
    )
    if not needed:
        return replace(
            compared, rule="not-improved", reasons=(f"not enough improvement: {gain_text}", *breaches)
        )
    noise = _noise(evidence, policy)
    if noise:
        return replace(
            compared, rule="not-significant", reasons=(f"improved ({gain_text}) but {noise}", *breaches)
        )
    if breaches:
        return replace(
            compared,
            rule="guardrail",
            reasons=(f"improved ({gain_text}) but a guardrail blocks it", *breaches),
        )
    reasons = [f"improved: {gain_text}"]
    if evidence is not None and evidence.interval is not None:
        reasons.append(f"significant: {evidence.interval.describe()}")
    return replace(compared, promote=True, rule="improved", reasons=tuple(reasons))


def _noise(evidence: Evidence | None, policy: Promotion) -> str | None:
    """Why the improvement may be noise (the bootstrap interval's lower bound is not above min_improvement)."""
    if policy.bootstrap is None:
        return None
    if evidence is None or evidence.interval is None:
        return "no bootstrap interval could be computed"
    iv = evidence.interval
    if math.isnan(iv.low) or iv.low <= policy.min_improvement:
        return f"it may be noise: the {iv.describe()} has a lower bound not above {policy.min_improvement:g}"
    return None


def _slice_breaches(evidence: Evidence | None, policy: Promotion) -> list[str]:
    if evidence is None or not policy.slice_guardrails:
        return []
    out = []
    for guard in policy.slice_guardrails:
        metric = guard.metric or policy.metric
        for s in evidence.slices:
            if s.column != guard.column or s.metric != metric or math.isnan(s.champion):
                continue
            drop = -improvement(s.challenger, s.champion, METRICS[metric][1])
            if math.isnan(s.challenger) or drop > guard.max_drop:
                out.append(
                    f"slice {s.column}={s.value} ({s.rows} rows): {metric} {s.challenger:.4f} vs champion "
                    f"{s.champion:.4f} worsens by {drop:.4f} > max_drop {guard.max_drop:g}"
                )
    return out


def _bound_breaches(challenger: Mapping[str, float], policy: Promotion) -> list[str]:
    out = []
    for g in policy.guardrails:
        v = float(challenger.get(g.metric, math.nan))
        if (g.min is not None or g.max is not None) and math.isnan(v):
            out.append(f"guardrail {g.metric}: no valid value")
        elif g.min is not None and v < g.min:
            out.append(f"guardrail {g.metric}: {v:.4f} is below the floor {g.min:g}")
        elif g.max is not None and v > g.max:
            out.append(f"guardrail {g.metric}: {v:.4f} is above the ceiling {g.max:g}")
    return out


def _drop_breaches(
    challenger: Mapping[str, float], champion: Mapping[str, float], policy: Promotion
) -> list[str]:
    out = []
    for g in policy.guardrails:
        if g.max_drop is None:
            continue
        new, old = float(challenger.get(g.metric, math.nan)), float(champion.get(g.metric, math.nan))
        if math.isnan(old):
            continue  # nothing to compare against: the champion never had this metric
        drop = -improvement(new, old, METRICS[g.metric][1])
        if math.isnan(new) or drop > g.max_drop:
            out.append(
                f"guardrail {g.metric}: {new:.4f} vs champion {old:.4f} worsens by {drop:.4f} > max_drop {g.max_drop:g}"
            )
    return out


def gate(success: bool, on_failure: str) -> str:
    """The quality gate's verdict: 'pass', 'warn' (failed, but the spec says go on) or 'stop'."""
    if success:
        return "pass"
    return "warn" if on_failure == "warn" else "stop"


@dataclass(frozen=True)
class ApprovalOutcome:
    approved: bool
    by: str  # who answered, or "timeout"
    comment: str = ""


def apply_approval(decision: Decision, outcome: ApprovalOutcome | None) -> Decision:
    """A person's answer on a promotion the policy allowed: approval keeps it, rejection or timeout stops it."""
    if outcome is None or not decision.promote:
        return decision
    said = f" ({outcome.comment})" if outcome.comment else ""
    if outcome.approved:
        return replace(decision, reasons=(*decision.reasons, f"approved by {outcome.by}{said}"))
    if outcome.by == "timeout":
        return replace(decision, promote=False, rule="approval-timeout",
                       reasons=(*decision.reasons, "no answer before the approval timeout: rejected"))  # fmt: skip
    return replace(decision, promote=False, rule="approval-rejected",
                   reasons=(*decision.reasons, f"rejected by {outcome.by}{said}"))  # fmt: skip


def recheck_after_approval(
    decision: Decision, champion_before: str | None, champion_now: str | None
) -> Decision:
    """The champion read again, under the promotion lock, after a manual approval was awaited outside it.

    Unchanged: the decision stands. Changed (another promotion or a rollback meanwhile): a promotion is
    rejected, because both the comparison and the person's approval were about the champion seen before;
    deciding again against the new one would promote on evidence nobody reviewed."""
    if champion_now == champion_before:
        return decision
    old = f"v{champion_before}" if champion_before else "none"
    new = f"v{champion_now}" if champion_now else "none"
    why = f"the champion changed from {old} to {new} while waiting for approval"
    if not decision.promote:
        return replace(decision, reasons=(*decision.reasons, f"{why} (the challenger was rejected anyway)"))
    why += (
        f"; the evidence and the approval were about {old}, so nothing was promoted: run the retrain again "
        f"to compare the challenger with {new}"
    )
    return replace(decision, promote=False, rule="champion-changed", reasons=(*decision.reasons, why))


def best_candidate(values: list[float], direction: Direction) -> int:
    """Index of the best validation score (NaN never wins; the first of equals wins, so order is a tie-break)."""
    best, best_value = -1, math.nan
    for i, v in enumerate(values):
        if math.isnan(v):
            continue
        if best < 0 or (v > best_value if direction == "maximize" else v < best_value):
            best, best_value = i, v
    if best < 0:
        raise ValueError("no candidate has a valid validation score")
    return best
