"""Why the energy example's drift-triggered retrains do not recover from the 2021-09-01 shift (issue 14): for each
retrain window, the rows the time split gives the challenger, how it compares with the champion on its holdout, and
how both then score on the rest of 2021. Plain functions (no Prefect, MLflow or promotion lock), the spec's own
model, split and seed; the champion is the spec's (trained on 2020).

    python bench/monitoring_windows.py [DAYS,... [HOLDOUT_FRACTION,...]]    # default: 60,90,120,180,240,365  0.2

Prints a Markdown table (docs/monitoring.md quotes it in its findings).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `mlops` CLI runs
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RETRAINS_AT = (
    "2021-10-01",
    "2021-11-01",
    "2021-12-01",
)  # the ends of the September, October, November batches
YEAR_END = "2022-01-01"
SPEC = "deployments/energy_demand.yaml"


def main(days: list[int], fractions: list[float]) -> None:
    import numpy as np
    import pandas as pd

    from mlops.spec import load_spec
    from mlops.timeutil import window_before
    from tasks import data, train
    from tasks.data.energy import SHIFT_START

    base = load_spec(SPEC)
    spec = base.spec
    target, time_column, seed = spec.data.target, spec.data.time_column or "time", spec.data.split.seed
    champion_parts = data.split(data.load(base), base)
    features = champion_parts.features.all
    champion = train.train(champion_parts, spec.model, target, seed).model
    shift = pd.Timestamp(SHIFT_START)
    everything = data.load(base.with_window("2020-01-01", YEAR_END))

    def rmse(model: object, frame: pd.DataFrame) -> float:
        return float(np.sqrt(np.mean((model.predict(frame[features]) - frame[target]) ** 2)))  # type: ignore[attr-defined]

    def after_shift(frame: pd.DataFrame) -> int:
        return int((frame[time_column] >= shift).sum())

    print("| window (days) | holdout share | retrain at | training rows (after the shift) | holdout rows (after) "
          "| holdout rmse: challenger / champion | rmse to the end of 2021: challenger / champion |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for window in days:
        for fraction in fractions:
            for end in RETRAINS_AT:
                start, stop = window_before(datetime.fromisoformat(end), window, spec.data.window)
                loaded = base.with_window(start, stop)
                split = loaded.spec.data.split.model_copy(update={"holdout_fraction": fraction})
                loaded = loaded.model_copy(update={"spec": loaded.spec.model_copy(
                    update={"data": loaded.spec.data.model_copy(update={"split": split})})})  # fmt: skip
                parts = data.split(data.load(loaded), loaded)
                challenger = train.train(parts, spec.model, target, seed).model
                rest = everything[everything[time_column] >= pd.Timestamp(end, tz=shift.tz)]
                print(
                    f"| {window} | {fraction:g} | {end} | {len(parts.train):,} ({after_shift(parts.train):,}) | "
                    f"{len(parts.holdout):,} ({after_shift(parts.holdout):,}) | {rmse(challenger, parts.holdout):.2f}"
                    f" / {rmse(champion, parts.holdout):.2f} | {rmse(challenger, rest):.2f} / "
                    f"{rmse(champion, rest):.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        [int(d) for d in (args[0] if args else "60,90,120,180,240,365").split(",")],
        [float(f) for f in (args[1] if len(args) > 1 else "0.2").split(",")],
    )
