"""At training time, on the holdout: what the monitor needs to estimate the champion's quality without labels and
to weigh drift by what the model uses (issue 14). scikit-learn; nothing here tracks or saves (see
tasks/tracking/monitoring.py).

- Permutation importance of each feature (seeded, 5 repeats, on at most IMPORTANCE_ROWS holdout rows: its cost
  is rows x features x repeats predictions, the bulk of what this adds to a retrain),
  normalised to weights that sum to 1.
- Classifiers: a calibrator of the model's probabilities. Binary: isotonic regression of P(positive) when the
  holdout has at least 1,000 rows, else Platt's sigmoid (isotonic over-fits small sets; scikit-learn's guide says
  the same). Multiclass: temperature scaling (one parameter, fitted by log loss), which keeps every row's
  predicted class, so the expected confusion matrix is built on the model's own decisions; per-class isotonic
  would need renormalising and can move the argmax.
- Regressors: a small gradient-boosted model of the absolute error (and one of the squared error, for RMSE), on
  the features and the prediction.
- The reference figures: the realised holdout metrics and the estimates on the same rows, the latter cross-fitted
  (each fold's rows estimated by a calibrator or loss model fitted on the other folds), so the estimator is
  never judged on its own fit."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.catalog import Task, metrics_for
from tasks.estimate import (
    calibrate,
    expected_classification_metrics,
    loss_frame,
    normalise_importance,
    single_threaded,
)

IMPORTANCE_ROWS = 1_000
IMPORTANCE_REPEATS = 5
STACKED_ROWS = 500_000  # the shuffled copies are scored in one call: bounds its memory with many features
CALIBRATION_ROWS = 10_000
LOSS_ROWS = 5_000
FOLDS = 3
ISOTONIC_MIN_ROWS = 1_000


@dataclass(frozen=True)
class MonitoringFit:
    importance: dict[str, float]  # feature -> weight, non-negative, summing to 1
    estimator: dict[str, Any]  # the payload saved as monitoring/estimator.pkl
    seconds: float  # what it cost, recorded on the run


@single_threaded  # the work is small (a few thousand rows)
def fit_monitoring(
    model: Any, holdout: pd.DataFrame, numeric: list[str], categorical: list[str], target: str, task: Task,
    seed: int,
) -> MonitoringFit:  # fmt: skip
    """Importance weights and the quality estimator of a fitted model, from its holdout."""
    start = time.perf_counter()
    features = [*numeric, *categorical]
    labelled = holdout[holdout[target].notna()]
    importance = permutation_weights(model, labelled, features, target, task, seed)
    payload: dict[str, Any] = {"format": 1, "task": task, "metrics": metrics_for(task), "rows": len(labelled)}
    if task == "classification":
        payload |= _classifier_payload(model, labelled, features, target, seed)
    else:
        payload |= _regressor_payload(model, labelled, numeric, categorical, target, seed)
    return MonitoringFit(importance, payload, time.perf_counter() - start)


def permutation_weights(
    model: Any, frame: pd.DataFrame, features: list[str], target: str, task: Task, seed: int
) -> dict[str, float]:
    """Permutation importance of each raw feature column (the pipeline's own preprocessing runs on the permuted
    column): how much the loss grows when the column is shuffled, by log loss for a classifier with probabilities
    (else accuracy), by MAE for a regressor; the mean over IMPORTANCE_REPEATS seeded shuffles.

    What scikit-learn's permutation_importance computes, but with every shuffled copy scored in ONE prediction
    call: a pipeline's per-call cost (column checks, pandas) is most of it on a small holdout (diabetes: 1.5 s for
    50 calls of 107 rows, 0.05 s for one call of 5,350). tests/unit/test_estimate.py compares the two."""
    copies_per_row = 1 + len(features) * IMPORTANCE_REPEATS  # at most STACKED_ROWS rows in the one call
    rows = _sample(
        frame, max(100, min(IMPORTANCE_ROWS, STACKED_ROWS // copies_per_row)), seed, [*features, target]
    )
    x, y = rows[features].reset_index(drop=True), rows[target].to_numpy()
    n, rng = len(x), np.random.default_rng(seed)
    copies = [x]
    for col in features:
        for _ in range(IMPORTANCE_REPEATS):
            shuffled = x.copy()
            shuffled[col] = x[col].to_numpy()[rng.permutation(n)]
            copies.append(shuffled)
    stacked = pd.concat(copies, ignore_index=True)
    loss = _block_losses(model, stacked, y, task, n)
    base, permuted = loss[0], loss[1:].reshape(len(features), IMPORTANCE_REPEATS)
    return normalise_importance(dict(zip(features, (permuted.mean(axis=1) - base).tolist(), strict=True)))


def _block_losses(model: Any, stacked: pd.DataFrame, y: np.ndarray, task: Task, n: int) -> np.ndarray:
    """The loss of each block of n rows of `stacked` (each a copy of the same rows, labelled y)."""
    blocks = len(stacked) // n
    if task == "regression":
        pred = np.asarray(model.predict(stacked), dtype=float).reshape(blocks, n)
        return np.asarray(np.abs(pred - y.astype(float)).mean(axis=1))
    classes = list(model.classes_)
    if hasattr(model, "predict_proba"):
        index = {c: i for i, c in enumerate(classes)}
        known = np.array([v in index for v in y.tolist()])
        rows = np.array([index.get(v, 0) for v in y.tolist()])
        proba = np.asarray(model.predict_proba(stacked), dtype=float).reshape(blocks, n, len(classes))
        picked = np.clip(proba[:, np.arange(n), rows], 1e-15, 1.0)
        return np.asarray(-np.log(picked[:, known]).mean(axis=1))
    pred = np.asarray(model.predict(stacked)).reshape(blocks, n)
    return np.asarray((pred != y).mean(axis=1), dtype=float)


def fit_calibrator(proba: np.ndarray, y: Any, classes: list[Any]) -> dict[str, Any]:
    """A calibrator of the model's probabilities (see the module's docstring for the choice)."""
    y = np.asarray(y)
    if len(classes) == 2:
        truth = (y == classes[1]).astype(int)
        if truth.min() == truth.max():  # one class only: nothing to calibrate against
            return {"method": "identity"}
        if len(y) >= ISOTONIC_MIN_ROWS:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba[:, 1], truth)
            return {"method": "isotonic", "model": iso}
        from sklearn.linear_model import LogisticRegression

        q = np.clip(proba[:, 1], 1e-6, 1 - 1e-6)
        platt = LogisticRegression(C=1e4).fit(np.log(q / (1 - q)).reshape(-1, 1), truth)
        return {"method": "sigmoid", "model": platt}
    return {"method": "temperature", "temperature": _temperature(proba, y, classes)}


def _temperature(proba: np.ndarray, y: np.ndarray, classes: list[Any]) -> float:
    from scipy.optimize import minimize_scalar

    index = {c: i for i, c in enumerate(classes)}
    rows = np.array([index.get(v, -1) for v in y.tolist()])
    known = rows >= 0
    logp = np.log(np.clip(proba[known], 1e-15, 1.0))
    picked = rows[known]

    def loss(log_t: float) -> float:
        z = logp / math.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(lse - z[np.arange(len(z)), picked]))

    return float(math.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))


def _classifier_payload(
    model: Any, frame: pd.DataFrame, features: list[str], target: str, seed: int
) -> dict[str, Any]:
    classes = list(model.classes_)
    if not hasattr(model, "predict_proba"):
        return {"classes": classes, "calibrator": None, "reference_estimated": {}}
    rows = _sample(frame, CALIBRATION_ROWS, seed, [*features, target])
    x, y = rows[features], rows[target].to_numpy()
    proba = np.asarray(model.predict_proba(x), dtype=float)
    # predict() is this argmax for every allowlisted classifier with probabilities: one pass, not two
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    oof, folds = np.empty_like(proba), _folds(len(rows), seed)
    for fit_idx, out_idx in folds:
        oof[out_idx] = calibrate(fit_calibrator(proba[fit_idx], y[fit_idx], classes), proba[out_idx])
    estimated = (
        expected_classification_metrics(
            oof, classes, metrics_for("classification"), predicted=pred, scores=proba
        )
        if folds
        else {}
    )
    return {
        "classes": classes,
        "calibrator": fit_calibrator(proba, y, classes),
        "reference_estimated": estimated,
    }


def _regressor_payload(
    model: Any, frame: pd.DataFrame, numeric: list[str], categorical: list[str], target: str, seed: int
) -> dict[str, Any]:
    rows = _sample(frame, LOSS_ROWS, seed, [*numeric, *categorical, target])
    x, y = rows[[*numeric, *categorical]], rows[target].to_numpy(dtype=float)
    pred = np.asarray(model.predict(x), dtype=float)
    lf = loss_frame(x, pred, numeric, categorical)
    err = np.abs(y - pred)
    absolute, squared = np.zeros(len(rows)), np.zeros(len(rows))
    folds = _folds(len(rows), seed)
    for fit_idx, out_idx in folds:
        part = lf.iloc[out_idx]
        absolute[out_idx] = (
            _loss_model(numeric, categorical, seed).fit(lf.iloc[fit_idx], err[fit_idx]).predict(part)
        )
        squared[out_idx] = (
            _loss_model(numeric, categorical, seed).fit(lf.iloc[fit_idx], err[fit_idx] ** 2).predict(part)
        )
    estimated = {
        "mae": float(np.mean(np.clip(absolute, 0, None))),
        "rmse": float(math.sqrt(np.mean(np.clip(squared, 0, None)))),
    }
    loss_model = {
        "numeric": list(numeric), "categorical": list(categorical),
        "absolute": _loss_model(numeric, categorical, seed).fit(lf, err),
        "squared": _loss_model(numeric, categorical, seed).fit(lf, err**2),
    }  # fmt: skip
    return {"loss_model": loss_model, "reference_estimated": estimated if folds else {}}


def _loss_model(numeric: list[str], categorical: list[str], seed: int) -> Any:
    """Small on purpose: a few hundred to a few thousand rows, shallow trees, strong leaves."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    from tasks.estimate import PREDICTION_COLUMN

    parts: list[tuple[str, Any, list[str]]] = [("numeric", "passthrough", [*numeric, PREDICTION_COLUMN])]
    if categorical:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, max_categories=30)
        parts.append(("categorical", encoder, list(categorical)))
    booster = HistGradientBoostingRegressor(
        max_iter=30, learning_rate=0.15, max_depth=3, min_samples_leaf=20, l2_regularization=1.0,
        random_state=seed, early_stopping=False,
    )  # fmt: skip
    return Pipeline([("columns", ColumnTransformer(parts)), ("booster", booster)])


def _folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold

    folds = min(FOLDS, n) if n >= 2 else 0
    if folds < 2:
        return []
    return list(KFold(folds, shuffle=True, random_state=seed).split(np.arange(n)))


def _sample(frame: pd.DataFrame, rows: int, seed: int, columns: list[str]) -> pd.DataFrame:
    """At most `rows` rows, drawn by a seeded hash of each row's values in `columns` and ordered by it: the same
    rows and seed give the same sample in the same order (hence the same folds and sums), whatever order the
    holdout arrives in. A positional `frame.sample` drew other rows when the rows came in another order, and on the
    flights that alone moved the weather columns' share of the importance from 0.32 to 0.39. The draw is the one
    every sample takes (tasks/data/draw.py), with its own salt."""
    from tasks.data.draw import draw_sample

    # equal draws only for equal values in `columns`: such rows are interchangeable for everything done here
    return draw_sample(frame, rows, seed, "monitoring", columns, by_draw=True)
