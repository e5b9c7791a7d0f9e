"""The `energy_demand` example: two years of hourly electricity demand at three sites, generated, never downloaded.

Deterministic (numpy's generator seeded with SEED): every run, every machine, the same rows. What is in it, so a
monitor's verdicts can be checked against what really happened (docs/monitoring.md):

- a **seasonal effect that does not hurt the model**: the temperature follows the seasons (about 2 C in January,
  22 C in July, plus weather noise), and demand follows the temperature (heating below 16 C, cooling above 22 C).
  A model trained on a whole year has seen every season, so each month's temperature drifts against the reference
  while the model's error stays where it was;
- **one real shift at SHIFT_START** (2021-09-01): site `north` takes on an industrial customer drawing
  SHIFT_MW more on weekdays from 08:00 to 18:00. Nothing in the features says so (the same hours, days and
  temperatures as before), so only the model's realised error on labelled data shows it; and since nothing in
  the features tells the rows after the shift from those before it, a retrain learns a blend of the two, in
  proportion to the rows of each in its training window (docs/monitoring.md measures what that leaves);
- noise of 2.5 MW, 4 MW in the evening peak (17:00-21:59): the error varies by hour, which a loss model can learn.

`python -m tasks.data.energy OUT.csv` writes the same rows to a CSV file.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd

SEED = 2020
START, END = "2020-01-01", "2022-01-01"
SITES = {"north": 60.0, "harbour": 45.0, "campus": 30.0}  # base demand, MW
SHIFT_START = datetime(2021, 9, 1, tzinfo=UTC)
SHIFT_SITE, SHIFT_MW = "north", 12.0
COLUMNS = ["time", "site", "hour", "day_of_week", "temp", "humidity", "demand_mw"]


def energy_demand() -> pd.DataFrame:
    """The rows, sorted by time then site (52,632 rows: 8,784 + 8,760 hours x 3 sites)."""
    rng = np.random.default_rng(SEED)
    hours = pd.date_range(START, END, freq="h", inclusive="left", tz="UTC")
    n = len(hours)
    day_of_year = hours.dayofyear.to_numpy()
    season = np.sin(2 * np.pi * (day_of_year - 110) / 365.25)  # -1 in late January, +1 in late July
    hour = hours.hour.to_numpy()
    daily = -3 * np.cos(2 * np.pi * (hour - 3) / 24)  # cool nights, warm afternoons
    weather = _smooth(rng.normal(0, 1, n), 48) * 3.0  # fronts that last a day or two
    frames = []
    for i, (site, base) in enumerate(SITES.items()):
        temp = 12 + 10 * season + daily + weather + rng.normal(0, 0.8, n) - i * 0.7
        humidity = np.clip(70 - 15 * season - 1.2 * daily + rng.normal(0, 6, n), 15, 100)
        weekday = hours.dayofweek.to_numpy()
        working = (weekday < 5) & (hour >= 8) & (hour < 18)
        profile = 6 * np.exp(-((hour - 19) ** 2) / 8) + 3 * np.exp(-((hour - 8) ** 2) / 4)
        demand = (
            base
            + profile
            + 5 * working
            - 4 * (weekday >= 5)
            + 0.9 * np.clip(16 - temp, 0, None)  # heating
            + 1.3 * np.clip(temp - 22, 0, None)  # cooling
            + 0.02 * (humidity - 70) * (temp > 22)
        )
        if site == SHIFT_SITE:
            demand = demand + SHIFT_MW * (working & (hours >= pd.Timestamp(SHIFT_START)))
        noise = np.where((hour >= 17) & (hour < 22), 4.0, 2.5)
        frames.append(
            pd.DataFrame(
                {
                    "time": hours,
                    "site": site,
                    "hour": hour,
                    "day_of_week": hours.dayofweek,
                    "temp": temp.round(1),
                    "humidity": humidity.round(0),
                    "demand_mw": (demand + rng.normal(0, 1, n) * noise).round(2),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True).sort_values(["time", "site"], kind="stable")
    frame["site"] = frame["site"].astype(object)
    return frame[COLUMNS].reset_index(drop=True)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """A moving average (same length), rescaled to unit variance."""
    out = np.convolve(values, np.ones(width) / width, mode="same")
    return out / out.std()


if __name__ == "__main__":  # pragma: no cover - a convenience for people who want the file
    target = sys.argv[1] if len(sys.argv) > 1 else "energy_demand.csv"
    energy_demand().to_csv(target, index=False)
    print(f"wrote {target}")
