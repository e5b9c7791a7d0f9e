"""Promotion as a pure function: metrics in, a Decision with its reasons out. No MLflow, no Prefect, no files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from mlops.catalog import METRICS, Direction
from mlops.spec import Promotion


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

    @property
    def verdict(self) -> str:
        return "promoted" if self.promote else "rejected"


def improvement(challenger: float, champion: float, direction: Direction) -> float:
    """How much better the challenger is, positive when better, in the metric's own units."""
    return challenger - champion if direction == "maximize" else champion - challenger


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    policy: Promotion,
    champion_error: str | None = None,
) -> Decision:
    """Decide whether the challenger replaces the champion; both were scored on the same holdout."""
    metric = policy.metric
    direction = policy.direction or METRICS[metric][1]
    value = float(challenger.get(metric, math.nan))
    base = Decision(False, "invalid", (), metric, direction, value)

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
        gain, gain_text = math.inf, f"the champion has no valid {metric}"
    else:
        gain = improvement(value, champ, direction)
        gain_text = (
            f"{metric} {value:.4f} vs champion {champ:.4f} "
            f"({gain:+.4f}, needs > 0 and >= {policy.min_improvement:g})"
        )
    breaches += tuple(_drop_breaches(challenger, champion, policy))
    compared = replace(
        base,
        champion_value=champ,
        improvement=gain if math.isfinite(gain) else None,
        guardrail_breaches=breaches,
    )
    if not (gain > 0 and gain >= policy.min_improvement):
        return replace(
            compared, rule="not-improved", reasons=(f"not enough improvement: {gain_text}", *breaches)
        )
    if breaches:
        return replace(
            compared,
            rule="guardrail",
            reasons=(f"improved ({gain_text}) but a guardrail blocks it", *breaches),
        )
    return replace(compared, promote=True, rule="improved", reasons=(f"improved: {gain_text}",))


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
