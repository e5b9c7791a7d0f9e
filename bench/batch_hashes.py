"""The monitor's batch hashes (issue 25 item 13): before, the batch was hashed twice, by `fingerprint-batch` (the
id a predict run of the same rows logged) and again by the gate memo's key (`frame_sha256`); now one pass of
pandas' row hashes gives both (`tasks.data.stream.batch_hashes`). Synthetic batches of bench/common.py.

    .venv/bin/python bench/batch_hashes.py [ROWS ...]      # default: 100000 1000000

Prints one markdown row per size: the median of 5 of each way, in the same process, the two ways in turns.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(sizes: list[int]) -> None:
    import pandas as pd
    from common import synthetic_frame

    from tasks.data.splits import frame_sha256
    from tasks.data.stream import Fingerprint, batch_hashes

    print("| batch | before: fingerprint + gate key, two passes | after: batch_hashes, one pass |")
    print("|---|---:|---:|")
    for rows in sizes:
        frame = synthetic_frame(rows, 3, shift=0.5)

        def before(frame: pd.DataFrame = frame) -> tuple[str, str | None]:
            fp = Fingerprint()
            fp.add(frame)
            return fp.hexdigest(), frame_sha256(frame)

        def after(frame: pd.DataFrame = frame) -> tuple[str, str | None]:
            hashes = batch_hashes(frame)
            return hashes.fingerprint, hashes.sha256

        assert before() == after()  # the same two hashes
        times: dict[Callable[..., object], list[float]] = {before: [], after: []}
        for _ in range(5):
            for way, seconds in times.items():
                start = time.perf_counter()
                way()
                seconds.append(time.perf_counter() - start)
        shown = [f"{statistics.median(times[w]):.2f} s" for w in (before, after)]
        print(f"| {rows:,} rows x {frame.shape[1]} columns | {shown[0]} | {shown[1]} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
