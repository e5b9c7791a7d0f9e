"""Pruning a search's trials: Optuna's MedianPruner rule as a pure function of plain numbers, so that a trial fitted
on a thread or a Dask worker (which has no Optuna, nor the trial store) stops where Optuna itself would stop it.

A trial reports its validation loss at each boosting round (a step). It is pruned at step s when its best value so
far is worse than the median of the values the COMPLETE trials reported at step s, once `startup_trials` trials
are complete and s >= `warmup_steps` (Optuna's `_PercentilePruner.prune` with percentile 50, interval_steps 1 and
n_min_trials 1; tests/unit/test_pruning.py holds the two side by side).

Determinism: the search fits its trials in batches and tells a batch's scores before drawing the next, so the
complete trials a trial is compared with are those of the batches before its own, whatever finished first inside
it. `medians` is computed from exactly those, before the batch is handed out: a trial's fate is a function of the
seed, the data and the trials before its batch, on threads, on Dask and after a resume alike.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PruneRule:
    """What a trial of one batch is held to: the median loss at each step (None: no complete trial got there)."""

    medians: tuple[float | None, ...]
    warmup_steps: int

    def prunes(self, step: int, best_so_far: float, higher_is_better: bool = False) -> bool:
        """Whether a trial whose best value up to `step` (0-based) is `best_so_far` stops there (the library says
        which way its metric is better; a median is the same either way)."""
        if step < self.warmup_steps or step >= len(self.medians):
            return False
        if math.isnan(best_so_far):
            return True  # Optuna prunes a trial whose every value is NaN
        median = self.medians[step]
        if median is None:
            return False
        return best_so_far < median if higher_is_better else best_so_far > median


def median_rule(
    complete: Sequence[Sequence[float]], *, startup_trials: int, warmup_steps: int
) -> PruneRule | None:
    """The rule for the next batch from the complete trials' curves (value per step); None until `startup_trials`
    trials are complete (nothing is pruned then)."""
    if not complete or len(complete) < startup_trials:
        return None
    longest = max(len(c) for c in complete)
    medians: list[float | None] = []
    for step in range(longest):
        values = [c[step] for c in complete if step < len(c) and not math.isnan(c[step])]
        medians.append(float(statistics.median(values)) if values else None)
    return PruneRule(tuple(medians), warmup_steps)
