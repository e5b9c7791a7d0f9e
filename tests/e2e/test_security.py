"""Secrets in the environment never reach logs, MLflow or reports; a spec never runs code.

The commands run in-process (the `in_process` fixture, `invoke_mlops`: the same commands, exit codes and messages
without a new interpreter importing every library again, 15-20 s CPU a command here); what the libraries write
around the CLI's own streams is read too: the file descriptors (capfd) and the log records (caplog), where a real
process's stderr would have shown them. A real process refusing a server with a password in its URL, exit 1, stays:
test_a_prefect_password_is_never_printed below."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import invoke_mlops, run_mlops

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-Zq8wY1-never-log-me"
# what tasks/tracking/store.py::client sets in os.environ for a server store (os.environ.setdefault): registered
# with monkeypatch so that they are removed again after the test
STORE_DEFAULTS = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "PGCONNECT_TIMEOUT",
)  # fmt: skip


def everything_shown(
    r: subprocess.CompletedProcess[str], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> str:
    """The command's stdout and stderr, what reached this process's file descriptors, and every log record."""
    out, err = capfd.readouterr()
    return "\n".join((r.stdout, r.stderr, out, err, caplog.text))


def test_secrets_in_the_environment_are_not_written_anywhere(
    project: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for key in ("MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY", "DATABASE_PASSWORD"):
        monkeypatch.setenv(key, SECRET)
    monkeypatch.chdir(project)
    r = in_process("run", "retrain", "deployments/cancer.yaml")
    assert r.returncode == 0, r.stderr
    assert "champion is v1" in r.stdout, r.stdout  # it ran the whole way
    assert SECRET not in everything_shown(r, capfd, caplog)
    scanned = 0
    for path in isolated_home.rglob("*"):  # the MLflow store, every artifact, the reports
        if path.is_file():
            scanned += 1
            assert SECRET.encode() not in path.read_bytes(), path
    assert scanned > 10  # the store, the model files, the spec copy, the reports were all looked at


def test_a_spec_cannot_construct_objects(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (invoke_mlops); a real process refusing a YAML tag: test_bad_input_corpus's real-process cases."""
    marker = project / "pwned"
    spec = project / "deployments" / "evil.yaml"
    spec.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    monkeypatch.chdir(project)
    r = invoke_mlops("validate", str(spec))
    assert r.returncode == 2 and "not valid YAML" in r.stderr and not marker.exists()


PASSWORD = "S3cretPw"


@pytest.mark.parametrize("scheme", ["http", "postgresql"])
@pytest.mark.parametrize(
    "command",
    [("status", "deployments/cancer.yaml", "--json"), ("run", "retrain", "deployments/cancer.yaml")],
)
def test_a_store_password_is_never_printed(
    scheme: str,
    command: tuple[str, ...],
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tracking store that is down (a closed port): our message and the libraries' (MLflow's own repeats the
    request URL with the credentials in it) name the store, masked; `status --json`, the scripts' view, included."""
    from tests.conftest import free_port

    uri = f"{scheme}://u:{PASSWORD}@127.0.0.1:{free_port()}" + ("/mlflow" if scheme == "postgresql" else "")
    for key in STORE_DEFAULTS:
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLOPS_LOCAL_PREFECT", "off")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(project)
    r = invoke_mlops(*command)
    assert r.returncode == 1, r.stderr
    assert PASSWORD not in everything_shown(r, capfd, caplog)
    assert f"{scheme}://u:***@127.0.0.1" in r.stderr  # the store is still named: host, port and user


def test_a_prefect_password_is_never_printed(project: Path, isolated_home: Path) -> None:
    """A real process: its exit code and everything it writes to its own stdout and stderr."""
    from tests.conftest import free_port

    url = f"http://u:{PASSWORD}@127.0.0.1:{free_port()}/api"
    env = {**os.environ, "MLOPS_HOME": str(isolated_home), "PREFECT_API_URL": url}
    r = run_mlops("run", "retrain", "deployments/cancer.yaml", cwd=project, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert "PREFECT_API_URL=http://u:***@127.0.0.1" in r.stderr and "refused the connection" in r.stderr
