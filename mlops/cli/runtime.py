"""How a command runs: the quiet environment set before any library loads, Prefect's settings for an in-process
run (a server found on this machine, or a temporary one), and the mapping of errors to a one-paragraph message
and an exit code. Exit codes: 0 done, 1 the pipeline or a server stopped, 2 a usage or spec error, 3 drift
(`mlops run monitor`), 130 interrupted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from mlops.cli.render import err
from mlops.errors import MlopsError, Problem, SpecError
from mlops.secrets import mask_log_records

if TYPE_CHECKING:
    from mlops.cli.project_check import CheckReport

QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",  # GX draws a progress bar per validation on stderr
    "DO_NOT_TRACK": "true",
    # A temporary Prefect server starts in 6-12 s, slower when several runs start at once: give it time.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # OpenMP threads sleep when idle instead of spinning: beside a Prefect server on 2 cores, spinning made
    # HistGradientBoosting's fit 10-20x slower (docs/benchmarks.md). Read when scikit-learn loads.
    "OMP_WAIT_POLICY": "PASSIVE",
}


def quiet_environment() -> None:
    """Before any library is imported: no analytics calls (no network here) and no per-validation progress bars."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    mask_log_records()


# --- errors -> messages and exit codes ---------------------------------------------------------------------


def spec_problems(problems: list[Problem]) -> NoReturn:
    for p in problems:
        err.print(p.render(), markup=False)
    # nothing to fix in the spec: the source is down
    if all(p.extra.get("service") == "down" for p in problems):
        fail(1, "the data source did not answer (above); nothing was run. Rerun when it answers.")
    fail(2, f"{len(problems)} problem(s) in the spec; fix them (`mlops validate` checks again) and rerun.")


def fail(code: int, message: str) -> NoReturn:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False)
    raise typer.Exit(code)


def deploy_problems(report: CheckReport) -> NoReturn:
    if report.diff:
        err.print(report.diff, markup=False, highlight=False, end="")
    for p in report.problems:
        err.print(p.render(), markup=False)
    fail(
        2,
        f"{len(report.problems)} problem(s) in the specs under {report.project / 'deployments'} or the "
        f"prefect.yaml they generate; fix them and check again with `mlops deploy --check`.",
    )


@contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    try:
        yield
    except MlopsError as exc:
        if isinstance(exc, SpecError):
            spec_problems(exc.problems)
        err.print("[red]stopped:[/red] ", end="")
        err.print(str(exc), markup=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]: nothing was promoted by this run.")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        from mlops.cli.access import refused
        from tasks.tracking.store import unreachable

        down = unreachable(exc) or refused(exc)
        if down is not None:
            err.print("[red]stopped:[/red] ", end="")
            err.print(str(down), markup=False)
            raise typer.Exit(down.exit_code) from None
        err.print("[red]error:[/red] ", end="")
        err.print(
            f"{type(exc).__name__}: {exc}\n"
            "This is not a known user error; rerun with --debug for the traceback and report it if it persists.",
            markup=False,
        )
        raise typer.Exit(1) from None


@contextmanager
def server_errors() -> Iterator[None]:
    """MlopsError -> its one-paragraph message and exit code; never a traceback for a known failure."""
    for key, value in (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "true")):
        os.environ.setdefault(key, value)
    try:
        yield
    except MlopsError as exc:
        fail(int(getattr(exc, "exit_code", 1)), str(exc))
    except KeyboardInterrupt:
        err.print("interrupted: nothing on the server was changed by this; runs already started go on.")
        raise typer.Exit(130) from None


# --- Prefect for runs in this process --------------------------------------------------------------------


def flow_run(flow: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Run a flow; its result (raising its error) and the flow run's id, for the link to its page."""
    state = flow(*args, return_state=True, **kwargs)
    run_id = state.state_details.flow_run_id
    return state.result(), str(run_id) if run_id else None


def prefect_where(settings: Any) -> str:
    from mlops.cli.local_server import describe, kept_url

    if settings.prefect_api_url and settings.prefect_api_url == kept_url():
        return describe(settings.prefect_api_url)
    return settings.prefect_api_url_shown or "temporary local server"


def prefect_settings(start: bool = True) -> Any:
    """Settings for a run; with no PREFECT_API_URL, a Prefect server already running on this machine is used
    (set before Prefect is imported), else this MLOPS_HOME's kept local server (started now if `start`;
    mlops/cli/local_server.py), else, with MLOPS_KEEP_SERVER=0, the run starts a temporary one."""
    from mlops.settings import find_local_prefect, get_settings

    if not get_settings().prefect_api_url:
        # set but empty (`PREFECT_API_URL= mlops ...`) reads as unset here; Prefect's events worker would fail on it
        os.environ.pop("PREFECT_API_URL", None)
        found = find_local_prefect()
        if not found:
            from mlops.cli.local_server import keep_enabled, use_server

            try:  # a state folder it cannot use, a server that never answers: one paragraph, not a traceback
                found = use_server(start=start) if keep_enabled() else None
            except MlopsError as exc:
                fail(exc.exit_code, str(exc))
        if found:
            os.environ["PREFECT_API_URL"] = found
    return get_settings()


def start_server_early() -> None:
    """For a command that will run a flow, once every usage and spec check has passed (a refused command starts
    nothing): start the kept local server now, when prefect_settings() would start it later, so its start overlaps
    the import of the flow's module (prefect_settings() then waits for it)."""
    from mlops.cli.local_server import keep_enabled, start_early
    from mlops.settings import find_local_prefect, get_settings

    if not get_settings().prefect_api_url and keep_enabled() and not find_local_prefect():
        start_early()


@contextmanager
def prefect_context(settings: Any) -> Iterator[None]:
    """Quiet, fast embedded Prefect: no analytics, no heartbeat thread (it costs ~1 s a run) when no server is set.
    First, the Prefect server and the MLflow store it is configured for must be usable (mlops/cli/preflight.py)."""
    from mlops.cli.preflight import check_services

    check_services(settings)
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from mlops.cli.local_server import kept_url

    updates: dict[Any, Any] = (
        {PREFECT_API_URL: settings.prefect_api_url}
        if settings.prefect_api_url
        else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    )
    if not settings.prefect_api_url and not PREFECT_API_URL.value():
        # no server anywhere (not in the environment, nor in Prefect's profile or settings context): ours, not Prefect's
        updates[PREFECT_API_URL] = temporary_server(settings)
    if settings.prefect_api_url and settings.prefect_api_url == kept_url():
        # our own local server (no automations watch heartbeats there): no ~1 s heartbeat wait at a run's end
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
    quiet = NoTracebackForUserErrors()
    loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in loggers:
        logger.addFilter(quiet)
    from mlops.cli.run_logs import console_once

    try:
        with temporary_settings(updates=updates), console_once():
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def temporary_server(settings: Any) -> str:
    """No server to use (MLOPS_KEEP_SERVER=0): a temporary one of this command's own, recorded and stopped at its
    end however it ends (mlops/cli/temporary_server.py), rather than Prefect's, which a SIGKILL left running."""
    from mlops.cli.temporary_server import start

    try:
        return start(settings.home)
    except MlopsError as exc:
        fail(exc.exit_code, str(exc))


class NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed run with its traceback; for our user errors the one-line message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], MlopsError):
            record.mlops_error = record.exc_info[1]  # for the terminal's filter (run_logs.ConsoleOnce)
            record.exc_info, record.exc_text = None, None
        return True
