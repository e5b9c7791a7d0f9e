"""The quality estimators (tasks/estimate.py, tasks/estimate_fit.py) on cases whose answer is known: hand-computed
confusion matrices, a perfectly calibrated model on a shifted population, a regressor whose error grows with one
feature."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, RegressorMixin

from tasks.estimate import (
    QualitySignals,
    calibrate,
    estimate_roc_auc,
    expected_classification_metrics,
    expected_regression_loss,
    normalise_importance,
    weighted_drift_share,
)
from tasks.estimate_fit import fit_calibrator, fit_monitoring

BINARY = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "balanced_accuracy",
    "roc_auc",
    "average_precision",
    "log_loss",
]


def test_four_rows_by_hand() -> None:
    # P(positive) 0.9, 0.6 predicted positive; 0.3, 0.2 predicted negative
    p = np.array([0.9, 0.6, 0.3, 0.2])
    got = expected_classification_metrics(p, ["no", "yes"], BINARY, predicted=["yes", "yes", "no", "no"])
    tp, fp, fn, tn = 0.9 + 0.6, 0.1 + 0.4, 0.3 + 0.2, 0.7 + 0.8
    assert got["accuracy"] == pytest.approx((tp + tn) / 4)  # 0.75
    assert got["precision"] == pytest.approx(tp / (tp + fp))  # 0.75
    assert got["recall"] == pytest.approx(tp / (tp + fn))  # 0.75
    assert got["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert got["balanced_accuracy"] == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)
    # AUC by hand (NannyML's curve): expected positives P = 2.0, negatives N = 2.0; walking down the ranking
    # 0.9 > 0.6 > 0.3 > 0.2, row i steps the FPR by (1 - p_i)/N at the mean height of the TPR before and after it:
    # (0.1 * 0.45 + 0.4 * (0.9 + 0.3) + 0.7 * (1.5 + 0.15) + 0.8 * (1.8 + 0.1)) / (2 * 2) = 3.2 / 4
    assert got["roc_auc"] == pytest.approx(0.8)
    assert got["log_loss"] == pytest.approx(-np.mean(p * np.log(p) + (1 - p) * np.log(1 - p)))


def test_the_model_decision_not_the_calibrated_argmax_defines_predicted_positives() -> None:
    # the model predicts positive on both rows (its threshold), though calibrated P(positive) is 0.4 on one
    got = expected_classification_metrics(
        np.array([0.8, 0.4]), [0, 1], ["precision", "accuracy"], predicted=[1, 1]
    )
    assert got["precision"] == pytest.approx((0.8 + 0.4) / 2)
    assert got["accuracy"] == pytest.approx((0.8 + 0.4) / 2)


def test_multiclass_is_the_macro_average_of_one_vs_rest() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
    got = expected_classification_metrics(p, ["a", "b", "c"], ["accuracy", "precision", "recall", "roc_auc"])
    assert got["accuracy"] == pytest.approx((0.7 + 0.8 + 0.6 + 0.5) / 4)
    # class a predicted on rows 0 and 3: expected TP 1.2, FP 0.8; truly a everywhere: 0.7+0.1+0.2+0.5 = 1.5
    prec_a, rec_a = 1.2 / 2, 1.2 / 1.5
    prec_b, rec_b = 0.8 / 1, 0.8 / (0.2 + 0.8 + 0.2 + 0.3)
    prec_c, rec_c = 0.6 / 1, 0.6 / (0.1 + 0.1 + 0.6 + 0.2)
    assert got["precision"] == pytest.approx((prec_a + prec_b + prec_c) / 3)
    assert got["recall"] == pytest.approx((rec_a + rec_b + rec_c) / 3)
    assert 0.5 < got["roc_auc"] <= 1.0


def _draw(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.normal(shift, 1.0, n)
    p = 1 / (1 + np.exp(-(2 * x - 1)))  # the truth: P(y=1 | x)
    return x, p, (rng.random(n) < p).astype(int)


def test_a_perfectly_calibrated_model_on_a_shifted_population() -> None:
    rng = np.random.default_rng(0)
    names = ["accuracy", "precision", "recall", "f1", "roc_auc", "average_precision"]
    for shift in (0.0, 1.5, -1.0):  # the population moves: realised quality moves, the estimate follows it
        _, p, y = _draw(rng, 20_000, shift)
        pred = (p >= 0.5).astype(int)
        est = expected_classification_metrics(p, [0, 1], names, predicted=pred)
        real = {
            "accuracy": skm.accuracy_score(y, pred), "precision": skm.precision_score(y, pred, zero_division=0),
            "recall": skm.recall_score(y, pred), "f1": skm.f1_score(y, pred),
            "roc_auc": skm.roc_auc_score(y, p), "average_precision": skm.average_precision_score(y, p),
        }  # fmt: skip
        # within 4 sampling errors of a proportion over the rows the metric counts (all, predicted positive,
        # truly positive; the smaller of the two for the others)
        base = {"accuracy": len(y), "precision": pred.sum(), "recall": y.sum()}
        for m in names:
            rows = base.get(m, min(pred.sum(), y.sum()))
            tol = 4 * math.sqrt(real[m] * (1 - real[m]) / rows)
            assert abs(est[m] - real[m]) < max(tol, 0.005), (shift, m, est[m], real[m], tol)


def test_calibration_learnt_on_the_holdout_corrects_an_overconfident_model() -> None:
    rng = np.random.default_rng(1)
    _, p, y = _draw(rng, 5_000, 0.0)
    raw = np.clip(p + 0.25 * (p - 0.5), 0, 1)  # over-confident: further from 0.5 than the truth
    cal = fit_calibrator(np.column_stack([1 - raw, raw]), y, [0, 1])
    assert cal["method"] == "isotonic"
    _, p2, y2 = _draw(rng, 20_000, 1.0)  # a shifted batch
    raw2 = np.clip(p2 + 0.25 * (p2 - 0.5), 0, 1)
    pred = (raw2 >= 0.5).astype(int)
    est = expected_classification_metrics(calibrate(cal, np.column_stack([1 - raw2, raw2])), [0, 1], ["accuracy"],
                                          predicted=pred, scores=raw2)  # fmt: skip
    naive = expected_classification_metrics(raw2, [0, 1], ["accuracy"], predicted=pred)
    realised = skm.accuracy_score(y2, pred)
    assert abs(est["accuracy"] - realised) < 0.015
    assert abs(naive["accuracy"] - realised) > 2 * abs(est["accuracy"] - realised)  # calibration mattered


def test_multiclass_temperature_keeps_the_predicted_class() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2_000, 3)) * 3
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array(
        [rng.choice(3, p=row) for row in np.exp(logits / 3) / np.exp(logits / 3).sum(1, keepdims=True)]
    )
    cal = fit_calibrator(proba, y, [0, 1, 2])
    assert cal["method"] == "temperature" and cal["temperature"] > 1.5  # the model was too sharp: T near 3
    assert (calibrate(cal, proba).argmax(axis=1) == proba.argmax(axis=1)).all()


def test_roc_auc_ties_are_one_threshold() -> None:
    # two rows with the same score: a tie counts half, as scikit-learn's roc_auc_score does on labels
    assert estimate_roc_auc(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert estimate_roc_auc(np.array([1.0, 0.0]), np.array([0.9, 0.1])) == pytest.approx(1.0)


class _Model(RegressorMixin, BaseEstimator):
    """A regressor that knows the mean exactly: its error is the noise, which grows with x2."""

    def fit(self, x: pd.DataFrame, y: pd.Series) -> _Model:
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(2 * x["x1"], dtype=float)


def _regression(rng: np.random.Generator, n: int, lo: float, hi: float) -> pd.DataFrame:
    x1, x2 = rng.normal(size=n), rng.uniform(lo, hi, n)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": 2 * x1 + rng.normal(size=n) * (0.2 + x2)})


def test_a_regressor_whose_error_grows_with_one_feature() -> None:
    rng = np.random.default_rng(3)
    holdout = _regression(rng, 4_000, 0.0, 3.0)
    fit = fit_monitoring(_Model(), holdout, ["x1", "x2"], [], "y", "regression", seed=7)
    loss = fit.estimator["loss_model"]
    ref = abs(holdout["y"] - _Model().predict(holdout)).mean()
    assert fit.estimator["reference_estimated"]["mae"] == pytest.approx(ref, rel=0.05)  # cross-fitted
    assert fit.importance["x1"] > 0.9  # the model uses x1 only: permuting x2 changes nothing
    est, real = [], []
    for lo, hi in ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0)):  # shift x2 up: the error grows
        batch = _regression(rng, 5_000, lo, hi)
        pred = _Model().predict(batch)
        est.append(expected_regression_loss(loss, batch[["x1", "x2"]], pred)["mae"])
        real.append(float(np.mean(np.abs(batch["y"] - pred))))
    assert est[0] < est[1] < est[2] and real[0] < real[1] < real[2]
    for e, r in zip(est, real, strict=True):
        assert e == pytest.approx(r, rel=0.1)


def test_classifier_fit_on_a_holdout_then_estimate_on_a_shifted_batch() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    x, _, y = _draw(rng, 6_000, 0.0)
    noise = rng.normal(size=6_000)
    frame = pd.DataFrame({"x": x, "noise": noise, "y": y})
    model = LogisticRegression().fit(frame[["x", "noise"]], frame["y"])
    fit = fit_monitoring(model, frame, ["x", "noise"], [], "y", "classification", seed=7)
    assert fit.importance["x"] > 0.9 and math.isclose(sum(fit.importance.values()), 1.0)
    assert fit.estimator["calibrator"]["method"] == "isotonic"
    bx, _, by = _draw(rng, 20_000, 1.5)
    batch = pd.DataFrame({"x": bx, "noise": rng.normal(size=20_000)})
    from tasks.estimate import quality_signals
    from tasks.tracking.monitoring import Monitoring

    signals = quality_signals(Monitoring(fit.importance, fit.estimator), model, batch, ["x", "noise"], 0.5,
                              ["x"], None, {"roc_auc": 0.8})  # fmt: skip
    realised = skm.roc_auc_score(by, model.predict_proba(batch[["x", "noise"]])[:, 1])
    assert abs(signals.estimated["roc_auc"] - realised) < 0.02
    assert signals.weighted_drift_share == pytest.approx(fit.importance["x"])
    assert signals.metrics()["estimated_roc_auc"] == signals.estimated["roc_auc"]


def test_importance_weights_and_weighted_share() -> None:
    assert normalise_importance({"a": 3.0, "b": 1.0, "c": -0.5}) == {"a": 0.75, "b": 0.25, "c": 0.0}
    assert normalise_importance({"a": 0.0, "b": -1.0}) == {"a": 0.5, "b": 0.5}
    assert weighted_drift_share(["a", "c", "a"], {"a": 0.75, "b": 0.25, "c": 0.0}) == pytest.approx(0.75)


def test_signals_without_an_estimator_carry_the_note() -> None:
    from tasks.estimate import quality_signals
    from tasks.tracking.monitoring import Monitoring

    s = quality_signals(Monitoring(note="estimated quality: not available"), None, None, [], 0.4, ["a"],
                        {"roc_auc": 0.7, "f1": math.nan}, {"roc_auc": 0.8})  # fmt: skip
    assert s.estimated == {} and s.weighted_drift_share is None and s.realised == {"roc_auc": 0.7}
    assert s.metrics() == {"drift_share": 0.4}
    assert "not available" in "\n".join(s.lines("roc_auc"))
    shown = QualitySignals(0.5, 0.1, {"roc_auc": 0.7}, {"roc_auc": 0.72}, {"roc_auc": 0.8}).lines("roc_auc")
    assert (
        shown[1]
        == "Estimated quality (without labels): roc_auc 0.7000 (realised 0.7200); champion's holdout roc_auc 0.8000"
    )


def test_batched_permutation_importance_agrees_with_scikit_learns() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance

    from tasks.estimate_fit import permutation_weights

    rng = np.random.default_rng(5)
    n = 1_000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    frame["y"] = ((2 * frame["a"] + frame["b"] + rng.normal(size=n)) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(frame[["a", "b", "c"]], frame["y"])
    ours = permutation_weights(model, frame, ["a", "b", "c"], "y", "classification", seed=3)
    theirs = permutation_importance(
        model, frame[["a", "b", "c"]], frame["y"], scoring="neg_log_loss", n_repeats=5, random_state=3
    ).importances_mean
    expected = normalise_importance(dict(zip("abc", theirs.tolist(), strict=True)))
    assert ours["a"] > ours["b"] > ours["c"]
    for c in "abc":
        assert ours[c] == pytest.approx(expected[c], abs=0.05)
