"""Seeded samples drawn by the rows' values, not their positions (pandas, numpy): every sample the project takes
(the drift report's, the reference data's, the monitoring estimator's) gives each row a draw, a seeded hash of its
values, and keeps the rows of smallest draw, ties (equal values) broken by position. The same rows and seed then
give the same sample whatever order the rows arrive in; a positional `frame.sample` drew other rows when the same
batch came in another order, and a borderline drift verdict could flip on that alone.

`SmallestDraws` takes the same sample from a batch read in chunks (tasks/predict.py): it keeps the k smallest
draws seen so far, so the rows it ends with are exactly the rows `smallest` picks from the whole batch."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from tasks.data.splits import comparable


def identity_columns(names: Sequence[object], wanted: Collection[str] | None) -> list[str] | None:
    """The columns of a batch (`names`, in its order) that its identity covers: those among `wanted` (the spec's
    columns, tasks.data.dataset.spec_columns), in the batch's own order; None (every column) when `wanted` is None.
    The same rows read with more columns (predict) or fewer (the monitor's pushed-down read) name the same batch."""
    return None if wanted is None else [str(c) for c in names if str(c) in wanted]


def row_draws(frame: pd.DataFrame, seed: int, salt: str, columns: Sequence[str] | None = None) -> np.ndarray:
    """A uint64 per row from its values in `columns` (every column when None), the seed and the salt only: not the
    index, not the position. Values are hashed as tasks.data.row_hashes hashes a row key (numbers as float64, times
    as UTC nanoseconds, categories as their values), so a chunk whose int column was read as float draws alike."""
    part = frame if columns is None else frame[list(columns)]
    mix = np.uint64(
        int.from_bytes(hashlib.sha256(f"mlops-sample:{salt}:{seed}".encode()).digest()[:8], "little")
    )
    if part.shape[1] == 0:  # no values to draw by: every row draws alike (position decides)
        return np.full(len(part), mix, dtype=np.uint64)
    values = pd.DataFrame(
        {i: comparable(part.iloc[:, i]).to_numpy() for i in range(part.shape[1])},
        index=pd.RangeIndex(len(part)),
    )
    try:
        hashes = pd.util.hash_pandas_object(values, index=False).to_numpy()
    except TypeError:  # unhashable values (lists, dicts from a nested Parquet column): drawn by their text
        text = {c: values[c].astype(str) if values[c].dtype == object else values[c] for c in values.columns}
        hashes = pd.util.hash_pandas_object(pd.DataFrame(text), index=False).to_numpy()
    return np.asarray(pd.util.hash_array(hashes ^ mix), dtype=np.uint64)


def smallest(draws: np.ndarray, positions: np.ndarray, k: int) -> np.ndarray:
    """The indices (into `draws`) of the k smallest draws, ties broken by the smaller position, in that order."""
    n = len(draws)
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.intp)
    # only rows at or under the k-th smallest draw can be among them: sort those alone
    candidates = np.flatnonzero(draws <= np.partition(draws, k - 1)[k - 1]) if k < n else np.arange(n)
    order = np.lexsort((positions[candidates], draws[candidates]))
    return np.asarray(candidates[order[:k]], dtype=np.intp)


def draw_sample(
    frame: pd.DataFrame, rows: int, seed: int, salt: str, columns: Sequence[str] | None = None,
    *, by_draw: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """At most `rows` rows of `frame`, the smallest draws (row_draws); in their original order, or in draw order
    with `by_draw` (a caller whose result depends on the order, e.g. folds, then gets the same order too)."""
    picked = smallest(row_draws(frame, seed, salt, columns), np.arange(len(frame)), rows)
    return frame.iloc[picked if by_draw else np.sort(picked)]


class SmallestDraws:
    """The k rows of smallest draw among all the chunks added so far (ties by position): one chunk plus k draws in
    memory. Positions are the chunks' index values (rows numbered across chunks, as tasks.data.stream gives them)."""

    def __init__(self, k: int, seed: int, salt: str, columns: Collection[str] | None = None) -> None:
        self.k, self.seed, self.salt = k, seed, salt
        self.columns = columns  # the rows are drawn by these columns' values (identity_columns), None: all
        self._draws = np.empty(0, dtype=np.uint64)
        self._positions = np.empty(0, dtype=np.int64)

    def add(self, chunk: pd.DataFrame) -> None:
        by = identity_columns(list(chunk.columns), self.columns)
        draws = np.concatenate([self._draws, row_draws(chunk, self.seed, self.salt, by)])
        positions = np.concatenate([self._positions, chunk.index.to_numpy(dtype=np.int64)])
        keep = smallest(draws, positions, self.k)
        self._draws, self._positions = draws[keep], positions[keep]

    def positions(self) -> np.ndarray:
        """The positions of the rows kept so far, ascending."""
        return np.sort(self._positions)
