"""model.candidates on a Dask cluster (MLOPS_DASK_ADDRESS) give the same scores as on threads; an address where
no scheduler answers stops the run before any work, naming the address and the variable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[Any]:
    """A local Dask cluster of 2 worker processes (one thread each), stopped by the test, also on failure."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _fan_out(project: Path) -> Any:
    from prefect import flow

    from mlops.spec import load_spec
    from tasks import data, parallel, steps, train

    loaded = load_spec(project / "deployments" / "cancer.yaml")
    spec = loaded.spec
    spec = spec.model_copy(
        update={
            "model": spec.model.model_copy(
                update={"params": {"max_iter": 500}, "candidates": [{"C": 0.0005}, {"C": 1.0}, {"C": 0.002}]}
            )
        }
    )

    @flow
    def fan_out() -> Any:
        parts = data.split(data.load(loaded), loaded)
        shared = train.FitData.of(
            data.validation_split(parts, loaded), parts.features, spec
        )  # target, seed 3, roc_auc
        return parallel.fit_candidates(steps.fit_candidate, shared, train.candidate_models(spec.model))

    return fan_out()


def test_candidates_on_dask_worker_processes_score_exactly_as_on_threads(
    project: Path, dask_scheduler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_DASK_ADDRESS", raising=False)
    threads = _fan_out(project)
    address = dask_scheduler.scheduler.address
    monkeypatch.setenv("MLOPS_DASK_ADDRESS", address)
    before = _fits_seen(dask_scheduler)
    on_dask = _fan_out(project)

    assert threads.where == "3 fits on 3 threads"
    assert on_dask.where == f"3 fits on Dask {address}"
    assert [(r.params, r.metric, r.value) for r in on_dask.results] == [
        (r.params, r.metric, r.value) for r in threads.results
    ]
    assert len({r.value for r in threads.results}) > 1  # three different models, not one result thrice
    assert _fits_seen(dask_scheduler) - before == 3  # the fits ran on the cluster's workers


def _fits_seen(client: Any) -> int:
    """Candidate fits the Dask scheduler saw finish (their keys are named after Prefect's task function)."""

    def count(dask_scheduler: Any) -> int:
        return sum(
            p.state_counts["memory"]  # tasks that finished (each passes through "memory" once)
            for name, p in dask_scheduler.task_prefixes.items()
            if "fit" in name
        )

    return int(client.run_on_scheduler(count))


def _with_candidates(project: Path) -> Path:
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(
        spec.read_text().replace(
            "params: {C: 1.0, max_iter: 500}", "params: {max_iter: 500}\n  candidates: [{C: 0.1}, {C: 1.0}]"
        )
    )
    return spec


def test_a_retrain_on_dask_says_where_its_candidates_ran(
    project: Path, dask_scheduler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.retrain import retrain
    from tasks.report import candidate_lines, summary_markdown

    address = dask_scheduler.scheduler.address
    monkeypatch.setenv("MLOPS_DASK_ADDRESS", address)
    before = _fits_seen(dask_scheduler)
    result = retrain(str(_with_candidates(project)))
    assert result.candidates_ran_on == f"2 fits on Dask {address}"
    assert candidate_lines(result)[0].startswith(
        f"Candidates: 2 trained (2 fits on Dask {address}); candidate #"
    )
    assert f"2 fits on Dask {address}" in summary_markdown(result)
    assert _fits_seen(dask_scheduler) - before == 2
    assert result.version == "1"


def test_an_unreachable_dask_address_stops_the_retrain_before_any_work(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.reach import TRIES, ServiceDown
    from mlops.settings import get_settings

    port = free_port()  # nothing listens there
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    spec = _with_candidates(project)
    monkeypatch.setenv("MLOPS_DASK_ADDRESS", f"tcp://127.0.0.1:{port}")
    monkeypatch.setenv("MLOPS_CONNECT_TIMEOUT_SECONDS", "2")  # pauses of 0.8 and 1.2 s, not 2 and 3
    with pytest.raises(ServiceDown) as stopped:
        retrain(str(spec))
    message = str(stopped.value)
    assert f"MLOPS_DASK_ADDRESS=tcp://127.0.0.1:{port}" in message and f"tried {TRIES} times" in message
    assert stopped.value.exit_code == 1 and "\n" not in message
    uri = get_settings().tracking_uri
    client = MlflowClient(uri, uri)  # the registry too (its default is the last one set in this process)
    assert client.search_registered_models() == []
    experiment = client.get_experiment_by_name("cancer")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []


def test_a_malformed_dask_address_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.parallel import check_cluster

    monkeypatch.setenv("MLOPS_DASK_ADDRESS", "127.0.0.1")  # no port
    with pytest.raises(Exception) as refused:
        check_cluster()
    assert getattr(refused.value, "exit_code", None) == 2 and "tcp://host:port" in str(refused.value)


def test_dask_without_a_prefect_server_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary Prefect server inside the flow run's process cannot be reached by the Dask workers."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.parallel import check_cluster

    monkeypatch.setenv("MLOPS_DASK_ADDRESS", "tcp://127.0.0.1:8786")
    with temporary_settings(restore_defaults={PREFECT_API_URL}), pytest.raises(Exception) as refused:
        check_cluster()
    message = str(refused.value)
    assert getattr(refused.value, "exit_code", None) == 2 and "PREFECT_API_URL" in message, message
    assert "MLOPS_DASK_ADDRESS=tcp://127.0.0.1:8786" in message


def test_a_flow_loaded_from_its_file_fits_its_candidates_on_dask(
    project: Path, dask_scheduler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment's flow run loads flows/retrain.py by its path (prefect.yaml's entrypoint): the module is then
    `retrain` (or `__prefect_loader_...__`), which no Dask worker can import, and the flow travels with each
    fit's Prefect context. The fits must still run there."""
    from prefect.flows import load_flow_from_entrypoint

    from tests.conftest import REPO

    retrain = load_flow_from_entrypoint(f"{REPO / 'flows' / 'retrain.py'}:retrain")
    assert "." not in retrain.fn.__module__  # loaded as a script, as a worker loads it
    address = dask_scheduler.scheduler.address
    monkeypatch.setenv("MLOPS_DASK_ADDRESS", address)
    before = _fits_seen(dask_scheduler)
    result = retrain(str(_with_candidates(project)))
    assert result.candidates_ran_on == f"2 fits on Dask {address}"
    assert _fits_seen(dask_scheduler) - before == 2
