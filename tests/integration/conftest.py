from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import prefect_server


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One temporary Prefect server (real API, SQLite) for every flow test of the session; yields its API URL."""
    with prefect_server(tmp_path_factory.mktemp("prefect-storage")) as api_url:
        yield api_url
