"""LightGBM, XGBoost and CatBoost (the [boost] extra) against HistGradientBoosting on the flights (issue 27): each estimator
with the categorical columns one-hot encoded, ordinal encoded, and given to it as categories ("native"), numeric
nulls imputed (median) or left to the estimator; then with early stopping on a validation part of the training
rows. The fit (and the early-stopping probe) timed in this process, the holdout's roc_auc and log loss; plain
functions, no Prefect or MLflow (their cost does not depend on the estimator).

    .venv/bin/python bench/boosting.py [deployments/flight_delays.yaml] [--only catboost]

`--only PREFIX` measures only the estimators whose import path starts with PREFIX (a library added later, beside
the rows already in docs/benchmarks.md).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `mlops` CLI runs (mlops/cli/runtime.py)

# the same trees for all: 200 rounds of 31 leaves at learning rate 0.1 (the shipped spec's HistGradientBoosting)
PARAMS: dict[str, dict[str, Any]] = {
    "sklearn.ensemble.HistGradientBoostingClassifier": {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31},
    "lightgbm.LGBMClassifier": {"n_estimators": 200, "learning_rate": 0.1, "num_leaves": 31},
    "xgboost.XGBClassifier": {"n_estimators": 200, "learning_rate": 0.1, "max_leaves": 31, "tree_method": "hist",
                              "grow_policy": "lossguide", "max_depth": 0},
    # CatBoost grows symmetric trees: depth 5 is 32 leaves
    "catboost.CatBoostClassifier": {"n_estimators": 200, "learning_rate": 0.1, "max_depth": 5},
}  # fmt: skip
LAYOUTS = [("onehot", "median"), ("ordinal", "median"), ("native", "median"), ("native", "none")]


def measure(spec_path: str, only: str = "") -> list[str]:
    from mlops.catalog import installed
    from mlops.spec import load_spec
    from tasks import data, train

    loaded = load_spec(spec_path)
    spec = loaded.spec
    parts = data.split(data.load(loaded), loaded)
    validation = data.validation_split(parts, loaded)
    rows = [
        f"{spec.name}: {len(parts.train):,} training rows, {len(parts.holdout):,} holdout rows "
        f"({parts.description}); {len(parts.features.numeric)} numeric and "
        f"{len(parts.features.categorical)} categorical columns",
        "",
        "| estimator | categorical | numeric nulls | early stopping | trees | fit s | holdout roc_auc | log loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for estimator, params in PARAMS.items():
        if not estimator.startswith(only):
            continue
        if not installed(estimator):
            rows.append(f'| {estimator} | not installed (`pip install -e ".[boost]"`) | | | | | | |')
            continue
        boosting = not estimator.startswith("sklearn.")
        for encoding, impute in LAYOUTS:
            for stop in (None, 20) if (encoding, impute) == ("native", "none") else (None,):
                # HistGradientBoosting stops early by its own params, on a random part of the training rows
                own = {"early_stopping": True, "n_iter_no_change": stop, "validation_fraction": 0.2}
                model = spec.model.model_copy(
                    update={
                        "estimator": estimator,
                        "params": params | (own if stop and not boosting else {}),
                        "early_stopping_rounds": stop if boosting else None,
                        "preprocessing": spec.model.preprocessing.model_copy(
                            update={
                                "categorical": spec.model.preprocessing.categorical.model_copy(
                                    update={"encoding": encoding}
                                ),
                                "numeric": spec.model.preprocessing.numeric.model_copy(
                                    update={"impute": impute}
                                ),
                            }
                        ),
                    }
                )
                start = time.perf_counter()
                fitted = train.train(parts, model, spec.data.target, spec.data.split.seed,
                                     validation=validation if stop and boosting else None)  # fmt: skip
                seconds = time.perf_counter() - start
                fitted_model = fitted.model[-1]
                trees = fitted_model.get_params().get("n_estimators") or getattr(fitted_model, "n_iter_", "")
                rows.append(
                    f"| {estimator.rsplit('.', 1)[1]} | {encoding} | {impute} | "
                    f"{(f'{stop} rounds' if boosting else f'its own, {stop} rounds') if stop else 'no'} | "
                    f"{trees} | {seconds:.1f} | "
                    f"{fitted.metrics['roc_auc']:.4f} | {fitted.metrics['log_loss']:.4f} |"
                )
                print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    args = sys.argv[1:]
    only = args.pop(args.index("--only") + 1) if "--only" in args else ""
    specs = [a for a in args if a != "--only"] or ["deployments/flight_delays.yaml"]
    for path in specs:
        print("\n".join(measure(path, only)))
