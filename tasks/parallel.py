"""Where the parallel work runs: model.candidates fan out on threads of the flow's task runner (as always), or on
an existing Dask cluster through prefect-dask's DaskTaskRunner when MLOPS_DASK_ADDRESS=tcp://host:port is set.

The only module that knows Dask. prefect_dask (and dask, distributed) are imported only when the variable is set,
so nothing heavy is imported otherwise. The seeds travel with each candidate, so the result is the same wherever
the fits run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlops.errors import MlopsError, PipelineStopped
from mlops.reach import Kind, reach, socket_failure, unreached_error

if TYPE_CHECKING:
    from mlops.spec.schema import Model
    from tasks.search import Fitter
    from tasks.train import CandidateResult, FitData

DASK_ADDRESS_ENV = "MLOPS_DASK_ADDRESS"


class DaskSettingError(MlopsError):
    """MLOPS_DASK_ADDRESS is not an address a Dask client can use: a usage error, fixed in the environment."""

    exit_code = 2


def dask_address() -> str | None:
    """The Dask scheduler's address from MLOPS_DASK_ADDRESS, or None (threads) when unset or empty."""
    from mlops.settings import get_settings

    value = get_settings().dask_address
    return value.strip() or None if value else None


def _host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise DaskSettingError(
            f"{DASK_ADDRESS_ENV}={address!r} is not a Dask scheduler address: expected tcp://host:port (e.g. "
            f"tcp://127.0.0.1:8786, as printed by `dask scheduler`). Fix the variable, or unset it to train the "
            "candidates on threads of this process."
        )
    return parts.hostname, port


def check_cluster(address: str | None = None) -> str | None:
    """Refuse, before any work, a MLOPS_DASK_ADDRESS that is malformed or set without a Prefect server (exit 2),
    or where no scheduler answers (exit 1). Returns the address (None: threads)."""
    address = address or dask_address()
    if address is None:
        return None
    host, port = _host_port(address)
    if not _prefect_api_url():
        raise DaskSettingError(
            f"{DASK_ADDRESS_ENV}={address} needs a Prefect server: each fit is a Prefect task run that the Dask "
            "worker reports to the flow run's server, and a temporary server inside this process cannot be "
            "reached from there (each worker would start its own). Run one (`mlops serve`, or `prefect server "
            f"start`) and set PREFECT_API_URL, or unset {DASK_ADDRESS_ENV} to train the candidates on threads."
        )
    unreached = reach(_handshake(address, host, port), _dask_failure)
    if unreached is not None:
        raise unreached_error(
            "Dask scheduler",
            DASK_ADDRESS_ENV,
            address,
            unreached,
            _start_it(address, host, port) + ", then rerun",
            f"correct {DASK_ADDRESS_ENV}, or unset it to train the candidates on threads of this process",
        )
    return address


def _start_it(address: str, host: str, port: int) -> str:
    return (
        f"start the scheduler and its workers (`dask scheduler --host {host} --port {port}`, then `dask worker "
        f"{_normalised(address)}` on each worker machine, with this project's package installed), or unset "
        f"{DASK_ADDRESS_ENV} to train the candidates on threads of this process"
    )


def _handshake(address: str, host: str, port: int) -> Any:
    """One try: a TCP connect (a closed port is refused at once), then Dask's own comm handshake, bounded: a port
    that accepts and never answers would otherwise hold distributed's handshake (and DaskTaskRunner) forever."""

    def attempt(timeout: float) -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        async def shake() -> None:
            from distributed.comm import connect  # heavy: only when a cluster is asked for

            comm = await asyncio.wait_for(connect(_normalised(address), timeout=timeout), timeout)
            await comm.close()

        with ThreadPoolExecutor(1) as pool:  # its own event loop, whatever runs in this thread
            pool.submit(asyncio.run, shake()).result()

    return attempt


def _dask_failure(exc: BaseException) -> tuple[Kind, str]:
    if "timed out" in str(exc).lower():  # distributed's "Timed out trying to connect to ..."
        return "silent", ""
    return socket_failure(exc) or ("down", f"{type(exc).__name__}: {exc}")


def _unreachable(address: str, exc: BaseException) -> PipelineStopped:
    host, port = _host_port(address)
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return PipelineStopped(
        f"No Dask scheduler answers at {address} ({DASK_ADDRESS_ENV}): {reason}. The candidates of "
        f"model.candidates would run there, so nothing was trained or registered. {_start_it(address, host, port)}."
    )


def _prefect_api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def _normalised(address: str) -> str:
    return address if "://" in address else f"tcp://{address}"


@dataclass(frozen=True)
class FanOut:
    """The candidates' results, in model.candidates order, and where they ran (for the summary)."""

    results: list[CandidateResult]
    where: str  # "3 fits on Dask tcp://127.0.0.1:8786" or "3 fits on 3 threads"


def fit_candidates(fit_task: Any, data: FitData, models: list[Model]) -> FanOut:
    """Fit every candidate concurrently with the Prefect task `fit_task` (tasks.steps.fit_candidate), inside a
    flow run: on the Dask cluster at MLOPS_DASK_ADDRESS when set, else on the flow's own thread pool."""
    address = check_cluster()
    params = [{"data": data, "model": m} for m in models]
    fits = f"{len(models)} fit{'s' if len(models) != 1 else ''}"
    if address is None:
        futures = [fit_task.submit(**p) for p in params]
        return FanOut([f.result() for f in futures], f"{fits} on {_threads(len(models))} threads")
    address = _normalised(address)
    with _dask_runner(address) as runner:
        dask_futures = [runner.submit(fit_task, parameters=p) for p in params]
        results = [f.result() for f in dask_futures]
    return FanOut(results, f"{fits} on Dask {address}")


@contextmanager
def _dask_runner(address: str) -> Iterator[Any]:
    """prefect-dask's DaskTaskRunner attached to the cluster at `address`, the flow's script pickled by value."""
    from prefect_dask import DaskTaskRunner  # heavy (dask, distributed): only when a cluster is asked for

    with ExitStack() as held:
        held.enter_context(_flow_script_by_value())
        try:
            runner = held.enter_context(DaskTaskRunner(address=address))
        except (OSError, TimeoutError) as exc:  # the scheduler went away since check_cluster
            raise _unreachable(address, exc) from None
        yield runner


@contextmanager
def trial_fitter(fit_task: Any, data: FitData, model: Model, parallel: int) -> Iterator[Fitter]:
    """model.search's Fitter (tasks.search): starts one trial's fit, its values merged onto the spec's model, as a
    run of the Prefect task `fit_task` (tasks.steps.fit_trial) where fit_candidates fits (the flow's threads, or
    the Dask cluster at MLOPS_DASK_ADDRESS, held open for the whole search); each gives back the trial's
    (validation score, fit seconds, error, loss curve, pruned round). At most `parallel` run at once."""
    from tasks.search import Fitter
    from tasks.train import trial_models

    def started(future: Any) -> Any:
        def wait() -> Any:
            r = future.result()
            return (r.value, r.fit_seconds, r.error, r.curve, r.pruned_at)

        return wait

    def parameters(values: dict[str, Any], prune: Any) -> dict[str, Any]:
        (m,) = trial_models(model, [values])
        return {"data": data, "model": m, **({"prune": prune} if prune is not None else {})}

    address = check_cluster()
    if address is None:
        yield Fitter(
            lambda values, prune: started(fit_task.submit(**parameters(values, prune))),
            f"on {_threads(parallel)} threads",
        )
        return
    address = _normalised(address)
    with _dask_runner(address) as runner:
        yield Fitter(
            lambda values, prune: started(runner.submit(fit_task, parameters=parameters(values, prune))),
            f"on Dask {address}",
        )


@contextmanager
def _flow_script_by_value() -> Iterator[None]:
    """Each fit carries the flow run's context, the flow included. A deployment of a prefect.yaml written before the
    entrypoints named modules loads its flow from the entrypoint's file (flows/retrain.py becomes the module
    `retrain`, or `__prefect_loader_...__`), a module no
    Dask process can import: pickle that module by value while the fits are submitted and run, as Prefect's own
    bundles do. A flow imported from a package (flows.retrain, the CLI's) is left as it is."""
    import sys

    import cloudpickle
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    fn = getattr(getattr(context, "flow", None), "fn", None)
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    if module is None or "." in module.__name__ or getattr(module, "__file__", None) is None:
        yield
        return
    cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def _threads(n: int) -> int:
    """The threads the flow's ThreadPoolTaskRunner gives n submissions (one each unless a maximum is set)."""
    from prefect.settings import get_current_settings

    limit = get_current_settings().tasks.runner.thread_pool_max_workers
    return min(n, limit) if limit else n
