"""Issue 23: a replay marks the periods the serving model trained on, so in-sample figures are not read as health."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from mlops.drift_policy import periods
from mlops.in_sample import in_sample_notes, inside, training_window
from mlops.timeutil import parse_time


def _months(start: str, end: str) -> list[tuple[datetime, datetime]]:
    begin, finish = parse_time(start), parse_time(end)
    assert begin is not None and finish is not None
    return periods(begin, finish, "month")


def test_the_periods_the_model_trained_on_are_inside_its_window() -> None:
    window = training_window("1", "2013-01-01T05:00:00", "2013-06-30T23:00:00")
    marked = [inside(p0, p1, window) for p0, p1 in _months("2013-01", "2013-10")]
    assert marked == [True] * 6 + [False] * 3
    # a period the window only touches holds rows the model saw: marked too
    partly = training_window("1", "2013-01-01", "2013-03-15")
    assert [inside(p0, p1, partly) for p0, p1 in _months("2013-03", "2013-05")] == [True, False]


def test_an_unknown_window_marks_nothing() -> None:
    assert training_window("1", "", "") is None and training_window("1", "x", "2013") is None
    assert not inside(datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 2, 1, tzinfo=UTC), None)


def test_the_notes_name_each_stretch_and_its_model() -> None:
    rows = [("2013-01-01", "1"), ("2013-02-01", "1"), ("2013-03-01", None), ("2013-04-01", "2"),
            ("2013-05-01", "3"), ("2013-06-01", "3")]  # fmt: skip
    assert in_sample_notes(rows) == [
        "periods 2013-01-01..2013-02-01 are inside the training window of v1: in-sample, not evidence of health",
        "period 2013-04-01 is inside the training window of v2: in-sample, not evidence of health",
        "periods 2013-05-01..2013-06-01 are inside the training window of v3: in-sample, not evidence of health",
    ]
    assert in_sample_notes([("2013-01-01", None)]) == []


def test_the_training_span_is_recorded_from_the_training_rows() -> None:
    from tasks.data.splits import trained_span

    train = pd.DataFrame(
        {"t": pd.to_datetime(["2013-03-01 06:00", "2013-01-01 00:00", None]), "x": [1, 2, 3]}
    )
    assert trained_span(train, "t") == {
        "trained_from": "2013-01-01T00:00:00",
        "trained_to": "2013-03-01T06:00:00",
    }
    aware = pd.DataFrame({"t": pd.to_datetime(["2013-01-01T01:00+01:00"])})
    assert trained_span(aware, "t") == {
        "trained_from": "2013-01-01T00:00:00",
        "trained_to": "2013-01-01T00:00:00",
    }
    years = pd.DataFrame({"t": [2011, 2012]})
    assert trained_span(years, "t")["trained_to"].startswith("2012-01-01")
    assert trained_span(train, None) == {} and trained_span(train, "missing") == {}
