"""Issue 25 item 13: the monitor hashes its batch once. batch_hashes gives, from one pass of pandas' row hashes,
the same Fingerprint a predict run computes chunk by chunk and the same frame_sha256 the gate memo is keyed on."""

from __future__ import annotations

import pandas as pd

from tasks.data.splits import frame_sha256
from tasks.data.stream import Fingerprint, batch_hashes, fingerprint


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.5, 2.0, None, 4.25, 5.0],
            "city": ["a", "b", "a", None, "c"],
            "n": [1, 2, 3, 4, 5],
            "mixed": ["1", 1, "1", 2, "x"],  # 1 and "1": frame_sha256 tells them apart by kind
        }
    )


def test_one_pass_gives_both_hashes_as_each_would_alone() -> None:
    frame = _frame()
    hashes = batch_hashes(frame)
    assert hashes.sha256 == frame_sha256(frame)
    chunked = Fingerprint()
    for start in range(0, len(frame), 2):  # a predict run reads the batch in chunks
        chunked.add(frame.iloc[start : start + 2])
    assert hashes.fingerprint == chunked.hexdigest() == fingerprint(frame)


def test_the_gate_key_is_left_out_when_no_gate_needs_it() -> None:
    hashes = batch_hashes(_frame(), sha256=False)
    assert hashes.sha256 is None and hashes.fingerprint == fingerprint(_frame())


def test_either_hash_changes_with_the_values() -> None:
    frame, other = _frame(), _frame()
    other.loc[0, "x"] = 1.25
    assert batch_hashes(frame).fingerprint != batch_hashes(other).fingerprint
    assert batch_hashes(frame).sha256 != batch_hashes(other).sha256


def test_the_hashes_of_existing_data_stay_what_they_were() -> None:
    """Pinned as the order-free identity (issue 26: the rows' typed hashes sorted) computes them: a batch already
    hashed, trained on or memoised keeps its identity however it is computed. A changed hash retrains an unchanged
    batch once (docs/upgrading.md). The same rows in another order keep it too."""
    for frame in (_frame(), _frame().iloc[::-1]):
        hashes = batch_hashes(frame)
        assert hashes.sha256 == "7b2cc9c7376271a900ecbaf4458b8cc38ed4a68aff77e4c2870ded5a5dfa8041"
        assert hashes.fingerprint == "7b2cc9c7376271a900ecbaf4458b8cc38ed4a68aff77e4c2870ded5a5dfa8041"
