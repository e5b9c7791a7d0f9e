"""A batch's Fingerprint (predict's batch identity) tells values of other types apart, however it is chunked."""

from __future__ import annotations

import pandas as pd

from tasks.data.stream import Fingerprint, fingerprint


def _chunked(frame: pd.DataFrame, rows: int) -> str:
    fp = Fingerprint()
    for start in range(0, len(frame), rows):
        fp.add(frame.iloc[start : start + rows])
    return fp.hexdigest()


def test_one_and_the_text_one_are_different_batches() -> None:
    mixed = pd.DataFrame({"a": pd.Series([1, "2", 3], dtype=object)})
    text = pd.DataFrame({"a": ["1", "2", "3"]})
    assert fingerprint(mixed) != fingerprint(text)
    assert fingerprint(pd.DataFrame({"a": [1, 2, 3]})) != fingerprint(text)
    assert fingerprint(pd.DataFrame({"a": [True, False]}, dtype=object)) != fingerprint(
        pd.DataFrame({"a": [1, 0]}, dtype=object)
    )


def test_the_same_rows_give_the_same_fingerprint_however_chunked() -> None:
    frame = pd.DataFrame({"a": pd.Series([1, "2", 3, "x", 5], dtype=object), "b": [0.5, 1.5, 2.5, 3.5, 4.5]})
    assert _chunked(frame, 1) == _chunked(frame, 2) == _chunked(frame, 5) == fingerprint(frame)
    assert fingerprint(frame) == fingerprint(frame.copy())
