"""One real Prefect server for every CLI subprocess of the session (per pytest-xdist worker): `cli_env` points
PREFECT_API_URL at it, so each command skips the 7-12 s of a temporary server. Tests of server start-up itself
(test_prefect_server, test_no_traceback's empty URL, the local-server tests) build their own environment."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_PREFECT, invoke_mlops, running_prefect_server
from tests.warm import Warm


@pytest.fixture(scope="session", autouse=True)
def shared_prefect_server(
    tmp_path_factory: pytest.TempPathFactory, prefect_db_template: Path
) -> Iterator[str]:
    with running_prefect_server(tmp_path_factory.mktemp("shared-prefect-home"), prefect_db_template) as api:
        os.environ[SHARED_PREFECT] = api
        try:
            yield api
        finally:
            os.environ.pop(SHARED_PREFECT, None)


@pytest.fixture
def in_process(
    shared_prefect_server: str, isolated_home: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """`mlops ARGS` in this process (tests/conftest.py::invoke_mlops) against the session's Prefect server: for the
    steps of a CLI test where a new interpreter adds nothing checked (it paid every library's import again,
    5-30 s a command on this machine). Run it from the project's folder (monkeypatch.chdir). Prefect's events
    worker, keyed without the API URL, is drained first so this server gets this test's events."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()
    monkeypatch.setenv("PREFECT_API_URL", shared_prefect_server)
    yield invoke_mlops
    # and after: the next test in this worker (an integration test on its own server) must not send its events here
    EventsWorker.drain_all()


@pytest.fixture(scope="session")
def warm(shared_prefect_server: str) -> Iterator[Warm]:
    """The session's warm process (tests/warm.py): real `mlops` processes forked from it skip the 15-20 s CPU of
    importing the libraries again. Started by the first test that asks for it, stopped at the session's end."""
    process = Warm(shared_prefect_server)
    try:
        yield process
    finally:
        process.stop()
