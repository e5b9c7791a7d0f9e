"""The batch's content hashes and the look at its values' types (issue 25): pandas' value hash reads 1 and "1"
alike in an object column, so both hashes (`frame_sha256`, the retrain's data hash and the gate memo's key; the
Fingerprint, the id a predict run of the same rows logged) take each value's type too. Before, each hash looked at
every value's type by a Python step per value (the code of db01629, kept below as `*_before`); now
`tasks.data.splits.object_kinds` maps `type` and factorizes in C, once per batch for both. The hashes are the same
(asserted here, and by tests/unit/test_batch_hashes.py). Synthetic batches of bench/common.py.

    .venv/bin/python bench/batch_hashes.py [ROWS ...]      # default: 100000 1000000

Prints one markdown row per size and way: the median of 5, in the same process, before and after in turns.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def frame_sha256_before(frame: Any, row_hashes: Any = None) -> str:
    import pandas as pd

    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update("\x1f".join(map(str, frame.dtypes)).encode())
    for col in range(frame.shape[1]):
        if pd.api.types.is_object_dtype(frame.dtypes.iloc[col]):
            kinds = sorted({type(v).__name__ for v in frame.iloc[:, col].to_numpy()})
            digest.update(f"\x1e{col}:{','.join(kinds)}".encode())
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy() if row_hashes is None else row_hashes
    digest.update(rows.tobytes())
    return digest.hexdigest()


def fingerprint_before(frame: Any, row_hashes: Any) -> str:
    import numpy as np
    import pandas as pd

    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update("\x1f".join(map(str, frame.dtypes)).encode())
    rows = row_hashes
    for col in range(frame.shape[1]):
        if pd.api.types.is_object_dtype(frame.dtypes.iloc[col]):
            kinds = [type(v).__name__ for v in frame.iloc[:, col].to_numpy()]
            rows = rows * np.uint64(1_000_003) ^ pd.util.hash_array(np.array(kinds, dtype=object))
    digest.update(rows.tobytes())
    return digest.hexdigest()


def main(sizes: list[int]) -> None:
    import pandas as pd
    from common import synthetic_frame

    from tasks.data.splits import frame_sha256
    from tasks.data.stream import batch_hashes

    print("| batch | way | before | after | before / after |")
    print("|---|---|---:|---:|---:|")
    for rows in sizes:
        frame = synthetic_frame(rows, 3, shift=0.5)

        def sha_before(frame: pd.DataFrame = frame) -> tuple[str, ...]:
            return (frame_sha256_before(frame),)

        def sha_after(frame: pd.DataFrame = frame) -> tuple[str, ...]:
            return (frame_sha256(frame),)

        def both_before(frame: pd.DataFrame = frame) -> tuple[str, ...]:
            hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
            return fingerprint_before(frame, hashed), frame_sha256_before(frame, hashed)

        def both_after(frame: pd.DataFrame = frame) -> tuple[str, ...]:
            hashes = batch_hashes(frame)
            return hashes.fingerprint, hashes.sha256 or ""

        ways: list[tuple[str, Callable[[], tuple[str, ...]], Callable[[], tuple[str, ...]]]] = [
            ("`frame_sha256` (retrain's data hash)", sha_before, sha_after),
            ("`batch_hashes` (monitor: fingerprint + gate key)", both_before, both_after),
        ]
        for name, before, after in ways:
            assert before() == after(), name  # the same hashes
            times: dict[Callable[[], tuple[str, ...]], list[float]] = {before: [], after: []}
            for _ in range(5):
                for way, seconds in times.items():
                    start = time.perf_counter()
                    way()
                    seconds.append(time.perf_counter() - start)
            b, a = statistics.median(times[before]), statistics.median(times[after])
            print(
                f"| {rows:,} rows x {frame.shape[1]} columns | {name} | {b:.2f} s | {a:.2f} s | {b / a:.1f}x |"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
