"""The champion's quality floor (issue 23): its primary metric on many seeded batches of each size drawn from its
holdout, and their 5th percentile (the rule, the grid and the interpolation are in mlops/quality_floor.py).

Vectorised: a chunk of resamples is one (resamples x rows) index matrix, and every metric is computed from
per-row contributions: means of per-row losses (accuracy, log loss, MAE, RMSE, MAPE, R2 from its three sums), a
confusion matrix per resample for the label metrics (precision, recall, F1, balanced accuracy; binary or macro,
scikit-learn's zero_division=0), and per-resample counts over the holdout's distinct scores for ROC AUC (ties
counted half) and average precision, as scikit-learn computes them; more than BINS distinct scores are merged into
BINS ordered bins (ties within a bin, counted half: cost per resample stays the batch's rows plus BINS), and the
floors are moved by what that changes on the whole holdout (at most a few 1e-4 of ROC AUC). tests/unit/test_quality_floor.py checks each
against scikit-learn on the same rows. Looping scikit-learn's functions instead cost 19 s (ROC AUC) to 160 s (F1)
for 400 resamples x 9 sizes on 60,000 rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlops.catalog import METRICS
from mlops.quality_floor import QualityFloor, grid_for, percentile_floor, resamples_for
from tasks.train import Predictions, Trained

CELLS = 2_000_000  # the largest (resamples x rows) or (resamples x distinct scores) block held at once
BINS = 4_096  # the most distinct scores the ranked metrics keep
_EPS = 1e-15


def quality_floor(
    fitted: Trained,
    metric: str,
    seed: int,
    resamples: int | None = None,
    higher_is_better: bool | None = None,
) -> QualityFloor | None:
    """What the model scores on 95% of batches of each grid size drawn (with replacement, seeded) from its holdout.
    None when the metric cannot be bootstrapped (no holdout outputs, a multiclass ROC AUC or log loss, a NaN holdout
    figure): the monitor then says so and falls back to the drift rule."""
    p, reference = fitted.predictions, fitted.metrics.get(metric)
    if p is None or reference is None or not math.isfinite(reference) or len(p.y) == 0:
        return None
    fn = batch_metric(metric, p)
    if fn is None:
        return None
    higher = METRICS[metric][1] == "maximize" if higher_is_better is None else higher_is_better
    n, rng = len(p.y), np.random.default_rng(seed)
    # the bootstrap's definition against the exact figure on the whole holdout (nonzero only for binned scores)
    shift = float(reference) - float(fn(np.arange(n)[None, :])[0])
    shift = shift if math.isfinite(shift) else 0.0
    sizes, floors = [], []
    for size in grid_for(n):
        values = bootstrap(fn, n, size, resamples or resamples_for(size), rng) + shift
        floor = percentile_floor(values.tolist(), higher)
        if math.isfinite(floor):
            sizes.append(size)
            floors.append(floor)
    if not sizes:
        return None
    fewest = resamples or min(resamples_for(s) for s in sizes)
    return QualityFloor(metric, float(reference), higher, n, tuple(sizes), tuple(floors), fewest, seed)


def bootstrap(
    fn: Callable[[np.ndarray], np.ndarray], n: int, size: int, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """`resamples` values of the metric, each on `size` rows drawn with replacement from the n rows."""
    out = []
    chunk = max(1, min(resamples, CELLS // max(size, 1)))
    done = 0
    while done < resamples:
        c = min(chunk, resamples - done)
        out.append(fn(rng.integers(0, n, (c, size))))
        done += c
    return np.concatenate(out)


def batch_metric(metric: str, p: Predictions) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function of a (resamples x rows) index matrix into the holdout returning the metric of each resample (the
    definitions of tasks/train.py's _metrics); None for a metric it cannot compute from these outputs."""
    y, pred = np.asarray(p.y), np.asarray(p.pred)
    if metric in ("mae", "rmse", "mape", "r2"):
        yf, e = y.astype(float), pred.astype(float) - y.astype(float)
        if metric == "mae":
            return _mean_of(np.abs(e))
        if metric == "rmse":
            mse = _mean_of(e**2)
            return lambda idx: np.sqrt(mse(idx))
        if metric == "mape":
            return _mean_of(np.abs(e) / np.maximum(np.abs(yf), np.finfo(np.float64).eps))
        return lambda idx: _r2(yf[idx], (e**2)[idx])
    if metric == "accuracy":
        return _mean_of((y == pred).astype(float))
    if metric in ("precision", "recall", "f1", "balanced_accuracy"):
        return _label_metric(metric, y, pred, p.positive)
    if p.proba is None or p.positive is None:
        return None  # ROC AUC, average precision and log loss need a binary model's probabilities
    truth = (y == p.positive).astype(float)
    proba = np.asarray(p.proba, dtype=float)
    if metric == "log_loss":
        q = np.clip(proba, _EPS, 1 - _EPS)
        return _mean_of(-(truth * np.log(q) + (1 - truth) * np.log(1 - q)))
    if metric in ("roc_auc", "average_precision"):
        return _ranked(metric, truth, proba)
    return None


def _mean_of(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda idx: np.asarray(values[idx].mean(axis=1))


def _r2(y: np.ndarray, squared_error: np.ndarray) -> np.ndarray:
    m = y.shape[1]
    total = (y**2).sum(axis=1) - y.sum(axis=1) ** 2 / m
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1 - squared_error.sum(axis=1) / total, np.nan)


def _label_metric(
    metric: str, y: np.ndarray, pred: np.ndarray, positive: Any
) -> Callable[[np.ndarray], np.ndarray]:
    classes = list(dict.fromkeys([*np.unique(y).tolist(), *np.unique(pred).tolist()]))
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    codes = np.array([index[t] * k + index[q] for t, q in zip(y.tolist(), pred.tolist(), strict=True)])
    pos = index.get(positive) if positive is not None else None

    def fn(idx: np.ndarray) -> np.ndarray:
        c = idx.shape[0]
        flat = (np.arange(c)[:, None] * k * k + codes[idx]).ravel()
        cm = np.bincount(flat, minlength=c * k * k).reshape(c, k, k).astype(float)
        tp = np.diagonal(cm, axis1=1, axis2=2)
        predicted, actual = cm.sum(axis=1), cm.sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 0.0)
            recall = np.where(actual > 0, tp / actual, 0.0)
            f1 = np.where(predicted + actual > 0, 2 * tp / (predicted + actual), 0.0)
            if metric == "balanced_accuracy":  # the mean recall over the classes the batch holds
                present = actual > 0
                return np.asarray((recall * present).sum(axis=1) / present.sum(axis=1))
        chosen = {"precision": precision, "recall": recall, "f1": f1}[metric]
        if k == 2 and pos is not None:
            return np.asarray(chosen[:, pos])
        present = (predicted + actual) > 0  # macro over the labels seen in the batch, as scikit-learn does
        return np.asarray((chosen * present).sum(axis=1) / present.sum(axis=1))

    return fn


def _ranked(metric: str, truth: np.ndarray, score: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """ROC AUC (ties counted half) or average precision per resample, from counts over the distinct scores."""
    distinct, group = np.unique(score, return_inverse=True)
    g = len(distinct)
    if g > BINS:  # ordered bins of distinct scores: equal scores always share a bin
        group, g = group * BINS // g, BINS

    def fn(idx: np.ndarray) -> np.ndarray:
        if idx.shape[1] * 16 < g:  # small batches: sorting each one costs less than counting over every score
            return _sorted_ranked(metric, group[idx], truth[idx])
        out = []
        step = max(1, CELLS // g)
        for start in range(0, idx.shape[0], step):
            part = idx[start : start + step]
            c = part.shape[0]
            flat = (np.arange(c)[:, None] * g + group[part]).ravel()
            pos = np.bincount(flat, weights=truth[part].ravel(), minlength=c * g).reshape(c, g)
            neg = np.bincount(flat, weights=1 - truth[part].ravel(), minlength=c * g).reshape(c, g)
            out.append(_auc(pos, neg) if metric == "roc_auc" else _average_precision(pos, neg))
        return np.concatenate(out)

    return fn


def _sorted_ranked(metric: str, codes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """ROC AUC or average precision of each row of (resamples x rows) score codes and labels, by sorting each row:
    ties (equal codes) share their average rank (AUC) or one threshold (average precision)."""
    positives = truth.sum(axis=1)
    negatives = truth.shape[1] - positives
    if metric == "roc_auc":
        from scipy.stats import rankdata

        ranks = rankdata(codes, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((ranks * truth).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
        return np.asarray(np.where((positives > 0) & (negatives > 0), auc, np.nan))
    order = np.argsort(-codes, axis=1, kind="stable")
    c_sorted = np.take_along_axis(codes, order, axis=1)
    tps = np.cumsum(np.take_along_axis(truth, order, axis=1), axis=1)
    end = np.ones_like(c_sorted, dtype=bool)  # the last row of each tie block is a threshold
    end[:, :-1] = c_sorted[:, :-1] != c_sorted[:, 1:]
    at_end = np.where(end, tps, 0.0)
    before = np.zeros_like(at_end)
    before[:, 1:] = np.maximum.accumulate(at_end, axis=1)[:, :-1]
    seen = np.arange(1, codes.shape[1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = (np.where(end, (tps - before) * tps / seen, 0.0)).sum(axis=1) / positives
    return np.asarray(np.where(positives > 0, ap, np.nan))


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Columns in increasing score order."""
    below = np.cumsum(neg, axis=1) - neg
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / total, np.nan)


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """scikit-learn's: the sum over thresholds, from the highest score down, of precision times the step in
    recall."""
    tps, fps = np.cumsum(pos[:, ::-1], axis=1), np.cumsum(neg[:, ::-1], axis=1)
    total = tps[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tps + fps > 0, tps / (tps + fps), 0.0)
        step = np.diff(np.concatenate([np.zeros_like(total), tps], axis=1), axis=1) / total
        return np.where(total[:, 0] > 0, (step * precision).sum(axis=1), np.nan)
