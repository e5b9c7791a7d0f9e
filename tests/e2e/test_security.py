"""Secrets in the environment never reach logs, MLflow or reports; a spec never runs code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import cli_env, invoke_mlops, run_mlops

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-Zq8wY1-never-log-me"


def test_secrets_in_the_environment_are_not_written_anywhere(project: Path, isolated_home: Path) -> None:
    env = cli_env(isolated_home, MLFLOW_TRACKING_PASSWORD=SECRET, AWS_SECRET_ACCESS_KEY=SECRET,
                  DATABASE_PASSWORD=SECRET)  # fmt: skip
    r = run_mlops("run", "retrain", "deployments/cancer.yaml", cwd=project, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
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
    scheme: str, command: tuple[str, ...], project: Path, isolated_home: Path
) -> None:
    """A tracking store that is down (a closed port): our message and the libraries' (MLflow's own repeats the
    request URL with the credentials in it) name the store, masked; `status --json`, the scripts' view, included."""
    from tests.conftest import free_port

    uri = f"{scheme}://u:{PASSWORD}@127.0.0.1:{free_port()}" + ("/mlflow" if scheme == "postgresql" else "")
    env = {
        **os.environ,
        "MLOPS_HOME": str(isolated_home),
        "MLFLOW_TRACKING_URI": uri,
        "MLOPS_LOCAL_PREFECT": "off",
    }
    env.pop("PREFECT_API_URL", None)
    r = run_mlops(*command, cwd=project, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert f"{scheme}://u:***@127.0.0.1" in r.stderr  # the store is still named: host, port and user


def test_a_prefect_password_is_never_printed(project: Path, isolated_home: Path) -> None:
    from tests.conftest import free_port

    url = f"http://u:{PASSWORD}@127.0.0.1:{free_port()}/api"
    env = {**os.environ, "MLOPS_HOME": str(isolated_home), "PREFECT_API_URL": url}
    r = run_mlops("run", "retrain", "deployments/cancer.yaml", cwd=project, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert "PREFECT_API_URL=http://u:***@127.0.0.1" in r.stderr and "refused the connection" in r.stderr
