"""Issue 24, "no wait without end": every dependency is reached before the work with a connect timeout and the
bounded retry of mlops/reach.py, against real things on 127.0.0.1: a closed port (bound, then closed), a silent
port (it listens, the kernel accepts, nobody ever answers), a real PostgreSQL refusing a wrong password, a real
Dask handshake. The user reads the variable, the address without its password, what happened and the tries; the
command's exit code is 1 for a service down, 2 for credentials to correct. The closed port and the refused password
run as users run them (run_mlops: a real process's exit code); their `timeout` is only a guard against the old
minutes-long wait, never a timing assertion. The silent services' `mlops run retrain` runs in this process
(invoke_mlops: the same command and message, no interpreter started to import the libraries again).

The policy's connect timeout is a setting (MLOPS_CONNECT_TIMEOUT_SECONDS): the tests of a silent service set its
least, 2 s (a silent port is told after ~8 s instead of ~20 s); the silent MLflow server keeps the default."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.reach import CONNECT_TIMEOUT_SECONDS, LEAST_CONNECT_TIMEOUT_SECONDS, TRIES
from tests.conftest import free_port, invoke_mlops, run_mlops, running_postgres

SPEC = "deployments/cancer.yaml"
GUARD = 120  # seconds: far above the policy's worst case (~20 s), far below the old 105-180 s
SHORT = LEAST_CONNECT_TIMEOUT_SECONDS  # the tests of a silent service wait the least the setting allows
SHORTER = {"MLOPS_CONNECT_TIMEOUT_SECONDS": f"{SHORT:g}"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that listens and never accepts nor answers: the kernel completes the TCP handshake, then nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    return {**env, "MLOPS_HOME": str(home), **extra}


def _retrain(project: Path, tmp_path: Path, **extra: str) -> tuple[int, str]:
    home = tmp_path / "home"
    r = run_mlops("run", "retrain", SPEC, cwd=project, env=_env(home, **extra), timeout=GUARD)
    assert "Traceback" not in r.stderr, r.stderr
    assert not (home / "mlflow.db").exists()  # nothing was tracked (nor the embedded store created)
    assert not (home / "reports").exists()  # no quality gate ran: no data was loaded
    return r.returncode, " ".join(r.stderr.split())


def _retrain_here(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str
) -> tuple[int, str]:
    """`_retrain` in this process (invoke_mlops: the same command, exit code and message, without a new interpreter
    importing the libraries). The real process's exit codes stay covered here: 1 by
    test_a_closed_postgresql_port_is_said_after_the_policys_tries, 2 by
    test_a_refused_postgresql_password_is_not_retried_and_exits_2."""
    home = tmp_path / "home"
    for name in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"MLOPS_HOME": str(home), **extra}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)
    r = invoke_mlops("run", "retrain", SPEC)
    assert "Traceback" not in r.stderr, r.stderr
    assert not (home / "mlflow.db").exists()  # nothing was tracked (nor the embedded store created)
    assert not (home / "reports").exists()  # no quality gate ran: no data was loaded
    return r.returncode, " ".join(r.stderr.split())


def test_a_closed_postgresql_port_is_said_after_the_policys_tries(project: Path, tmp_path: Path) -> None:
    port = free_port()
    uri = f"postgresql://mlflow:s3cret@127.0.0.1:{port}/mlflow"
    code, err = _retrain(project, tmp_path, MLFLOW_TRACKING_URI=uri, **SHORTER)
    assert code == 1, err
    assert f"MLFLOW_TRACKING_URI=postgresql://mlflow:***@127.0.0.1:{port}/mlflow" in err, err
    assert "refused the connection" in err and f"tried {TRIES} times over" in err, err
    assert "start the database" in err and "Nothing was run." in err, err
    assert "s3cret" not in err


def test_a_silent_postgresql_port_is_said_after_the_policys_tries(
    project: Path, tmp_path: Path, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (_retrain_here): the closed port's test above runs the same command as a real process."""
    uri = f"postgresql://mlflow:s3cret@127.0.0.1:{silent_port}/mlflow"
    code, err = _retrain_here(project, tmp_path, monkeypatch, MLFLOW_TRACKING_URI=uri, **SHORTER)
    assert code == 1, err
    assert f"MLFLOW_TRACKING_URI=postgresql://mlflow:***@127.0.0.1:{silent_port}/mlflow" in err, err
    assert f"accepted the connection but did not answer within {SHORT:g} s" in err, err
    assert f"tried {TRIES} times over" in err and "s3cret" not in err, err


def test_a_silent_mlflow_server_is_said_after_the_policys_tries(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (the command around it is the same as for PostgreSQL above): MLflow's HTTP client waited 60 s
    for each of its 3 tries, per request. The one silent service waited out with the default connect timeout."""
    from mlops.reach import ServiceDown
    from tasks.tracking.store import client

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent_port}")
    with pytest.raises(ServiceDown) as down:
        client()
    err = str(down.value)
    assert f"MLflow tracking server at MLFLOW_TRACKING_URI=http://127.0.0.1:{silent_port}" in err, err
    assert (
        f"did not answer within {CONNECT_TIMEOUT_SECONDS:g} s" in err and f"tried {TRIES} times over" in err
    ), err


def test_a_silent_prefect_api_is_said_after_the_policys_tries(
    project: Path, tmp_path: Path, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (_retrain_here); a real process's exit 1 for a service down: the closed PostgreSQL port's test."""
    url = f"http://127.0.0.1:{silent_port}/api"
    code, err = _retrain_here(project, tmp_path, monkeypatch, PREFECT_API_URL=url, **SHORTER)
    assert code == 1, err
    assert f"Prefect server at PREFECT_API_URL=http://127.0.0.1:{silent_port}/api" in err, err
    assert (
        f"did not answer within {SHORT:g} s" in err
        and f"tried {TRIES} times over" in err
        and "unset it" in err
    ), err


# --- a real PostgreSQL: a wrong password is refused once, never retried ---------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A real PostgreSQL on loopback whose user `postgres` needs the password 'right-one'; yields port and log."""
    with running_postgres(tmp_path_factory.mktemp("pg-stack"), ["mlflow"], password="right-one") as stack:
        assert stack._pg_data is not None
        yield stack.pg_port, stack._pg_data / "pg.log"


def test_a_refused_postgresql_password_is_not_retried_and_exits_2(
    project: Path, tmp_path: Path, postgres: tuple[int, Path]
) -> None:
    port, log = postgres
    failures_before = log.read_text().count("password authentication failed")
    uri = f"postgresql://postgres:wrong-one@127.0.0.1:{port}/mlflow"
    code, err = _retrain(project, tmp_path, MLFLOW_TRACKING_URI=uri)
    assert code == 2, err
    assert f"MLFLOW_TRACKING_URI=postgresql://postgres:***@127.0.0.1:{port}/mlflow" in err, err
    assert 'refused the credentials (password authentication failed for user "postgres")' in err, err
    assert "not retried" in err and "correct the user, password or database name" in err, err
    assert "wrong-one" not in err
    # the server saw one attempt, not MLflow's ten
    assert log.read_text().count("password authentication failed") == failures_before + 1


def test_the_right_password_and_a_missing_database_against_real_postgresql(
    postgres: tuple[int, Path],
) -> None:
    from mlops.reach import ServiceRefused
    from tasks.tracking.preflight import reach_store

    port, _ = postgres
    reach_store(f"postgresql://postgres:right-one@127.0.0.1:{port}/mlflow")  # reached: no error
    with pytest.raises(ServiceRefused) as refused:
        reach_store(f"postgresql://postgres:right-one@127.0.0.1:{port}/nosuchdb")
    message = str(refused.value)
    assert 'database "nosuchdb" does not exist' in message and "right-one" not in message


# --- Dask: the scheduler's own handshake, bounded --------------------------------------------------------------


def test_a_silent_dask_scheduler_port_fails_in_seconds_before_any_work(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain TCP connect succeeds on a silent port; distributed's handshake then waited without end."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from mlops.reach import ServiceDown
    from tasks.parallel import check_cluster

    monkeypatch.setenv("MLOPS_DASK_ADDRESS", f"tcp://127.0.0.1:{silent_port}")
    monkeypatch.setenv("MLOPS_CONNECT_TIMEOUT_SECONDS", f"{SHORT:g}")
    with (
        temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}),
        pytest.raises(ServiceDown) as down,
    ):
        check_cluster()
    message = str(down.value)
    assert f"Dask scheduler at MLOPS_DASK_ADDRESS=tcp://127.0.0.1:{silent_port}" in message
    assert f"did not answer within {SHORT:g} s" in message and f"tried {TRIES} times over" in message
    assert "dask scheduler --host 127.0.0.1" in message and down.value.exit_code == 1


# --- commands that talk to the Prefect server without running a flow ------------------------------------------


def _invoke(project: Path, monkeypatch: pytest.MonkeyPatch, api_url: str, *args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from mlops.cli import app

    monkeypatch.chdir(project)
    monkeypatch.setenv("PREFECT_API_URL", api_url)
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception
    )
    return result.exit_code, " ".join(result.stderr.split())


def test_trigger_on_a_silent_prefect_server_is_said_after_the_policys_tries(
    project: Path, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect's client waited its request timeout (60 s) on each of its retries."""
    api_url = f"http://127.0.0.1:{silent_port}/api"
    monkeypatch.setenv("MLOPS_CONNECT_TIMEOUT_SECONDS", f"{SHORT:g}")
    code, err = _invoke(project, monkeypatch, api_url, "trigger", "retrain", SPEC)
    assert code == 1, err
    assert (
        f"Prefect server at PREFECT_API_URL={api_url}" in err and f"did not answer within {SHORT:g} s" in err
    ), err
    assert f"tried {TRIES} times over" in err, err


def test_approve_on_a_closed_prefect_port_is_said_after_the_policys_tries(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("MLOPS_CONNECT_TIMEOUT_SECONDS", f"{SHORT:g}")
    code, err = _invoke(project, monkeypatch, api_url, "approve", SPEC)
    assert code == 1, err
    assert f"Prefect server at PREFECT_API_URL={api_url} refused the connection" in err, err
    assert f"tried {TRIES} times over" in err, err
