"""A team's setup on one machine, loopback only (tests/stack.py): PostgreSQL, a Prefect server on it with an auth
string, an MLflow tracking server on it with proxied artifacts and the basic-auth app, two process workers started
from two copies of the project, each with its own MLOPS_HOME (they share nothing but the two servers).

Both example pipelines are retrained through deployments on both workers, two promotions of one model run at once
(a deployment run on a worker and a CLI run on "another machine"), a monitor runs through its deployment;
then one champion per model, no duplicate versions, a ledger whose champion chain is
unbroken, every flow run Completed, no file lock used. A client without credentials, one without the Prefect
auth string and one whose MLflow user may only read are refused (exit 1, one paragraph naming the variable) with
nothing written, and no secret appears in any output, log, MLflow param or tag.

Select it with `-m scale_out`. Dask: set MLOPS_DASK_ADDRESS in WORKER_EXTRA_ENV (passed to both workers and their
flow runs) to run the candidates on a scheduler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.stack import BIN, READER, TEAM, Stack, postgres_bin, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.scale_out]

WORKER_EXTRA_ENV: dict[str, str] = {}  # the hook for a Dask scheduler: {"MLOPS_DASK_ADDRESS": "tcp://..."}
MODELS = ("flight-delays", "diabetes-progression")
WINDOW = {"window_start": "2013-06-01", "window_end": "2013-06-15"}  # two weeks: a quick flight-delays fit
DECEMBER = {"start": "2013-12-01", "end": "2014-01-01"}  # far from the June training window


def _requirements() -> str | None:
    if postgres_bin() is None:
        return "PostgreSQL binaries missing: run .ci/install-postgres.sh"
    for module in ("psycopg2", "flask_wtf"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} missing: pip install -e '.[dev]' (the [postgres] extra)"
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = _requirements()
    if missing:
        pytest.skip(missing)
    started = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield started
    finally:
        started.stop()


def copy_project(dest: Path) -> Path:
    """What a worker machine holds: its own checkout of the project (the package itself is installed)."""
    dest.mkdir(parents=True)
    for name in ("deployments", "expectations", "flows", "tasks", "mlops"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("prefect.yaml", "pyproject.toml"):
        shutil.copy2(REPO / name, dest / name)
    return dest


def mlops(
    stack: Stack, folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> Any:
    env = env if env is not None else stack.client_env(TEAM)
    env = {**env, "MLOPS_HOME": str(folder / ".mlops"), "COLUMNS": "200"}
    return subprocess.run(
        [str(BIN / "mlops"), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


def prefect_client(stack: Stack) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    return temporary_settings(
        updates={PREFECT_API_URL: stack.prefect_api_url, PREFECT_API_AUTH_STRING: stack.prefect_auth}
    ), get_client


def run_deployments(stack: Stack, runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    from prefect.deployments import run_deployment

    settings, _ = prefect_client(stack)
    with settings:
        return [str(run_deployment(name, parameters=params, timeout=0).id) for name, params in runs]


def flow_runs(stack: Stack) -> list[Any]:
    settings, get_client = prefect_client(stack)
    with settings, get_client(sync_client=True) as client:
        return list(client.read_flow_runs())


def wait_final(stack: Stack, ids: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        runs = {str(r.id): r for r in flow_runs(stack) if str(r.id) in ids}
        if len(runs) == len(ids) and all(r.state and r.state.is_final() for r in runs.values()):
            return runs
        if time.monotonic() > deadline:
            states = {i: (runs[i].state.name if i in runs and runs[i].state else "?") for i in ids}
            raise AssertionError(f"flow runs not final after {timeout:.0f} s: {states}\n{worker_logs(stack)}")
        time.sleep(2)


def worker_logs(stack: Stack) -> str:
    return "\n".join(f"--- {n}\n{stack.log_tail(n, 40)}" for n in ("worker-1", "worker-2"))


def mlflow_as(stack: Stack, user: str) -> Any:
    from mlflow import MlflowClient

    os.environ.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=stack.secrets[user])
    return MlflowClient(stack.mlflow_url, stack.mlflow_url)


def written(client: Any) -> tuple[int, int, dict[str, str]]:
    """(runs, model versions, aliases) on the server: what a refused client must leave unchanged."""
    exps = [e.experiment_id for e in client.search_experiments()]
    runs = len(client.search_runs(exps, max_results=5000)) if exps else 0
    versions, aliases = 0, {}
    for model in client.search_registered_models():
        versions += len(client.search_model_versions(f"name = '{model.name}'"))
        aliases.update({f"{model.name}@{a}": v for a, v in model.aliases.items()})
    return runs, versions, aliases


def test_two_workers_without_a_shared_disk(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    ):  # mlflow_as sets them: restored after
        monkeypatch.delenv(key, raising=False)
    started = time.monotonic()
    w1, w2 = copy_project(tmp_path / "machine-1"), copy_project(tmp_path / "machine-2")
    stack.create_pool()
    deployed = mlops(stack, w1, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    for name, folder in (("worker-1", w1), ("worker-2", w2)):
        stack.start_worker(name, folder, WORKER_EXTRA_ENV)

    # 1. first models of both pipelines, through their deployments
    first = run_deployments(
        stack, [("retrain/flight-delays-retrain", WINDOW), ("retrain/diabetes-progression-retrain", {})]
    )
    # 2. two promotions of one model at once: a deployment run on a worker, a CLI run on machine 2
    second = run_deployments(
        stack,
        [
            ("retrain/flight-delays-retrain", {**WINDOW, "params": {"learning_rate": 0.05}}),
            ("retrain/diabetes-progression-retrain", {}),  # same spec, data, code: no new version
        ],
    )
    cli = mlops(stack, w2, "run", "retrain", "deployments/flight_delays.yaml", "--start", WINDOW["window_start"],
                "--end", WINDOW["window_end"], "--param", "learning_rate=0.2")  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    wait_final(stack, first + second, 600)
    # 3. a monitor through its deployment, judging December against a champion trained on two weeks of June
    (monitor_id,) = run_deployments(stack, [("monitor/flight-delays-monitor", DECEMBER)])
    wait_final(stack, [monitor_id], 600)

    # every run that ran Completed (the deployments' own schedules add future Scheduled runs: not ours)
    runs = [r for r in flow_runs(stack) if r.state and r.state.type.value != "SCHEDULED"]
    assert len(runs) >= 6 and all(r.state.type.value == "COMPLETED" for r in runs), [
        (r.name, r.state.name) for r in runs
    ]
    # both machines ran flows, each in its own folder and MLOPS_HOME; no file lock anywhere (the Prefect limit)
    for folder in (w1, w2):
        assert (folder / ".mlops" / "reports").is_dir(), f"no flow run on {folder.name}\n{worker_logs(stack)}"
        assert not (folder / ".mlops" / "locks").exists()
    settings, get_client = prefect_client(stack)
    with settings, get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name("promote-flight-delays").limit == 1

    mc = mlflow_as(stack, TEAM)
    for model in MODELS:
        versions = mc.search_model_versions(f"name = '{model}'")
        keys = [v.tags.get("mlops.idempotency_key") for v in versions]
        assert len(keys) == len(set(keys)), f"duplicate versions of {model}: {keys}"
        champion = mc.get_model_version_by_alias(model, "champion").version
        chain = [e for e in _ledger(mc, model) if e["champion_before"] != e["champion_after"]]
        assert chain and chain[-1]["champion_after"] == str(champion), (model, champion, chain)
        for before, after in zip(chain, chain[1:], strict=False):
            assert after["champion_before"] == before["champion_after"], (
                f"{model}: ledger chain broken: {chain}"
            )
        for v in versions:  # artifacts went through the server: no client path in any model's source
            assert v.source.startswith(("models:/", "mlflow-artifacts:")), v.source
    assert (
        len(mc.search_model_versions("name = 'flight-delays'")) >= 3
    )  # the first, then the deployment run and the CLI run that promoted at once

    _refused_clients_write_nothing(stack, w1)
    _no_secret_anywhere(stack, mc, tmp_path, [deployed, cli])
    print(f"scale-out e2e: {time.monotonic() - started:.0f} s for {len(runs)} flow runs")


def _ledger(client: Any, model: str) -> list[dict[str, str]]:
    exp = client.get_experiment_by_name(f"mlops-ledger-{model}")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=1000)
    return [
        {k: r.data.tags.get(f"mlops.ledger.{k}", "") for k in ("action", "champion_before", "champion_after")}
        for r in runs
    ]


def _refused_clients_write_nothing(stack: Stack, folder: Path) -> None:
    admin = mlflow_as(stack, "admin")
    before = written(admin)
    cases = {
        "MLFLOW_TRACKING_USERNAME": stack.client_env(None),
        "PREFECT_API_AUTH_STRING": stack.client_env(TEAM, prefect_auth=False),
        "(403 permission denied": stack.client_env(READER),
    }
    for expected, env in cases.items():
        result = mlops(stack, folder, "run", "retrain", "deployments/flight_delays.yaml", "--start", "2013-06-01",
                       "--end", "2013-06-10", env=env)  # fmt: skip
        text = result.stdout + result.stderr
        assert result.returncode == 1, text
        assert expected in text and "Traceback" not in text, text
        assert written(admin) == before, f"a refused client ({expected}) wrote to MLflow:\n{text}"
        for secret in stack.secrets.values():
            assert secret not in text


def _no_secret_anywhere(stack: Stack, client: Any, tmp_path: Path, outputs: list[Any]) -> None:
    texts = [o.stdout + o.stderr for o in outputs]
    texts += [p.read_text(errors="replace") for p in (stack.root / "logs").glob("worker-*.log")]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size < 5e6
              and p.suffix in (".md", ".json", ".txt", ".html", ".log")]  # fmt: skip
    exps = [e.experiment_id for e in client.search_experiments()]
    for r in client.search_runs(exps, max_results=5000):
        texts.append(repr(r.data.params) + repr(r.data.tags))
    for secret in (
        stack.secrets[TEAM],
        stack.secrets[READER],
        stack.secrets["prefect"],
        stack.secrets["admin"],
    ):
        assert not any(secret in t for t in texts), "a credential was written to a log, a report or MLflow"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-m", "scale_out", "-s"]))
