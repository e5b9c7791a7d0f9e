"""The default quality rule (issue 23): what the champion scores on 95% of batches of a size drawn from its holdout.
Its cost at training, its false-alarm rate on unchanged batches and its power against real drops of the metric,
measured on a shipped pipeline with the champion its retrain would fit. Plain functions, no Prefect or MLflow.

- false alarms: batches drawn (with replacement) from the holdout, and from the rows of the training window the
  model never saw when there are any (fresh data, the holdout's own uncertainty included);
- power: batches drawn from the holdout with a share of their labels flipped, the share chosen (bisection, on the
  whole holdout) so that the metric falls by 0.02, 0.05 or 0.10; the rate at which the rule flags them.

    .venv/bin/python bench/quality_floor.py [deployments/flight_delays.yaml] [--batches 200]

Prints a markdown table (docs/monitoring.md, "The default quality floor").
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `mlops` CLI runs (mlops/cli/runtime.py)

SIZES = (500, 2_000, 20_000)
DROPS = (0.02, 0.05, 0.10)


def _metric_of(metric: str, y, p):  # type: ignore[no-untyped-def]
    import numpy as np

    from tasks.evaluate import _weighted
    from tasks.train import Predictions

    rows = Predictions(y, p.pred, p.proba, p.positive)
    return float(_weighted(metric, rows)(np.ones(len(y))))


def _flipped(y, flip, positive, negative):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.where(flip, np.where(y == positive, negative, positive), y)


def measure(spec_path: str, batches: int) -> None:
    import numpy as np

    from mlops.quality_floor import judge
    from mlops.spec import load_spec
    from tasks import data, train
    from tasks.bootstrap import quality_floor
    from tasks.train import Predictions

    loaded = load_spec(spec_path)
    spec = loaded.spec
    metric = spec.promotion.metric
    parts = data.split(data.load(loaded), loaded)
    fitted = train.train(parts, spec.model, spec.data.target, spec.data.split.seed)
    start = time.perf_counter()
    floor = quality_floor(fitted, metric, spec.data.split.seed, higher_is_better=spec.direction == "maximize")
    cost = time.perf_counter() - start
    assert floor is not None and fitted.predictions is not None
    p = fitted.predictions
    n = len(p.y)
    print(
        f"{spec.name}: {metric} {floor.reference:.4f} on {n:,} holdout rows; floor bootstrapped at "
        f"{', '.join(f'{s:,}' for s in floor.sizes)} rows ({floor.resamples} resamples each) in {cost:.1f} s"
    )
    print(
        "| batch rows | floor | gap | "
        + " | ".join(["false alarms (holdout)"] + [f"power, drop {d:g}" for d in DROPS])
        + " |"
    )
    print("|---|---|---|" + "---|" * (1 + len(DROPS)))

    positive = p.positive
    negative = next(v for v in np.unique(p.y) if v != positive)

    def metric_on(idx: np.ndarray, flip: np.ndarray | None) -> float:
        y = p.y[idx] if flip is None else _flipped(p.y[idx], flip, positive, negative)
        sub = Predictions(y, p.pred[idx], None if p.proba is None else p.proba[idx], positive)
        return _metric_of(metric, sub.y, sub)

    # the label-flip share that makes the metric fall by each drop on the whole holdout (5 seeded masks averaged)
    masks = [np.random.default_rng(100 + k).random(n) for k in range(5)]
    everything = np.arange(n)

    def fall(share: float) -> float:
        return floor.reference - float(np.mean([metric_on(everything, m < share) for m in masks]))

    shares = {}
    for drop in DROPS:
        lo, hi = 0.0, 0.5
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fall(mid) < drop else (lo, mid)
        shares[drop] = (lo + hi) / 2

    for rows in SIZES:
        rng = np.random.default_rng(rows)
        alarms = 0
        caught = dict.fromkeys(DROPS, 0)
        for _ in range(batches):
            idx = rng.integers(0, n, rows)
            alarms += judge(floor, metric_on(idx, None), rows).dropped
            u = rng.random(rows)
            for drop in DROPS:
                caught[drop] += judge(floor, metric_on(idx, u < shares[drop]), rows).dropped
        limit = floor.at(rows)
        print(
            f"| {rows:,} | {limit:.3f} | {floor.reference - limit:.3f} | {alarms / batches:.1%} | "
            + " | ".join(f"{caught[d] / batches:.0%}" for d in DROPS)
            + " |"
        )
    print(
        f"({batches} batches per size, seeded; label-flip shares for the drops: "
        + ", ".join(f"{d:g}: {shares[d]:.1%}" for d in DROPS)
        + ")"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=["deployments/flight_delays.yaml"])
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    for path in args.specs:
        measure(path, args.batches)
