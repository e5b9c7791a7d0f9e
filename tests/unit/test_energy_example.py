"""The generated regression example (issue 14): deterministic, with the documented seasonal effect and the one real
shift where its docstring, the spec's comment and docs/monitoring.md say they are."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops.spec import load_spec
from mlops.verdict_policy import policy_of
from tasks.data import builtin_frame
from tasks.data.energy import SHIFT_MW, SHIFT_SITE, SHIFT_START, energy_demand
from tests.conftest import REPO


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return builtin_frame("energy_demand")


def test_the_same_rows_every_time(frame: pd.DataFrame) -> None:
    assert len(frame) == 52_632 and frame["time"].dt.tz is not None
    pd.testing.assert_frame_equal(frame, energy_demand())
    assert pd.util.hash_pandas_object(frame).sum() == pd.util.hash_pandas_object(energy_demand()).sum()


def test_temperature_follows_the_seasons(frame: pd.DataFrame) -> None:
    by_month = frame.groupby(frame["time"].dt.month)["temp"].mean()
    assert by_month[7] - by_month[1] > 15  # July is about 20 C warmer than January


def test_the_shift_is_where_the_docs_say_and_nowhere_else(frame: pd.DataFrame) -> None:
    working = (frame["day_of_week"] < 5) & frame["hour"].between(8, 17)
    after = frame["time"] >= pd.Timestamp(SHIFT_START)
    autumn = frame["time"].dt.month.isin([9, 10, 11, 12])

    def gap(site: str) -> float:
        """Autumn working-hours demand, 2021 minus 2020, at one site."""
        rows = frame[(frame["site"] == site) & working & autumn]
        return float(rows.loc[after, "demand_mw"].mean() - rows.loc[~after, "demand_mw"].mean())

    assert gap(SHIFT_SITE) == pytest.approx(SHIFT_MW, abs=1.5)
    for site in {"north", "harbour", "campus"} - {SHIFT_SITE}:
        assert abs(gap(site)) < 1.5


def test_the_shipped_specs_declare_the_new_policy() -> None:
    flights = load_spec(REPO / "deployments" / "flight_delays.yaml").spec
    p = policy_of(flights.monitoring, higher_is_better=flights.direction == "maximize")
    assert (p.drift_measure, p.retrain_on, p.max_quality_drop, p.higher_is_better) == (
        "weighted",
        "quality",
        0.03,
        True,
    )
    energy = load_spec(REPO / "deployments" / "energy_demand.yaml").spec
    assert energy.data.source.name == "energy_demand" and energy.promotion.metric == "rmse"
    p = policy_of(energy.monitoring, higher_is_better=energy.direction == "maximize")
    assert (p.retrain_on, p.higher_is_better) == ("quality", False)
