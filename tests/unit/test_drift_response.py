"""Issue 25 item 4: what the monitor does about a verdict, as pure functions: the drift episode it records before
a retrain runs and after it answers (or fails), and the payload of the drift event."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops.drift_policy import (
    DriftVerdict,
    Episode,
    RetrainTrigger,
    after_attempt,
    after_failed_retrain,
    after_retrain,
    after_verdict,
    drift_event,
)

END = datetime(2023, 8, 1, tzinfo=UTC)
RETRAIN = RetrainTrigger(True, "drift: retraining on the window ... (attempt 1 of 3)", "retrain")
NO_RETRAIN = RetrainTrigger(False, "on_drift is alert", "alert")
OPEN = after_attempt(
    Episode(), datetime(2023, 7, 1, tzinfo=UTC), "1", "rejected (v2): no gain", new_attempt=True
)


def test_a_retrain_starts_an_attempt_said_as_where_it_runs() -> None:
    here = after_verdict(Episode(), RETRAIN, True, END, "1", in_process=True)
    assert (
        here.attempts == 1 and here.last_outcome == "started" and here.start == END and here.champion == "1"
    )
    there = after_verdict(OPEN, RETRAIN, True, END, "1", in_process=False)
    assert there.attempts == 2 and there.last_outcome == "requested by the mlops.drift.detected event"
    assert there.start == OPEN.start  # the same episode


def test_an_alert_leaves_the_episode_and_a_quiet_batch_ends_it() -> None:
    assert after_verdict(OPEN, NO_RETRAIN, True, END, "1", in_process=True) == OPEN
    quiet = after_verdict(OPEN, NO_RETRAIN, False, END, "1", in_process=True)
    assert not quiet.open and quiet.last_outcome == "ended: a batch without drift"


def test_a_promoting_retrain_ends_the_episode_and_starts_the_cooldown() -> None:
    started = after_verdict(OPEN, RETRAIN, True, END, "1", in_process=True)
    answered = after_retrain(started, END, "1", "3", "3", ["better"])
    assert not answered.open and answered.last_promotion == END and answered.last_outcome == "promoted v3"


def test_a_rejecting_retrain_is_the_same_attempt_with_its_reasons() -> None:
    started = after_verdict(OPEN, RETRAIN, True, END, "1", in_process=True)
    rejected = after_retrain(started, END, "1", "1", "3", ["no gain", "guardrail recall"])
    assert rejected.attempts == started.attempts == 2 and rejected.last_promotion is None
    assert rejected.last_outcome == "rejected (v3): no gain; guardrail recall"


def test_a_failed_retrain_is_the_same_attempt_and_says_why_briefly() -> None:
    started = after_verdict(Episode(), RETRAIN, True, END, "1", in_process=True)
    failed = after_failed_retrain(started, END, "1", ValueError("x" * 1000))
    assert failed.attempts == 1 and failed.open and failed.last_promotion is None
    assert failed.last_outcome.startswith("failed: xxx") and len(failed.last_outcome) == 500


def test_the_drift_event_names_the_window_only_when_it_retrains() -> None:
    verdict = DriftVerdict(
        drifted=True, quality_dropped=False, action="retrain", reasons=("share 0.5 >= 0.3",)
    )
    args = dict(
        drifted_share=0.5, champion="1", batch_end=END, unjudgeable={"a": "all null in the batch"},
        window=("2023-07-02T00:00:00+00:00", END.isoformat()), run_url="http://mlflow/run",
    )  # fmt: skip
    event = drift_event(verdict, RETRAIN, **args)  # type: ignore[arg-type]
    assert event == {
        "drifted_share": 0.5,
        "action": "retrain",
        "state": "drift",
        "reasons": ["share 0.5 >= 0.3"],
        "champion_version": "1",
        "batch_end": "2023-08-01T00:00:00+00:00",
        "retrain": True,
        "retrain_reason": RETRAIN.reason,
        "unjudgeable": {"a": "all null in the batch"},
        "window_start": "2023-07-02T00:00:00+00:00",
        "window_end": "2023-08-01T00:00:00+00:00",
        "mlflow_run_url": "http://mlflow/run",
    }
    alert = drift_event(verdict, NO_RETRAIN, **args)  # type: ignore[arg-type]
    assert alert["retrain"] is False and alert["window_start"] is None and alert["window_end"] is None
