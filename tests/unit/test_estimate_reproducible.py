"""The importance weights and the quality estimator are a function of the holdout's rows and the seed, not of the
order the rows arrive in (issue 14: two replays of the same flights gave a weighted drift share of 0.29 and 0.32 for
July). Every sample they draw is chosen by the rows' content, so the same data and seed give the same figures
exactly, in any order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge

from tasks.estimate_fit import fit_monitoring


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    logit = 1.5 * x1 + 0.5 * x2 + 0.1 * x3
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "y": y, "v": logit + rng.normal(size=n) * (1 + x3**2)})


def _shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows in another order, under another index (as another reader or source file order gives them)."""
    return frame.sample(frac=1.0, random_state=11).reset_index(drop=True)


def test_classifier_importances_and_estimator_do_not_depend_on_row_order() -> None:
    # more rows than the importance and calibration samples take, so which rows are drawn matters
    holdout = _frame(12_000, 1)
    model = LogisticRegression().fit(holdout[["x1", "x2", "x3"]], holdout["y"])
    fits = [
        fit_monitoring(model, frame, ["x1", "x2", "x3"], [], "y", "classification", seed=7)
        for frame in (holdout, holdout, _shuffled(holdout))
    ]
    assert fits[0].importance == fits[1].importance == fits[2].importance  # exactly, not approximately
    estimated = [f.estimator["reference_estimated"] for f in fits]
    assert estimated[0] == estimated[1] == estimated[2]
    # and the seed still matters: another seed draws other rows
    other = fit_monitoring(model, holdout, ["x1", "x2", "x3"], [], "y", "classification", seed=8)
    assert other.importance != fits[0].importance


def test_regressor_importances_and_loss_model_do_not_depend_on_row_order() -> None:
    holdout = _frame(6_000, 2)
    model = Ridge().fit(holdout[["x1", "x2", "x3"]], holdout["v"])
    a = fit_monitoring(model, holdout, ["x1", "x2", "x3"], [], "v", "regression", seed=5)
    b = fit_monitoring(model, _shuffled(holdout), ["x1", "x2", "x3"], [], "v", "regression", seed=5)
    assert a.importance == b.importance
    assert a.estimator["reference_estimated"] == b.estimator["reference_estimated"]
    batch = _frame(500, 3)[["x1", "x2", "x3"]]
    from tasks.estimate import PREDICTION_COLUMN, loss_frame

    lf = loss_frame(batch, model.predict(batch), ["x1", "x2", "x3"], [])
    assert PREDICTION_COLUMN in lf.columns
    for kind in ("absolute", "squared"):
        np.testing.assert_array_equal(
            a.estimator["loss_model"][kind].predict(lf), b.estimator["loss_model"][kind].predict(lf)
        )
