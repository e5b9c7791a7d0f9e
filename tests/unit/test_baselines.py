"""Issue 23: which model serves which period under each strategy of the replay's comparison, and the means."""

from __future__ import annotations

import math

import pytest

from mlops.baselines import (
    EVERY,
    NEVER,
    POLICY,
    outcome,
    policy_outcome,
    policy_promotions,
    reading,
    serving,
    summarise,
)


def test_a_model_promoted_at_the_end_of_a_period_serves_from_the_next() -> None:
    assert serving("v1", [None, None, None]) == ["v1", "v1", "v1"]  # never retrain
    assert serving("v1", ["c1", None, "c3", "c4"]) == ["v1", "c1", "c1", "c3"]
    assert serving("v1", []) == []


def test_the_policy_serving_follows_the_champion_after_each_period() -> None:
    # the replay's champion after each period: v2 promoted at the end of the 1st, unchanged, then v5
    after = ["2", "2", "5", "5"]
    assert policy_promotions("1", after) == ["2", None, "5", None]
    assert serving("1", policy_promotions("1", after)) == ["1", "2", "2", "5"]
    # a champion never read (None) changes nothing
    assert policy_promotions("1", [None, "1", "3"]) == [None, None, "3"]
    o = policy_outcome("1", ["p1", "p2", "p3"], [10, 10, 10], [0.7, 0.6, 0.8], ["1", "3", "3"], 2, 1)
    assert [s.model for s in o.served] == ["v1", "v1", "v3"]
    assert (o.strategy, o.retrains, o.promotions) == (POLICY, 2, 1)


def test_the_mean_is_weighted_by_rows_over_the_judged_periods_only() -> None:
    o = outcome(EVERY, ["a", "b", "c", "d"], ["v1", "v1", "c2", "c2"], [100, 300, 50, 0],
                [0.6, 0.8, None, 0.1], 3, 1)  # fmt: skip
    # c has no figure (gate stopped, no labels), d has no rows: neither counts
    assert o.mean == pytest.approx((100 * 0.6 + 300 * 0.8) / 400)
    assert o.plain_mean == pytest.approx(0.7)
    s = summarise(o)
    assert (s.periods, s.rows, s.retrains, s.promotions, s.models) == (2, 400, 3, 1, "v1 -> c2")
    nan = outcome(NEVER, ["a"], ["v1"], [10], [math.nan], 0, 0)
    assert nan.mean is None and nan.plain_mean is None and summarise(nan).periods == 0


def test_one_model_and_figure_per_period() -> None:
    with pytest.raises(ValueError):
        outcome(NEVER, ["a", "b"], ["v1"], [1, 2], [0.5, 0.5], 0, 0)


def test_the_reading_says_which_won_in_the_metric_and_in_retrains() -> None:
    never = outcome(NEVER, ["a", "b"], ["v1", "v1"], [1, 1], [0.60, 0.70], 0, 0)
    every = outcome(EVERY, ["a", "b"], ["v1", "c1"], [1, 1], [0.60, 0.80], 1, 1)
    policy = outcome(POLICY, ["a", "b"], ["v1", "v1"], [1, 1], [0.60, 0.70], 0, 0)
    lines = reading([never, every, policy], "roc_auc", higher_is_better=True)
    assert lines == [
        "the spec's policy served the same as never retrain (0.6500 against 0.6500), with 0 retrains against 0",
        "the spec's policy served 0.0500 roc_auc worse than retrain every period (0.6500 against 0.7000), "
        "with 0 retrains against 1",
    ]
    # lower is better: a smaller rmse is better
    never = outcome(NEVER, ["a"], ["v1"], [1], [3.0], 0, 0)
    policy = outcome(POLICY, ["a"], ["v1"], [1], [2.5], 1, 1)
    assert reading([never, policy], "rmse", higher_is_better=False) == [
        "the spec's policy served 0.5000 rmse better than never retrain (2.5000 against 3.0000), "
        "with 1 retrain against 0"
    ]
    assert reading([never], "rmse", higher_is_better=False) == []
