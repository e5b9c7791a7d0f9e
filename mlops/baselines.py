"""The replay's outcome against two simple baselines (issue 23): which model serves each period under a strategy,
and the mean realised quality of the models actually served. Pure: the figures come from the replay.

The three strategies, over the same periods:
- **never retrain**: the champion at the replay's start serves every period;
- **retrain every period**: at the end of each period a challenger is trained on the spec's retrain window and
  promoted when the spec's promotion gate says so; it serves from the next period;
- **the spec's policy**: what the replay did (the monitor's retrains, and the schedule's with --retrain-every).

Each period is served by the champion before it (the model the monitor judged), so the model promoted at the end
of period i serves from period i + 1. The mean is weighted by each period's rows (the predictions served), over
the periods with a realised figure (labelled rows, past the quality gate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NEVER = "never retrain"
EVERY = "retrain every period"
POLICY = "the spec's policy"
STRATEGIES = (NEVER, EVERY, POLICY)


@dataclass(frozen=True)
class Served:
    """One period under one strategy: the model serving it and its realised primary metric there."""

    period: str
    model: str  # "v1" (a registered version) or "c3" (the challenger a baseline trained after period 3)
    rows: int  # the period's rows: the weight of its figure
    metric: float | None  # realised on the period's labelled rows; None: not judged (no labels, gate stopped)


@dataclass(frozen=True)
class Outcome:
    strategy: str
    served: tuple[Served, ...]
    retrains: int  # models trained (a rejected or stopped one counts: it was paid for)
    promotions: int

    @property
    def judged(self) -> list[Served]:
        return [s for s in self.served if s.metric is not None and not math.isnan(s.metric) and s.rows > 0]

    @property
    def mean(self) -> float | None:
        """The realised metric of the served models, weighted by each judged period's rows."""
        judged = self.judged
        total = sum(s.rows for s in judged)
        if not total:
            return None
        return sum(s.rows * (s.metric or 0.0) for s in judged) / total

    @property
    def plain_mean(self) -> float | None:
        judged = self.judged
        return sum(s.metric or 0.0 for s in judged) / len(judged) if judged else None

    @property
    def models(self) -> list[str]:
        """The distinct models that served, in order."""
        return list(dict.fromkeys(s.model for s in self.served))


def serving(first: str, promoted_after: Sequence[str | None]) -> list[str]:
    """The model serving each period: `promoted_after[i]` is the model promoted at the end of period i (None: the
    champion did not change), so period 0 is served by `first` and period i by the last model promoted at the end
    of a period before i. One list per period replayed: the last entry (promoted after the last period) serves
    nothing in the replay."""
    out, current = [], first
    for promoted in promoted_after:
        out.append(current)
        if promoted is not None:
            current = promoted
    return out


def policy_promotions(first: str, champions_after: Sequence[str | None]) -> list[str | None]:
    """The replay's own champion after each period as `serving`'s input: the new champion where it changed."""
    out: list[str | None] = []
    current: str | None = first
    for after in champions_after:
        out.append(after if after is not None and after != current else None)
        current = after if after is not None else current
    return out


def outcome(
    strategy: str,
    periods: Sequence[str],
    models: Sequence[str],
    rows: Sequence[int],
    metrics: Sequence[float | None],
    retrains: int,
    promotions: int,
) -> Outcome:
    if not len(periods) == len(models) == len(rows) == len(metrics):
        raise ValueError("one model, row count and figure per period")
    served = tuple(Served(p, m, r, x) for p, m, r, x in zip(periods, models, rows, metrics, strict=True))
    return Outcome(strategy, served, retrains, promotions)


def reading(outcomes: Sequence[Outcome], metric: str, higher_is_better: bool) -> list[str]:
    """One line per baseline: the policy's mean against it, in the metric's units and in retrains."""
    by = {o.strategy: o for o in outcomes}
    policy = by.get(POLICY)
    if policy is None or policy.mean is None:
        return []
    lines = []
    for name in (NEVER, EVERY):
        other = by.get(name)
        if other is None or other.mean is None:
            continue
        gain = (policy.mean - other.mean) * (1 if higher_is_better else -1)
        word = "better" if gain > 0 else "worse" if gain < 0 else "the same"
        size = f"{abs(gain):.4f} {metric} {word} than" if gain else "the same as"
        lines.append(
            f"the spec's policy served {size} {name} ({policy.mean:.4f} against {other.mean:.4f}), "
            f"with {policy.retrains} retrain{'s' * (policy.retrains != 1)} against {other.retrains}"
        )
    return lines


@dataclass(frozen=True)
class Summary:
    """One strategy's line in the replay's comparison (printed, in the JSON and in baselines.csv)."""

    strategy: str
    periods: int  # periods with a realised figure
    rows: int  # their rows: the weights of the mean
    mean: float | None  # weighted by rows
    plain_mean: float | None  # each judged period counting once
    retrains: int
    promotions: int
    models: str  # the models that served, in order: "v1 -> c2 -> c5"


def summarise(o: Outcome) -> Summary:
    judged = o.judged
    return Summary(
        o.strategy, len(judged), sum(s.rows for s in judged), o.mean, o.plain_mean, o.retrains, o.promotions,
        " -> ".join(o.models),
    )  # fmt: skip


def policy_outcome(
    first: str,
    periods: Sequence[str],
    rows: Sequence[int],
    metrics: Sequence[float | None],
    champions_after: Sequence[str | None],
    retrains: int,
    promotions: int,
) -> Outcome:
    """The replay's own strategy from its timeline: `first` the champion before the first period, and the champion
    after each period (versions as the registry names them: "1", "2")."""
    models = [f"v{m}" for m in serving(first, policy_promotions(first, champions_after))]
    return outcome(POLICY, periods, models, rows, metrics, retrains, promotions)
