"""The drift sample (and the predict run's copy of it) is drawn by a seeded hash of each row's values, not by the
row's position: the same batch delivered in another row order gives the same sampled rows and the same drift
figures, and a predict run streaming the batch in chunks keeps exactly the rows the monitor draws from the whole
batch. Real Evidently, a real scikit-learn model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tasks.data import Features, reference_sample
from tasks.data.draw import SmallestDraws, draw_sample
from tasks.drift import drift_report, sample
from tasks.predict import PREDICTION, ModelRef, score_batch

pytestmark = pytest.mark.integration

NUMERIC, CATEGORICAL = ["x", "n"], ["c"]


def batch(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "x": rng.normal(10 + shift, 3, rows), "n": rng.integers(0, 100, rows),
        "c": rng.choice(["a", "b", "c"], rows), "y": rng.integers(0, 2, rows),
    })  # fmt: skip
    # duplicate rows: equal values draw alike, so which copy is taken is decided by position only
    out.iloc[1::9] = out.iloc[0 : len(out.iloc[1::9])].to_numpy()
    return out


def shuffled(frame: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def rows_of(frame: pd.DataFrame, columns: list[str] | None = None) -> list[tuple[object, ...]]:
    """The rows' values as a sorted list (a multiset): comparable whatever order or index the rows have."""
    part = frame if columns is None else frame[columns]
    return sorted(map(tuple, part.astype(str).to_numpy().tolist()))


def test_the_same_rows_in_another_order_give_the_same_sample_and_the_same_drift() -> None:
    reference, current = batch(3000, 1), batch(3000, 2, shift=0.15)  # a slight shift: borderline figures
    a = sample(current, 500, seed=4)
    b = sample(shuffled(current), 500, seed=4)
    assert len(a) == len(b) == 500
    assert rows_of(a) == rows_of(b)
    assert a.index.is_monotonic_increasing  # the rows keep their original order
    assert rows_of(sample(current, 500, seed=5)) != rows_of(a)  # the seed still decides

    kwargs = {"numeric": NUMERIC, "categorical": CATEGORICAL, "max_rows": 500, "seed": 4}
    one = drift_report(reference, current, **kwargs)  # type: ignore[arg-type]
    two = drift_report(shuffled(reference, 3), shuffled(current, 7), **kwargs)  # type: ignore[arg-type]
    verdicts = [[(c.column, c.method, c.drifted) for c in s.columns] for s in (one, two)]
    assert verdicts[0] == verdicts[1]
    # the same counts, summed in another category order (set order follows PYTHONHASHSEED): the last bit may differ
    assert [c.score for c in two.columns] == pytest.approx([c.score for c in one.columns], rel=1e-12)
    assert one.drifted_share == two.drifted_share and one.sampled and two.sampled


def test_the_reference_sample_does_not_depend_on_the_holdouts_order() -> None:
    from tasks.data import SplitData

    holdout = batch(2000, 6)
    parts = [
        SplitData(holdout.head(0), h, Features(NUMERIC, CATEGORICAL), "", "")
        for h in (holdout, shuffled(holdout))
    ]
    a, b = (reference_sample(p, "y", None, max_rows=300, seed=2) for p in parts)
    assert len(a) == len(b) == 300 and rows_of(a) == rows_of(b)


# one chunk, many chunks, a chunk smaller than the sample
@pytest.mark.parametrize("chunk_rows", [5000, 97, 40])
def test_a_streamed_predict_keeps_exactly_the_rows_the_monitor_samples(
    tmp_path: Path, chunk_rows: int
) -> None:
    data = batch(1500, 8)
    data["x"] = data["x"].astype(object)
    bad = [120, 901, 1081]
    data.loc[bad, "x"] = "oops"  # rejected by the predict run, still drawn by the monitor
    train = batch(500, 9)
    model = LogisticRegression().fit(train[NUMERIC], train["y"])
    features = Features(NUMERIC, [])

    def streamed(frame: pd.DataFrame) -> pd.DataFrame:
        return score_batch(model, frame, features, "classification", ModelRef("m", "1", "r"),
                           str(tmp_path / "p.parquet"), chunk_rows=chunk_rows, sample_rows=120,
                           seed=5).sample  # fmt: skip

    got = streamed(data)
    whole = sample(data, 120, seed=5)
    assert set(bad) <= set(whole.index)  # so the rejected rows drawn are left out, not replaced
    expected = whole.drop(index=bad)
    assert list(got.index) == list(expected.index)  # the same rows, in row order
    assert rows_of(got, list(data.columns)) == rows_of(expected)
    assert PREDICTION in got.columns
    # the same batch in another order: the same rows (by value) are sampled and scored
    other = streamed(shuffled(data))
    assert rows_of(other, list(data.columns)) == rows_of(got, list(data.columns))


def test_the_running_draw_equals_the_whole_frames_with_ties() -> None:
    frame = pd.DataFrame({"v": [1, 2, 1, 3, 1, 2, 4, 1, 5, 1] * 30})  # many equal rows: ties everywhere
    for k in (1, 7, 50, 300, 400):
        for size in (1, 3, 64, 300):
            running = SmallestDraws(k, 3, "drift")
            for start in range(0, len(frame), size):
                running.add(frame.iloc[start : start + size])
            assert list(running.positions()) == list(draw_sample(frame, k, 3, "drift").index), (k, size)


def test_rows_with_unhashable_values_are_drawn_by_their_text() -> None:
    frame = pd.DataFrame({"tags": [[i % 7, "a"] for i in range(200)], "w": np.arange(200) % 13})
    a, b = sample(frame, 20, seed=1), sample(shuffled(frame), 20, seed=1)
    assert len(a) == 20 and rows_of(a) == rows_of(b)
