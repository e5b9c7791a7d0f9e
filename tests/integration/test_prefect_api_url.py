"""PREFECT_API_URL at something that answers but is not a Prefect API (the server's root without /api, a wrong
path, an HTML page): said before anything runs, naming the variable and the address of the API when there is one.

A tiny http.server on 127.0.0.1 plays the server: a Prefect API answers GET /api/health with `true`."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli.preflight import prefect_unreachable

PAGE = b"<!doctype html><html><body>Welcome</body></html>"


def serve(routes: dict[str, tuple[int, bytes]]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, body = routes.get(self.path, (404, PAGE))
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body == b"true" else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def prefect_like() -> Iterator[str]:
    yield from serve({"/api/health": (200, b"true")})


@pytest.fixture
def html_site() -> Iterator[str]:
    yield from serve({"/health": (200, PAGE), "/api/health": (200, PAGE)})


def test_the_api_itself_passes(prefect_like: str) -> None:
    assert prefect_unreachable(f"{prefect_like}/api") is None
    assert prefect_unreachable(f"{prefect_like}/api/") is None


def test_the_server_root_without_api_names_the_api(prefect_like: str) -> None:
    error = prefect_unreachable(prefect_like)
    assert error is not None and error.exit_code == 2
    assert str(error) == (
        f"PREFECT_API_URL is {prefect_like} (no /api): the Prefect API is at {prefect_like}/api; set "
        f"PREFECT_API_URL={prefect_like}/api, then rerun. Nothing was run."
    )


def test_a_wrong_path_names_the_api_of_that_server(prefect_like: str) -> None:
    error = prefect_unreachable(f"{prefect_like}/prefect/api")
    assert error is not None and error.exit_code == 2
    assert "PREFECT_API_URL is" in str(error) and "HTTP 404 and an HTML page" in str(error)
    assert f"set PREFECT_API_URL={prefect_like}/api, then rerun" in str(error)


def test_an_html_page_is_not_a_prefect_api(html_site: str) -> None:
    error = prefect_unreachable(f"{html_site}/api")
    assert error is not None and error.exit_code == 2
    text = str(error)
    assert f"PREFECT_API_URL is {html_site}/api, but what answers there is not a Prefect API" in text
    assert "HTTP 200 and an HTML page" in text and "ends in /api" in text


def test_a_password_in_it_is_masked(prefect_like: str) -> None:
    url = prefect_like.replace("http://", "http://u:S3cretPw@")
    assert prefect_unreachable(f"{url}/api") is None  # the credentials are sent, not read as a host name
    error = prefect_unreachable(url)
    assert error is not None and "S3cretPw" not in str(error) and "u:***@127.0.0.1" in str(error)


def test_retrain_stops_before_any_work(
    html_site: str, project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.cli import app

    monkeypatch.chdir(project)
    monkeypatch.setenv("PREFECT_API_URL", f"{html_site}/api")
    (
        isolated_home / "mlflow.db"
    ).unlink()  # the tier's copied empty store: here no store at all, as a user's first run
    r = CliRunner().invoke(app, ["run", "retrain", "deployments/cancer.yaml"])
    assert r.exit_code == 2, r.output
    assert "not a Prefect API" in r.output and "not a known user error" not in r.output
    assert not (isolated_home / "mlflow.db").exists()  # nothing ran
