"""What the quality estimator and the importance weights (issue 14) add to a retrain: the training fit and the
estimator fit (permutation importance + calibrator or loss model, cross-fitted reference figures) timed in the same
process, on the shipped pipelines. Plain functions, no Prefect or MLflow (their cost does not change).

    .venv/bin/python bench/estimator_cost.py [deployments/diabetes.yaml deployments/flight_delays.yaml]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `mlops` CLI runs (mlops/cli/runtime.py)


def measure(spec_path: str, repeats: int = 3) -> None:
    from mlops.spec import load_spec
    from tasks import data, train
    from tasks.estimate_fit import fit_monitoring

    loaded = load_spec(spec_path)
    spec = loaded.spec
    parts = data.split(data.load(loaded), loaded)
    fits, extras = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fitted = train.train(parts, spec.model, spec.data.target, spec.data.split.seed)
        fits.append(time.perf_counter() - start)
        start = time.perf_counter()
        fit_monitoring(fitted.model, parts.holdout, parts.features.numeric, parts.features.categorical,
                       spec.data.target, spec.model.task, spec.data.split.seed)  # fmt: skip
        extras.append(time.perf_counter() - start)
    fit, extra = min(fits), min(extras)
    print(
        f"{spec.name}: {len(parts.train):,} training rows, {len(parts.holdout):,} holdout rows; "
        f"train+score {fit:.2f} s, estimator + importance {extra:.2f} s (best of {repeats}; "
        f"+{extra / fit:.0%} of the fit)"
    )


if __name__ == "__main__":
    for path in sys.argv[1:] or ["deployments/diabetes.yaml", "deployments/flight_delays.yaml"]:
        measure(path)
