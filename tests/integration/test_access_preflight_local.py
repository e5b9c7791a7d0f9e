"""Issue 15: the pre-flight's MLflow access check (mlops/cli/access.py) asks a tracking server whether it accepts
these credentials; a store on this machine (sqlite:, file:, a plain path) has none, so it is not searched before
every run. Real MLflow clients: a file store on disk, and MLflow's REST client against a loopback HTTP server that
answers like MLflow's basic-auth app (401)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.cli.access import check_mlflow_access, local_store
from mlops.settings import get_settings
from tasks.tracking.store import AccessDenied


class _RefusingMlflow(http.server.BaseHTTPRequestHandler):
    """Every API call is refused, as MLflow's basic-auth app does for a client without credentials."""

    seen: list[str] = []

    def _refuse(self) -> None:
        type(self).seen.append(self.path)
        body = b"You are not authenticated."
        self.send_response(401)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_mlflow() -> Iterator[str]:
    _RefusingMlflow.seen = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _RefusingMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("sqlite:////tmp/x/mlflow.db", True),
        ("file:///tmp/x/mlruns", True),
        ("/tmp/x/mlruns", True),
        ("http://mlflow.team:5000", False),
        ("https://mlflow.team", False),
        ("./mlruns", True),
        ("databricks", False),
    ],
)
def test_only_stores_on_this_machine_count_as_local(uri: str, local: bool) -> None:
    assert local_store(uri) is local


def test_a_file_store_is_not_opened_or_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", root.as_uri())
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    check_mlflow_access(get_settings())
    # opening MLflow's file store creates its folder (and the default experiment): no search, no folder
    assert not root.exists()


def test_a_tracking_server_is_still_asked_and_its_refusal_stops_the_run(
    refusing_mlflow: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", refusing_mlflow)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    with pytest.raises(AccessDenied) as denied:
        check_mlflow_access(get_settings())
    assert denied.value.status == 401 and refusing_mlflow in str(denied.value)
    assert any("experiments/search" in path for path in _RefusingMlflow.seen)
