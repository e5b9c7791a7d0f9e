"""Estimated model quality without labels, and drift weighted by what the model uses (issue 14).

Classifiers: confidence-based performance estimation (CBPE, the method of NannyML, written here rather than
installed): the champion's probabilities, calibrated on its holdout at training time, are the chance that each
row's prediction is right, so the batch's confusion matrix has an expected value, and with it every metric built
on it. ROC AUC and average precision are estimated as NannyML does: rank the rows by the model's own score and
count the calibrated probabilities as expected positives along that ranking. Multiclass metrics are the macro
average of the one-vs-rest estimates, as scikit-learn's macro average is of the realised ones.

Regressors: direct loss estimation: a small model of the champion's absolute (and squared) error, fitted on its
holdout, predicts each row's expected error; their mean is the batch's expected MAE (and RMSE).

Everything here is plain functions on arrays (scikit-learn and numpy; no tracking library): the fitting at
training time is in tasks/estimate_fit.py, the artifact round-trip in tasks/tracking/monitoring.py."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def single_threaded(fn: F) -> F:
    """Run `fn` with native thread pools (OpenMP, BLAS) capped at one thread. For the small fits and predictions of
    monitoring: threads fighting other processes for the cores made the same work twenty times slower on a busy
    2-core machine."""

    @functools.wraps(fn)
    def capped(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return cast(F, capped)


# The column the loss model reads the champion's prediction from, beside the features.
PREDICTION_COLUMN = "__prediction__"
_EPS = 1e-15


def expected_classification_metrics(
    calibrated_proba: Any,
    classes: Sequence[Any],
    metric_names: Iterable[str],
    *,
    predicted: Any = None,
    scores: Any = None,
) -> dict[str, float]:
    """The batch's expected metrics from calibrated probabilities (n rows x k classes, columns in `classes` order;
    a 1-D array for binary is P(classes[1])).

    `predicted`: the labels the model predicted (its own decision threshold; default the calibrated argmax).
    `scores`: the model's uncalibrated probabilities, which rank rows for ROC AUC and average precision and which
    log loss is measured on (default the calibrated ones). A metric that cannot be estimated is NaN."""
    p = _as_matrix(calibrated_proba, len(classes))
    n, k = p.shape
    raw = p if scores is None else _as_matrix(scores, k)
    idx = p.argmax(axis=1) if predicted is None else _class_index(predicted, classes)
    names = list(metric_names)
    if n == 0:
        return {m: math.nan for m in names}
    # expected confusion matrix: cm[t, j] = sum of P(true class t) over the rows predicted j
    cm = np.zeros((k, k))
    for j in range(k):
        cm[:, j] = p[idx == j].sum(axis=0)
    out: dict[str, float] = {"accuracy": float(np.trace(cm) / n)}
    per_class = [_binary_counts(cm, c) for c in range(k)]
    if k == 2:
        tp, fp, fn, tn = per_class[1]
        out["precision"], out["recall"], out["f1"] = _prf(tp, fp, fn)
        out["balanced_accuracy"] = (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2
        out["roc_auc"] = estimate_roc_auc(p[:, 1], raw[:, 1])
        out["average_precision"] = estimate_average_precision(p[:, 1], raw[:, 1])
    else:
        prf = np.array([_prf(tp, fp, fn) for tp, fp, fn, _ in per_class])
        out["precision"], out["recall"], out["f1"] = (float(x) for x in np.nanmean(prf, axis=0))
        out["balanced_accuracy"] = out["recall"]
        out["roc_auc"] = float(np.mean([estimate_roc_auc(p[:, c], raw[:, c]) for c in range(k)]))
    out["log_loss"] = float(-np.mean(np.sum(p * np.log(np.clip(raw, _EPS, 1.0)), axis=1)))
    return {m: out.get(m, math.nan) for m in names}


def estimate_roc_auc(calibrated: Any, score: Any) -> float:
    """Expected ROC AUC (NannyML's estimate_roc_auc): walk the rows from the highest model score down; the
    calibrated probabilities add up to the expected true positives, the rest to false positives. Tied scores are
    one threshold, as in scikit-learn's roc_curve."""
    tps, fps = _expected_curve(calibrated, score)
    if tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def estimate_average_precision(calibrated: Any, score: Any) -> float:
    """Expected average precision (NannyML's estimate_ap): sum over thresholds of the expected precision times
    the step in expected recall."""
    tps, fps = _expected_curve(calibrated, score)
    if tps[-1] <= 0:
        return math.nan
    precision = np.divide(tps, tps + fps, out=np.ones_like(tps), where=(tps + fps) > 0)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall) * precision[1:]))


def _expected_curve(calibrated: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    p, s = np.asarray(calibrated, dtype=float), np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    p, s = p[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each distinct score
    tps = np.cumsum(p)[last]
    fps = (last + 1) - tps
    return np.r_[0.0, tps], np.r_[0.0, fps]


def _as_matrix(proba: Any, k: int) -> np.ndarray:
    a = np.asarray(proba, dtype=float)
    if a.ndim == 1:
        if k != 2:
            raise ValueError(f"a 1-D probability array is for binary models, but {k} classes were given")
        a = np.column_stack([1 - a, a])
    if a.shape[1] != k:
        raise ValueError(f"probabilities have {a.shape[1]} columns for {k} classes")
    return a


def _class_index(predicted: Any, classes: Sequence[Any]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    try:
        return np.array([lookup[v] for v in np.asarray(predicted).tolist()], dtype=int)
    except KeyError as exc:
        raise ValueError(f"predicted label {exc} is not one of the classes {list(classes)}") from None


def _binary_counts(cm: np.ndarray, c: int) -> tuple[float, float, float, float]:
    """One-vs-rest expected (TP, FP, FN, TN) of class c."""
    tp = float(cm[c, c])
    fp = float(cm[:, c].sum() - tp)
    fn = float(cm[c, :].sum() - tp)
    return tp, fp, fn, float(cm.sum() - tp - fp - fn)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0  # scikit-learn's zero_division=0


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def calibrate(calibrator: Mapping[str, Any], proba: Any) -> np.ndarray:
    """The model's probabilities (n x k) through the calibrator fitted at training time (estimate_fit)."""
    p = np.asarray(proba, dtype=float)
    method = calibrator["method"]
    if method == "identity":
        return p
    if method == "temperature":  # multiclass: q^(1/T), renormalised; keeps each row's argmax
        logits = np.log(np.clip(p, _EPS, 1.0)) / float(calibrator["temperature"])
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return np.asarray(e / e.sum(axis=1, keepdims=True))
    pos = p[:, 1]
    if method == "isotonic":
        cal = calibrator["model"].predict(pos)
    elif method == "sigmoid":
        cal = calibrator["model"].predict_proba(_logit(pos).reshape(-1, 1))[:, 1]
    else:
        raise ValueError(f"unknown calibration method {method!r}")
    cal = np.clip(np.asarray(cal, dtype=float), 0.0, 1.0)
    return np.column_stack([1 - cal, cal])


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


def loss_frame(X: Any, pred: Any, numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """What the loss model reads: the numeric features as numbers, the categorical ones as text, the
    prediction."""
    import pandas as pd

    out = pd.DataFrame(index=X.index)
    for c in numeric:
        out[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
    for c in categorical:
        out[c] = X[c].astype(str)
    out[PREDICTION_COLUMN] = np.asarray(pred, dtype=float)
    return out


def expected_regression_loss(loss_model: Mapping[str, Any], X: Any, pred: Any) -> dict[str, float]:
    """The batch's expected MAE (and RMSE when the loss model has its squared-error part) from the loss model
    fitted on the champion's holdout: {"absolute": regressor, "squared": regressor, "numeric": [...],
    "categorical": [...]}. Each row's expected error is clipped at 0 (a tree never predicts below it; a linear
    part could)."""
    if len(X) == 0:
        return {"mae": math.nan, "rmse": math.nan}
    frame = loss_frame(X, pred, loss_model.get("numeric", []), loss_model.get("categorical", []))
    out = {"mae": float(np.mean(np.clip(loss_model["absolute"].predict(frame), 0, None)))}
    if loss_model.get("squared") is not None:
        out["rmse"] = float(math.sqrt(np.mean(np.clip(loss_model["squared"].predict(frame), 0, None))))
    return out


def weighted_drift_share(drifted: Iterable[str], weights: Mapping[str, float]) -> float:
    """The share of the model's importance that sits on drifted columns (weights sum to 1)."""
    return float(sum(weights.get(c, 0.0) for c in set(drifted)))


def normalise_importance(raw: Mapping[str, float]) -> dict[str, float]:
    """Non-negative weights that sum to 1: a negative or NaN importance (permuting the column helped, or did
    nothing) counts as 0; when no column matters at all, every column weighs the same."""
    clipped = {c: max(0.0, float(v)) if math.isfinite(float(v)) else 0.0 for c, v in raw.items()}
    total = sum(clipped.values())
    if total <= 0:
        return {c: 1.0 / len(clipped) for c in clipped} if clipped else {}
    return {c: v / total for c, v in clipped.items()}


@dataclass(frozen=True)
class QualitySignals:
    """What the monitor knows of a batch beyond raw drift, for the verdict policy and the timeline: the raw and
    importance-weighted drift shares, the estimated metrics (no labels needed), the realised ones (labelled rows
    only) and the champion's holdout figures. `note` says why something is missing."""

    drift_share: float
    weighted_drift_share: float | None = None
    estimated: dict[str, float] = field(default_factory=dict)
    realised: dict[str, float] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)
    note: str | None = None

    def metrics(self) -> dict[str, float]:
        """MLflow metrics of the monitor run (NaN and missing ones left out)."""
        out = {"drift_share": self.drift_share}
        if self.weighted_drift_share is not None:
            out["weighted_drift_share"] = self.weighted_drift_share
        out |= {f"estimated_{k}": v for k, v in self.estimated.items()}
        return {k: v for k, v in out.items() if v is not None and math.isfinite(v)}

    def lines(self, primary: str) -> list[str]:
        """'Drift share ...' and 'Estimated quality ...' for a person, estimated next to realised."""
        weighted = (
            ""
            if self.weighted_drift_share is None
            else f", weighted by importance {self.weighted_drift_share:.0%}"
        )
        out = [f"Drift share: {self.drift_share:.0%} of columns{weighted}"]
        if self.estimated:
            names = sorted(self.estimated, key=lambda m: (m != primary, m))
            shown = []
            for m in names:
                realised = self.realised.get(m)
                text = f"{m} {_fmt(self.estimated[m])}"
                if realised is not None and math.isfinite(realised):
                    text += f" (realised {_fmt(realised)})"
                shown.append(text)
            ref = self.reference.get(primary)
            tail = f"; champion's holdout {primary} {_fmt(ref)}" if ref is not None else ""
            out.append("Estimated quality (without labels): " + ", ".join(shown) + tail)
        if self.note:
            out.append(self.note)
        return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


@single_threaded
def quality_signals(
    monitoring: Any,
    model: Any,
    batch: Any,
    features: list[str],
    drifted_share: float,
    drifted_columns: Iterable[str],
    realised: Mapping[str, float] | None,
    reference: Mapping[str, float],
) -> QualitySignals:
    """The signals of one batch: `monitoring` is the champion's artifacts (tasks.tracking.monitoring.Monitoring:
    importance and estimator payload, or only a note saying why they are not available)."""
    realised_clean = {k: float(v) for k, v in (realised or {}).items() if v is not None and math.isfinite(v)}
    if monitoring is None or monitoring.estimator is None:
        return QualitySignals(drifted_share, None, {}, realised_clean, dict(reference),
                              note=getattr(monitoring, "note", None))  # fmt: skip
    weighted = weighted_drift_share(drifted_columns, monitoring.importance)
    payload = monitoring.estimator
    x = batch[features]
    if payload["task"] == "classification":
        if payload.get("calibrator") is None:
            return QualitySignals(drifted_share, weighted, {}, realised_clean, dict(reference),
                                  note="estimated quality: not available (the champion gives no probabilities)")  # fmt: skip
        raw = model.predict_proba(x)
        cal = calibrate(payload["calibrator"], raw)
        estimated = expected_classification_metrics(
            cal, payload["classes"], payload["metrics"], predicted=model.predict(x), scores=raw
        )
    else:
        estimated = expected_regression_loss(payload["loss_model"], x, model.predict(x))
    return QualitySignals(drifted_share, weighted, estimated, realised_clean, dict(reference))
