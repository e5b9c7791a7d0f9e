"""Shared servers with authentication: a refusal (MLflow 401/403, Prefect 401) is one paragraph naming the server
and the variable to set, exit 1; never "no champion", never retried, never a password in the message.
The real servers are in tests/e2e/test_scale_out.py; here the errors are MLflow's and Prefect's own exception
types, as their clients raise them, and Prefect's auth middleware answer (401 on the API, 200 on /health)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest
import typer
from mlflow.exceptions import MlflowException
from prefect.exceptions import PrefectHTTPStatusError

from mlops.cli.access import Refused, check_prefect_auth, refused
from mlops.cli.runtime import user_errors
from tasks.tracking.store import AccessDenied, access_denied, is_not_found, is_transient, registry_error

URI = "http://mlflow.team:5000"


def mlflow_refusal(status: int) -> MlflowException:
    """What MLflow's REST client raises for the basic-auth app's plain-text 401/403 (rest_utils)."""
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, UNAUTHENTICATED

    code = {401: UNAUTHENTICATED, 403: PERMISSION_DENIED}[status]
    return MlflowException(
        f"API request to endpoint /api/2.0/mlflow/runs/create failed with error code {status} != 200. "
        "Response body: 'Permission denied'",
        error_code=code,
    )


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", URI)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-pass")


@pytest.mark.parametrize("status", [401, 403])
def test_mlflow_refusal_is_access_denied_not_none(server_env: None, status: int) -> None:
    exc = mlflow_refusal(status)
    assert not is_not_found(exc) and not is_transient(exc)  # never "no champion", never retried
    denied = access_denied(exc)
    assert isinstance(denied, AccessDenied) and denied.exit_code == 2 and denied.status == status
    text = str(denied)
    assert URI in text and "MLFLOW_TRACKING_USERNAME" in text and "MLFLOW_TRACKING_PASSWORD" in text
    assert "s3cret-pass" not in text and "\n" not in text
    assert isinstance(registry_error(exc, "read the champion"), AccessDenied)


def test_other_mlflow_errors_are_not_refusals(server_env: None) -> None:
    assert access_denied(MlflowException("boom")) is None
    assert access_denied(ValueError("nope")) is None


def test_a_refusal_inside_a_run_is_one_paragraph_exit_2(
    server_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as exit_info, user_errors(debug=False):
        raise mlflow_refusal(403)
    assert exit_info.value.exit_code == 2
    said = capsys.readouterr().err
    assert "refused the user 'reader'" in said and "MLFLOW_TRACKING_USERNAME" in said
    assert "not a known user error" not in said and "s3cret-pass" not in said


def test_prefect_401_names_the_auth_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    request = httpx.Request("POST", "http://prefect.team:4200/api/flow_runs/filter")
    response = httpx.Response(401, request=request, json={"exception_message": "Unauthorized"})
    exc = PrefectHTTPStatusError.from_httpx_error(
        httpx.HTTPStatusError("401", request=request, response=response)
    )
    found = refused(exc)
    assert isinstance(found, Refused) and found.exit_code == 2
    assert "http://prefect.team:4200/api" in str(found) and "PREFECT_API_AUTH_STRING" in str(found)


class _PrefectAuthMiddleware(http.server.BaseHTTPRequestHandler):
    """Answers as Prefect's server does with PREFECT_SERVER_API_AUTH_STRING set: /api/health open, the rest 401
    unless the Basic auth header carries the string."""

    expected = "Basic bWxvcHM6cmlnaHQ="  # mlops:right

    def do_GET(self) -> None:  # noqa: N802
        ok = self.path == "/api/health" or self.headers.get("Authorization") == self.expected
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prefect_like() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _PrefectAuthMiddleware)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


@pytest.mark.parametrize("auth", [None, "mlops:wrong"])
def test_preflight_refuses_missing_or_wrong_prefect_auth(
    prefect_like: str, monkeypatch: pytest.MonkeyPatch, auth: str | None
) -> None:
    if auth is None:
        monkeypatch.setenv("PREFECT_API_AUTH_STRING", "")
    else:
        monkeypatch.setenv("PREFECT_API_AUTH_STRING", auth)
    with pytest.raises(Refused) as refusal:
        check_prefect_auth(prefect_like)
    assert prefect_like in str(refusal.value) and "PREFECT_API_AUTH_STRING" in str(refusal.value)
    assert "wrong" not in str(refusal.value)


def test_preflight_passes_with_the_auth_string(prefect_like: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "mlops:right")
    check_prefect_auth(prefect_like)  # raises Refused on a 401
