"""Parallel challengers: N candidate parameter sets fitted one after another, in threads, and in processes.

Run: python bench/candidates.py [--rows N] [--candidates K] [--repeats R] [--out FILE.json]
Prints a Markdown table of median wall times and the speedups against sequential fitting. Uses the project's own
pipeline builder on the bundled flight data, so the work is exactly what `model.candidates` does. Threads and a
spawn process pool are what Prefect's ThreadPoolTaskRunner and ProcessPoolTaskRunner run tasks on; Prefect's own
cost per task is measured by bench/overhead.py. `bench/run.py` runs it as step 6 when the time budget allows.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from mlops.spec import load_spec
from tasks import data, train

SPEC = "deployments/flight_delays.yaml"


def _fit(args: tuple) -> float:
    shared, model = args
    return train.fit_candidate(shared, model).value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()

    loaded = load_spec(SPEC)
    frame = data.load(loaded).head(args.rows)
    parts = data.split(frame, loaded)
    shared = train.FitData.of(
        data.validation_split(parts, loaded), parts.features, loaded.spec
    )  # seed 7, roc_auc
    rates = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3][: args.candidates]
    models = [loaded.spec.model.model_copy(update={"params": {**loaded.spec.model.params, "learning_rate": r}})
              for r in rates]  # fmt: skip
    jobs = [(shared, m) for m in models]

    def sequential() -> None:
        [_fit(j) for j in jobs]

    def threads() -> None:
        with ThreadPoolExecutor(len(jobs)) as pool:
            list(pool.map(_fit, jobs))

    def processes() -> None:
        # spawn, not fork: forking after OpenMP (HistGradientBoosting) has started can hang the children
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_fit, jobs))

    results = {}
    for name, fn in (("sequential", sequential), ("threads", threads), ("processes (2)", processes)):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        results[name] = statistics.median(times)
        print(f"{name}: {results[name]:.2f} s", flush=True)
    base = results["sequential"]
    print(
        f"\n{len(jobs)} HistGradientBoosting candidates on {len(shared.fit):,} rows, median of {args.repeats}\n"
    )
    print("| mode | wall s | speedup vs sequential |\n|---|---|---|")
    for name, t in results.items():
        print(f"| {name} | {t:.2f} | {base / t:.2f}x |")
    if args.out:
        summary = {
            "rows": len(shared.fit),
            "candidates": len(jobs),
            "repeats": args.repeats,
            "seconds": results,
        }
        with open(args.out, "w") as fh:
            json.dump(summary, fh)


if __name__ == "__main__":
    main()
