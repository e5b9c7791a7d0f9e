"""One real Prefect server for every CLI subprocess of the session (per pytest-xdist worker): `cli_env` points
PREFECT_API_URL at it, so each command skips the 7-12 s of a temporary server. Tests of server start-up itself
(test_prefect_server, test_no_traceback's empty URL, the local-server tests) build their own environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import SHARED_PREFECT, running_prefect_server


@pytest.fixture(scope="session", autouse=True)
def shared_prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prefect_server(tmp_path_factory.mktemp("shared-prefect-home")) as api:
        os.environ[SHARED_PREFECT] = api
        try:
            yield api
        finally:
            os.environ.pop(SHARED_PREFECT, None)
