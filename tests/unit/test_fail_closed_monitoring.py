"""Issue #12, items 9 and 11, as pure functions: a feature the monitor cannot judge counts as drifted and is named;
a drift episode ends with a model that answers it (the cooldown starts at a promotion, never at a rejected or
failed retrain), with a bounded number of attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops.drift_policy import (
    ColumnFacts,
    Episode,
    after_attempt,
    after_quiet,
    counted_share,
    reconcile,
    retrain_trigger,
    unjudgeable,
    unjudgeable_stop_message,
)

JULY = datetime(2023, 8, 1, tzinfo=UTC)


# --- item 9: unjudgeable columns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        (ColumnFacts("a", missing=True), "missing from the batch"),
        (ColumnFacts("a", all_null=True, reference_kind="numeric"), "all null in the batch"),
        (ColumnFacts("a", reference_all_null=True, kind="numeric"), "no values in the reference"),
        (ColumnFacts("a", kind="numeric", reference_kind="text"), "changed from text to numeric"),
        (
            ColumnFacts("a", constant=True, kind="numeric", reference_kind="numeric"),
            "a single value in the batch",
        ),
    ],
    ids=["missing", "all-null", "reference-empty", "retyped", "constant"],
)
def test_each_kind_of_unjudgeable_column_is_named_with_why(facts: ColumnFacts, why: str) -> None:
    found = unjudgeable([facts, ColumnFacts("fine", kind="numeric", reference_kind="numeric")])
    assert list(found) == ["a"] and why in found["a"]


def test_a_column_constant_on_both_sides_can_be_judged() -> None:
    facts = ColumnFacts("a", constant=True, reference_constant=True, kind="text", reference_kind="text")
    assert unjudgeable([facts]) == {}


def test_unjudgeable_columns_count_as_drifted() -> None:
    # 0 of 9 judged columns drifted, 1 could not be judged: never "0 of 10 drifted"
    assert counted_share(0, 9, 1) == pytest.approx(0.1)
    assert counted_share(2, 2, 2) == 1.0
    assert counted_share(0, 0, 3) == 1.0
    with pytest.raises(ValueError):
        counted_share(3, 2, 0)


def test_the_stop_message_names_the_columns_and_the_way_out() -> None:
    text = unjudgeable_stop_message({"x": "all null in the batch", "y": "missing from the batch"})
    assert "x (all null in the batch), y (missing from the batch)" in text
    assert "on_unjudgeable: alert" in text and "\n" not in text


# --- item 11: drift episodes ----------------------------------------------------------------------------------


def test_a_rejected_drift_retrain_starts_no_cooldown() -> None:
    first = retrain_trigger("retrain", JULY, Episode(), cooldown_days=45, max_retries=3, window="W")
    assert first.retrain and "attempt 1 of 3" in first.reason and "W" in first.reason
    episode = after_attempt(Episode(), JULY, "1", "started")
    episode = after_attempt(episode, JULY, "1", "rejected: roc_auc no better", new_attempt=False)
    assert episode.attempts == 1 and episode.last_promotion is None
    again = retrain_trigger("retrain", JULY + timedelta(days=15), episode, cooldown_days=45, max_retries=3)
    assert again.retrain, again.reason
    assert "drift persists" in again.reason and "rejected: roc_auc no better" in again.reason
    assert "attempt 2 of 3" in again.reason


def test_a_promoted_drift_retrain_starts_the_cooldown() -> None:
    episode = after_attempt(Episode(), JULY, "1", "started")
    episode = after_attempt(episode, JULY, "2", "promoted v2", promoted=True)
    assert not episode.open and episode.last_promotion == JULY
    within = retrain_trigger("retrain", JULY + timedelta(days=15), episode, cooldown_days=45, max_retries=3)
    assert not within.retrain and "cooldown 45" in within.reason
    after = retrain_trigger("retrain", JULY + timedelta(days=60), episode, cooldown_days=45, max_retries=3)
    assert after.retrain and "attempt 1 of 3" in after.reason


def test_retries_per_episode_are_bounded_and_the_reason_says_so() -> None:
    episode = Episode()
    for i in range(2):
        when = JULY + timedelta(days=30 * i)
        episode = after_attempt(episode, when, "1", "started")
        episode = after_attempt(episode, when, "1", "rejected: guardrail recall", new_attempt=False)
    stopped = retrain_trigger("retrain", JULY + timedelta(days=70), episode, cooldown_days=0, max_retries=2)
    assert not stopped.retrain
    assert "drift persists" in stopped.reason and "max_retries_per_episode is 2" in stopped.reason
    assert "rejected: guardrail recall" in stopped.reason


def test_a_failed_attempt_counts_like_a_rejected_one() -> None:
    episode = after_attempt(Episode(), JULY, "1", "started")
    episode = after_attempt(episode, JULY, "1", "failed: DataError: no rows", new_attempt=False)
    assert episode.attempts == 1 and episode.last_promotion is None
    assert retrain_trigger("retrain", JULY, episode, 45, 1).retrain is False


def test_a_champion_change_answers_the_episode() -> None:
    """A deployment's retrain (started by the drift event) promoted: the next monitor sees a new champion."""
    episode = after_attempt(Episode(), JULY, "1", "requested by the drift event")
    answered = reconcile(episode, "2")
    assert not answered.open and answered.last_promotion == JULY
    assert reconcile(episode, "1") == episode


def test_a_batch_without_drift_ends_the_episode() -> None:
    episode = after_attempt(Episode(), JULY, "1", "rejected", new_attempt=True)
    quiet = after_quiet(episode)
    assert not quiet.open and quiet.last_promotion is None


def test_alert_and_none_never_retrain() -> None:
    assert not retrain_trigger("alert", JULY, Episode(), 45, 3).retrain
    assert not retrain_trigger("none", JULY, Episode(), 45, 3).retrain


def test_episode_round_trips_through_tags_and_survives_bad_values() -> None:
    episode = after_attempt(Episode(last_promotion=JULY), JULY + timedelta(days=60), "3", "rejected: x")
    assert Episode.from_tags(episode.to_tags()) == episode
    assert (
        Episode.from_tags({"drift_episode.attempts": "many", "last_drift_promotion": "yesterday"})
        == Episode()
    )


# --- the library-free profile and the reference sample ---------------------------------------------------------


def test_the_profile_finds_all_null_constant_and_retyped_columns() -> None:
    import pandas as pd

    from tasks.drift_summary import column_facts

    reference = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3], "c": ["x", "y", "z"], "d": [1, 2, 3]})
    batch = pd.DataFrame({"a": [None, None, None], "b": [5, 5, 5], "c": [1, 2, 3], "d": [3, 2, 1]})
    found = unjudgeable(column_facts(reference, batch, ["a", "b", "c", "d", "e"]))
    assert found == {
        "a": "all null in the batch",
        "b": "a single value in the batch, several in the reference",
        "c": "its values changed from text to numeric",
        "e": "missing from the batch",
    }


def test_the_reference_sample_is_drawn_from_the_holdout_not_the_training_rows() -> None:
    import pandas as pd

    from tasks.data import Features, SplitData, reference_sample

    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    holdout = pd.DataFrame({"x": [10.0, 20.0], "y": [1, 0]})
    parts = SplitData(train, holdout, Features(["x"], []), "sha", "test split")
    sample = reference_sample(parts, "y", None, max_rows=100, seed=0)
    assert sample["x"].tolist() == [10.0, 20.0]
