"""A team's setup on one machine, loopback only (tests/stack.py): PostgreSQL, a Prefect server on it with an auth
string, an MLflow tracking server on it with proxied artifacts and the basic-auth app, two process workers started
from two copies of the project, each with its own MLOPS_HOME (they share nothing but the two servers).

Both example pipelines are retrained through deployments on both workers, two promotions of one model run at once
(a deployment run on a worker and a CLI run on "another machine"), a monitor runs through its deployment (the
energy-dask one below: a December flight-delays monitor beside it checked nothing more, one flow-run process of
10-17 s CPU); then one champion per model, no duplicate versions, a ledger whose champion chain is
unbroken, every flow run Completed, no file lock used. A client without credentials, one without the Prefect
auth string and one whose MLflow user may only read are refused (exit 1, one paragraph naming the variable) with
nothing written, and no secret appears in any output, log, MLflow param or tag.

A Dask scheduler with one worker process (tests/stack.py, `Stack.start_dask`) is given to both Prefect workers
(MLOPS_DASK_ADDRESS). A third pipeline written by the test (`energy-dask`, ENERGY_SPEC: two candidates, a policy
that retrains on drift) is retrained through its deployment, its candidate fits run on the Dask workers (the
scheduler counts them, the run's summary says so), and its monitor of a summer month drifts: the
`mlops.drift.detected` event starts its retrain deployment through the automation, on either worker; that retrain
is the only flow run the test did not start itself.

Select it with `-m scale_out`.
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

from mlops.cli.project_check import write_project
from mlops.spec import load_spec
from tests.conftest import REPO
from tests.stack import BIN, READER, TEAM, Stack, postgres_bin, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.scale_out]

MODELS = ("flight-delays", "diabetes-progression", "energy-dask")
WINDOW = {"window_start": "2013-06-01", "window_end": "2013-06-15"}  # two weeks: a quick flight-delays fit

# The generated energy data (no download, ~2k rows a month): trained on January, a July batch drifts (temperature,
# humidity: 2 of 5 features), and this policy retrains on drift alone, on the 30 days before the batch's end.
ENERGY_SPEC = """name: energy-dask
data:
  source: {kind: builtin, name: energy_demand}
  target: demand_mw
  time_column: time
  window: {start: 2020-01-01, end: 2020-02-01}
  features: {numeric: [hour, day_of_week, temp, humidity], categorical: [site]}
  split: {strategy: time, holdout_fraction: 0.2, seed: 5}
quality: {suite: expectations/energy_demand.json, on_failure: fail}
model:
  task: regression
  estimator: sklearn.ensemble.HistGradientBoostingRegressor
  params: {max_iter: 30}
  candidates: [{learning_rate: 0.1}, {learning_rate: 0.3}]
  preprocessing: {categorical: {encoding: ordinal}}
registry: {model_name: energy-dask}
promotion: {metric: rmse, min_improvement: 0.05}
monitoring:
  on_drift: retrain
  drift_measure: share
  alert_drift_share: 0.2
  retrain_on: drift
  retrain_window_days: 30
  max_sample_rows: 2000
schedule:
  monitor: {start: "2020-07-01", end: "2020-08-01"}
"""


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
    started = start_stack(tmp_path_factory.mktemp("stack"), lean=True)
    try:
        yield started
    finally:
        started.stop()


def copy_project(dest: Path) -> Path:
    """What a worker machine holds: its own checkout of the project (the package itself is installed)."""
    dest.mkdir(parents=True)
    for name in ("data", "deployments", "expectations", "flows", "tasks", "mlops"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("prefect.yaml", "pyproject.toml"):
        shutil.copy2(REPO / name, dest / name)
    # the test's own pipeline, in this checkout only: its spec, and the deployments it generates
    (dest / "deployments" / "energy_dask.yaml").write_text(ENERGY_SPEC)
    report = write_project(dest, lambda p: (load_spec(p), []))
    assert not report.problems, [p.render() for p in report.problems]
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
    # both Prefect workers' flow runs fit model.candidates there; one Dask worker shows it as well as two did
    dask = stack.start_dask(workers=1)
    for name, folder in (("worker-1", w1), ("worker-2", w2)):
        stack.start_worker(name, folder, {"MLOPS_DASK_ADDRESS": dask})

    # 1. first models of the three pipelines, through their deployments (energy-dask: its candidates on Dask)
    first = run_deployments(
        stack,
        [
            ("retrain/flight-delays-retrain", WINDOW),
            ("retrain/diabetes-progression-retrain", {}),
            ("retrain/energy-dask-retrain", {}),
        ],
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
    # 3. a monitor through its deployment: energy-dask judges July against January, drifts, and its event asks
    # for a retrain
    monitors = run_deployments(stack, [("monitor/energy-dask-monitor", {})])
    wait_final(stack, monitors, 600)
    # 4. the drift-triggered retrain: started by the automation (not by this test), on whichever worker polls first
    triggered = wait_triggered(stack, "retrain/energy-dask-retrain", set(first + second), 180)
    wait_final(stack, [str(triggered.id)], 600)
    wait_final(
        stack, [str(r.id) for r in flow_runs(stack) if r.state and r.state.type.value != "SCHEDULED"], 600
    )

    # every run that ran Completed (the test's server runs no scheduler, so the deployments' own schedules add no
    # future Scheduled runs; any would be left out here)
    runs = [r for r in flow_runs(stack) if r.state and r.state.type.value != "SCHEDULED"]
    assert len(runs) >= 6 and all(r.state.type.value == "COMPLETED" for r in runs), [
        (r.name, r.state.name) for r in runs
    ]
    # and each run of a deployment is one this test started or the drift-triggered retrain (the CLI run on machine
    # 2 has no deployment; runs of the deployments' own schedules that came due meanwhile aside): none unchecked
    ours = {*first, *second, *monitors, str(triggered.id)}
    others = [r for r in runs if r.deployment_id and str(r.id) not in ours and not r.auto_scheduled]
    assert not others, [(r.name, r.deployment_id, r.parameters) for r in others]
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
    _drift_retrain_recorded(stack, mc, triggered)
    _candidates_ran_on_dask(stack, dask, first[2], fits=4)  # 2 candidates, first retrain + triggered retrain

    _refused_clients_write_nothing(stack, w1)
    _no_secret_anywhere(stack, mc, tmp_path, [deployed, cli])
    print(f"scale-out e2e: {time.monotonic() - started:.0f} s for {len(runs)} flow runs")


def _ledger(client: Any, model: str) -> list[dict[str, str]]:
    exp = client.get_experiment_by_name(f"mlops-ledger-{model}")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=1000)
    keys = ("action", "version", "champion_before", "champion_after")
    return [{k: r.data.tags.get(f"mlops.ledger.{k}", "") for k in keys} for r in runs]


def wait_triggered(stack: Stack, deployment: str, ours: set[str], timeout: float) -> Any:
    """The flow run of `deployment` that this test did not start (the drift automation did)."""
    settings, get_client = prefect_client(stack)
    with settings, get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(deployment).id
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in flow_runs(stack) if r.deployment_id == deployment_id and str(r.id) not in ours]
        if found:
            assert len(found) == 1, [(r.name, r.state.name) for r in found]  # one drift event, one retrain
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no run of {deployment} started by the drift event\n{worker_logs(stack)}")
        time.sleep(2)


def _drift_retrain_recorded(stack: Stack, mc: Any, triggered: Any) -> None:
    """The triggered retrain trained on the window the monitor chose and registered a version with its ledger
    entry (whatever the decision)."""
    settings, get_client = prefect_client(stack)
    with settings, get_client(sync_client=True) as client:
        run = client.read_flow_run(triggered.id)
        assert run.state is not None and run.state.type.value == "COMPLETED", run.state
        assert str(run.parameters.get("window_end", "")).startswith("2020-08-01"), run.parameters
        assert str(run.parameters.get("window_start", "")).startswith("2020-07-02"), run.parameters
        versions = [
            v for v in mc.search_model_versions("name = 'energy-dask'")
            if client.read_task_run(mc.get_run(v.run_id).data.tags["mlops.prefect_task_run_id"]).flow_run_id
            == run.id
        ]  # fmt: skip
    assert len(versions) == 1, "the drift-triggered retrain registered no version of energy-dask"
    entries = [e for e in _ledger(mc, "energy-dask") if e["version"] == versions[0].version]
    assert entries, f"no ledger entry for energy-dask v{versions[0].version}"


def _candidates_ran_on_dask(stack: Stack, address: str, first_run: str, fits: int) -> None:
    """The scheduler saw every candidate fit finish on its workers, and the retrain's summary says where."""
    from distributed import Client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    def finished_fits(dask_scheduler: Any) -> int:
        return sum(
            p.state_counts["memory"] for name, p in dask_scheduler.task_prefixes.items() if "fit" in name
        )

    with Client(address, timeout=10) as dask_client:
        assert dask_client.run_on_scheduler(finished_fits) == fits
    settings, get_client = prefect_client(stack)
    with settings, get_client(sync_client=True) as client:
        where = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[first_run]))
        texts = [a.data for a in client.read_artifacts(artifact_filter=where) if a.type == "markdown"]
    assert any(f"2 fits on Dask {address}" in str(t) for t in texts), texts


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
        assert result.returncode == 2, text  # credentials to correct (issue 24), not a server down
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
