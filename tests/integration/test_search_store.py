"""model.search on a shared PostgreSQL trial store (MLOPS_SEARCH_STORAGE): two retrains of the same work at once,
each with its own connections as from two machines, fit each trial once (tasks.search._advisory_lock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import running_postgres
from tests.unit.test_search_space import Scorer, _run

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def trials_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_postgres(tmp_path_factory.mktemp("pg-trials"), ["trials"]) as stack:
        yield stack.pg_url("trials")


def test_two_searches_of_one_study_on_a_shared_postgresql_store_fit_each_trial_once(trials_url: str) -> None:
    """The second waits for the first's advisory lock on the study, then finds every trial finished and fits none
    (without the lock it would ask for trials beside the first and fit them too)."""
    first_fits, second_fits = Scorer(delay=0.2), Scorer()
    outcomes: list[Any] = []
    first = threading.Thread(target=lambda: outcomes.append(_run(trials_url, first_fits, name="pg")))
    first.start()
    deadline = time.monotonic() + 120
    while not first_fits.fits and time.monotonic() < deadline:  # the first holds the lock once it fits
        time.sleep(0.05)
    assert first_fits.fits, "the first search never started a trial"
    second = _run(trials_url, second_fits, name="pg")
    first.join()
    assert (len(first_fits.fits), len(second_fits.fits)) == (12, 0)
    assert second.counts()["resumed"] == 12 and outcomes[0].counts()["resumed"] == 0
    assert [(t.number, t.params, t.value) for t in second.trials] == [
        (t.number, t.params, t.value) for t in outcomes[0].trials
    ]
