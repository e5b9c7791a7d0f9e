"""Champion vs challenger on the SAME holdout rows: metrics, a paired bootstrap of the difference, slices.

The evidence a promotion decision rests on. The bootstrap resamples rows with multinomial weights rather than
copying the frame, and ROC AUC is computed from scores sorted once, so 1,000 resamples of 30k rows take about a
second instead of half a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mlops.catalog import METRICS, Task
from mlops.policy import Evidence, Interval, SliceResult
from mlops.spec import Promotion
from tasks.data.splits import SplitData, TrainedRows, row_hashes
from tasks.train import Predictions, Trained, evaluate_on


@dataclass(frozen=True)
class ChampionScore:
    version: str | None
    metrics: dict[str, float] | None
    error: str | None = None
    predictions: Predictions | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Comparison:
    """The holdout rows champion and challenger are compared on (the holdout minus the rows the champion trained
    on), with the challenger's metrics and outputs on exactly those rows."""

    holdout: pd.DataFrame = field(repr=False)
    metrics: dict[str, float]
    predictions: Predictions | None = field(repr=False)
    excluded_rows: int = 0
    champion_rows_known: bool = True

    @property
    def compared_rows(self) -> int:
        return len(self.holdout)


def comparison_set(
    parts: SplitData,
    challenger: Trained,
    trained: TrainedRows | None,
    target: str,
    task_kind: Task,
    has_champion: bool = True,
) -> Comparison:
    """Leave out of the holdout the rows the champion trained on (`trained`, recorded with its run): a changed
    seed or fraction, or a window moved back, would otherwise judge it partly on rows it learnt. The challenger
    is scored again on the remaining rows only when some were left out. `trained` None with a champion: its rows
    were not recorded (trained before mlops recorded them), so none can be excluded, and the evidence says so."""
    full = Comparison(parts.holdout, challenger.metrics, challenger.predictions)
    if not has_champion:
        return full
    if trained is None or any(c not in parts.holdout.columns for c in trained.key):
        return replace(full, champion_rows_known=False)
    seen = np.isin(row_hashes(parts.holdout, trained.key), trained.hashes)
    excluded = int(seen.sum())
    if excluded == 0:
        return full
    kept = parts.holdout[~seen]
    if kept.empty:  # nothing left to compare on: the decision says so (holdout-too-small)
        return Comparison(kept, {k: math.nan for k in challenger.metrics}, None, excluded)
    metrics, predictions = evaluate_on(challenger.model, kept, parts.features.all, target, task_kind)
    return Comparison(kept, metrics, predictions, excluded)


def score_champion(champion: Any, holdout: pd.DataFrame, target: str, task_kind: Task) -> ChampionScore:
    """Score the current champion on the challenger's holdout; when it cannot, say why instead of crashing."""
    if champion is None:
        return ChampionScore(None, None)
    missing = [c for c in champion.features if c not in holdout.columns]
    if missing:
        return ChampionScore(
            champion.version, None, f"it needs columns the data no longer has: {', '.join(missing)}"
        )
    columns = champion.features or [c for c in holdout.columns if c != target]
    try:
        metrics, preds = evaluate_on(champion.model, holdout, columns, target, task_kind)
    except Exception as exc:  # noqa: BLE001 - decided by policy.on_champion_error, with the error kept
        return ChampionScore(champion.version, None, f"{type(exc).__name__}: {exc}")
    return ChampionScore(champion.version, metrics, predictions=preds)


def gather_evidence(
    challenger: Predictions | None,
    champion: ChampionScore,
    holdout: pd.DataFrame,
    policy: Promotion,
    holdout_sha256: str,
    excluded_rows: int = 0,
    champion_rows_known: bool = True,
) -> Evidence:
    """Everything the decision needs beyond the two metric dicts: the compared rows' count (and how many the
    champion trained on were left out), the holdout's hash, the bootstrap interval of the primary metric's
    improvement, and the per-slice comparison. `challenger` holds the challenger's outputs on the same rows."""
    interval = None
    slices: list[SliceResult] = []
    if champion.predictions is not None and challenger is not None:
        new, old = challenger, champion.predictions
        if policy.bootstrap is not None:
            b = policy.bootstrap
            interval = paired_bootstrap(policy.metric, new, old, b.resamples, b.confidence, b.seed, policy)
        for guard in policy.slice_guardrails:
            slices += slice_results(
                guard.column, guard.metric or policy.metric, holdout, new, old, guard.min_rows
            )
    return Evidence(
        holdout_rows=len(holdout), holdout_sha256=holdout_sha256, interval=interval, slices=tuple(slices),
        excluded_rows=excluded_rows, champion_rows_known=champion_rows_known,
    )  # fmt: skip


def paired_bootstrap(
    metric: str,
    new: Predictions,
    old: Predictions,
    resamples: int,
    confidence: float,
    seed: int,
    policy: Promotion,
) -> Interval:
    """Percentile interval of the improvement (challenger minus champion, sign-adjusted so positive is better),
    both models scored on the same resampled rows each time."""
    direction = policy.direction or METRICS[metric][1]
    sign = 1.0 if direction == "maximize" else -1.0
    rng = np.random.default_rng(seed)
    n = len(new.y)
    new_fn, old_fn = weighted_metric(metric, new), weighted_metric(metric, old)
    diffs = np.empty(resamples)
    for i in range(resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        diffs[i] = sign * (new_fn(w) - old_fn(w))
    diffs = diffs[~np.isnan(diffs)]
    alpha = (1 - confidence) / 2
    point = sign * (new_fn(np.ones(n)) - old_fn(np.ones(n)))
    if len(diffs) == 0:
        return Interval(math.nan, math.nan, point, confidence, resamples, seed)
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return Interval(float(low), float(high), float(point), confidence, resamples, seed)


def slice_results(
    column: str, metric: str, holdout: pd.DataFrame, new: Predictions, old: Predictions, min_rows: int
) -> list[SliceResult]:
    values = holdout[column].to_numpy()
    out = []
    for value in pd.unique(values):
        mask = values == value
        rows = int(mask.sum())
        if rows < min_rows:
            continue
        w = mask.astype(float)
        out.append(
            SliceResult(
                column,
                str(value),
                metric,
                weighted_metric(metric, new)(w),
                weighted_metric(metric, old)(w),
                rows,
            )
        )
    return out


def weighted_metric(metric: str, p: Predictions) -> Any:
    """A function of row weights returning the metric: what a bootstrap resample or a slice needs."""
    from sklearn import metrics as m

    y, pred = p.y, p.pred
    if metric == "roc_auc":
        return _auc_fn(y == p.positive, p.proba) if p.proba is not None else (lambda w: math.nan)
    binary = p.positive is not None
    avg: dict[str, Any] = {"average": "binary", "pos_label": p.positive} if binary else {"average": "macro"}
    simple = {
        "accuracy": lambda w: m.accuracy_score(y, pred, sample_weight=w),
        "balanced_accuracy": lambda w: m.balanced_accuracy_score(y, pred, sample_weight=w),
        "f1": lambda w: m.f1_score(y, pred, sample_weight=w, zero_division=0, **avg),
        "precision": lambda w: m.precision_score(y, pred, sample_weight=w, zero_division=0, **avg),
        "recall": lambda w: m.recall_score(y, pred, sample_weight=w, zero_division=0, **avg),
        "rmse": lambda w: math.sqrt(np.average((y - pred) ** 2, weights=w)),
        "mae": lambda w: float(np.average(np.abs(y - pred), weights=w)),
        "r2": lambda w: m.r2_score(y, pred, sample_weight=w),
        "mape": lambda w: m.mean_absolute_percentage_error(y, pred, sample_weight=w),
    }
    if metric in simple:
        return simple[metric]
    if metric == "log_loss" and p.proba is not None:
        truth = (y == p.positive).astype(float)
        eps = 1e-15
        clipped = np.clip(p.proba, eps, 1 - eps)
        loss = -(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped))
        return lambda w: float(np.average(loss, weights=w))
    if metric == "average_precision" and p.proba is not None:
        truth = y == p.positive
        return lambda w: m.average_precision_score(truth, p.proba, sample_weight=w)
    return lambda w: math.nan


def _auc_fn(truth: np.ndarray, scores: np.ndarray) -> Any:
    """Weighted ROC AUC with ties counted half, from scores grouped once: O(n) per call."""
    _, group = np.unique(scores, return_inverse=True)
    groups = int(group.max()) + 1
    positive = truth.astype(float)

    def auc(w: np.ndarray) -> float:
        pos = np.bincount(group, weights=w * positive, minlength=groups)
        neg = np.bincount(group, weights=w * (1 - positive), minlength=groups)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return math.nan
        neg_below = np.cumsum(neg) - neg
        return float((pos * (neg_below + 0.5 * neg)).sum() / (total_pos * total_neg))

    return auc
