"""A hang is a failure: pytest-timeout with the project's settings (pyproject.toml) fails a test that never ends,
runs its fixtures' tear-down (so the processes a fixture started are stopped), and goes on with the next test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HUNG = """
import socket
import pytest

@pytest.fixture
def server(tmp_path_factory):
    yield
    open({mark!r}, "w").write("torn down")

def test_waits_for_a_peer_that_never_comes(server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    s.accept()

def test_after_it():
    pass
"""


def test_the_suite_has_a_generous_timeout_by_signal(request: pytest.FixtureRequest) -> None:
    assert float(request.config.getini("timeout")) == 900
    assert request.config.getini("timeout_method") == "signal"


def test_a_hung_test_fails_and_is_torn_down(tmp_path: Path) -> None:
    mark = tmp_path / "teardown"
    (tmp_path / "test_hung.py").write_text(HUNG.format(mark=str(mark)))
    done = subprocess.run(  # the project's settings, with the timeout shortened for this test only
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(REPO / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-o", "timeout=2", str(tmp_path / "test_hung.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Timeout (>2.0s) from pytest-timeout" in done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert mark.read_text() == "torn down"
