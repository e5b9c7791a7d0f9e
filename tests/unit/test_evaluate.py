from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlops.spec import Promotion
from tasks.evaluate import _auc_fn, paired_bootstrap, weighted_metric
from tasks.train import Predictions


def test_weighted_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500).astype(bool)
    scores = np.round(rng.random(500) + y * 0.3, 1)  # many ties
    w = rng.integers(0, 3, 500).astype(float)
    assert _auc_fn(y, scores)(w) == pytest.approx(roc_auc_score(y, scores, sample_weight=w))


@pytest.mark.parametrize("metric", ["accuracy", "f1", "recall", "precision", "balanced_accuracy", "log_loss"])
def test_weighted_classification_metrics_with_unit_weights_equal_the_plain_metric(metric: str) -> None:
    from sklearn import metrics as m

    rng = np.random.default_rng(1)
    y = rng.choice(["a", "b"], 300)
    proba = np.clip(rng.random(300) * 0.6 + (y == "b") * 0.3, 0.01, 0.99)
    pred = np.where(proba > 0.5, "b", "a")
    p = Predictions(y, pred, proba, "b")
    plain = {
        "accuracy": lambda: m.accuracy_score(y, pred),
        "f1": lambda: m.f1_score(y, pred, pos_label="b"),
        "recall": lambda: m.recall_score(y, pred, pos_label="b"),
        "precision": lambda: m.precision_score(y, pred, pos_label="b"),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y, pred),
        "log_loss": lambda: m.log_loss(y == "b", proba),
    }[metric]()
    assert weighted_metric(metric, p)(np.ones(300)) == pytest.approx(plain)


def _preds(n: int, quality: float, seed: int) -> tuple[np.ndarray, Predictions]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    proba = np.clip(rng.random(n) * (1 - quality) + y * quality, 0, 1)
    return y, Predictions(y, (proba > 0.5).astype(int), proba, 1)


def test_identical_models_have_a_zero_interval() -> None:
    _, p = _preds(400, 0.3, 0)
    iv = paired_bootstrap("roc_auc", p, p, 200, 0.95, 0, Promotion(metric="roc_auc"))
    assert iv.low == iv.high == iv.point == 0


def test_a_clearly_better_model_has_an_interval_above_zero_and_it_is_seeded() -> None:
    y, strong = _preds(2000, 0.5, 1)
    rng = np.random.default_rng(9)
    weak_proba = np.clip(strong.proba + rng.normal(0, 0.4, len(y)), 0, 1)
    weak = Predictions(y, (weak_proba > 0.5).astype(int), weak_proba, 1)
    policy = Promotion(metric="roc_auc")
    a = paired_bootstrap("roc_auc", strong, weak, 300, 0.95, 7, policy)
    b = paired_bootstrap("roc_auc", strong, weak, 300, 0.95, 7, policy)
    assert a == b and a.low > 0 and a.low < a.point < a.high


def test_lower_is_better_metrics_are_sign_adjusted() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    good = Predictions(y, y + rng.normal(0, 0.1, 500))
    bad = Predictions(y, y + rng.normal(0, 1.0, 500))
    iv = paired_bootstrap("rmse", good, bad, 200, 0.9, 0, Promotion(metric="rmse"))
    assert iv.low > 0  # positive = the challenger (good) is better
