"""`mlops serve`, `mlops deploy [--check]`, `mlops trigger retrain|monitor SPEC`: the Prefect server side.

Registered in mlops/cli.py; also runs on its own (`python -m mlops.cli_deploy ...`). Prefect is imported
inside the commands (through mlops.deploy's functions), so `mlops --help` stays instant.

Exit codes: 0 done, 1 a server, worker, deploy or run failed, 2 a usage or spec error.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mlops.deploy import CheckReport

app = typer.Typer(
    help="Prefect server side: run the scheduled system locally, deploy, trigger deployment runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
trigger_app = typer.Typer(
    help="Start a run of a pipeline's deployment on the Prefect server (needs PREFECT_API_URL).",
    no_args_is_help=True,
)
app.add_typer(trigger_app, name="trigger")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SpecArg = Annotated[Path, typer.Argument(help="The pipeline spec, e.g. deployments/diabetes.yaml")]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait for the run to finish; print its state and artifacts.")
]
TimeoutOpt = Annotated[float, typer.Option(help="With --wait: give up waiting after this many seconds.")]
DeploymentOpt = Annotated[
    str | None, typer.Option(help="The deployment's name, when several run the same spec.")
]


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the Prefect server and UI on 127.0.0.1.")] = 4200,
    prefect_home: Annotated[
        Path | None,
        typer.Option(help="The server's state (SQLite DB, logs). Default: <MLOPS_HOME or .mlops>/prefect."),
    ] = None,
    worker: Annotated[
        bool, typer.Option(help="Start a worker for each work pool (--no-worker: run your own).")
    ] = True,
) -> None:
    """Run the scheduled system locally: a Prefect server with its UI on 127.0.0.1, the work pools, every
    deployment in prefect.yaml (schedules and drift triggers), and a worker that runs them. Ctrl-C stops it all;
    the next start finds the same runs, schedules and history.

    Exits 0 after a clean stop, 1 when the server, deploy or worker fails, 2 when prefect.yaml has problems.
    """
    from mlops import deploy as d

    with _errors():
        project = d.find_project()
        report = d.check_project(project)
        if report.problems:
            _report_problems(report)
        home = (prefect_home or d.default_home(project) / "prefect").resolve()
        api_url = d.api_url_for(port)
        ui_url = d.ui_url_for(api_url)
        if d.port_in_use(port):
            what = "a Prefect server answers there" if d.healthy(api_url) else "another program listens there"
            raise d.ServeError(
                f"port {port} on 127.0.0.1 is in use ({what}). If it is an earlier `mlops serve`, use that one or "
                f"stop it (Ctrl-C in its terminal); otherwise pick another port with --port."
            )
        if os.environ.get("PREFECT_API_URL") not in (None, "", api_url):
            out.print(f"Note: PREFECT_API_URL is {os.environ['PREFECT_API_URL']}; this server is {api_url}.")
        pools = sorted({i.pool for i in report.deployments if i.pool})
        log_path = home / "server.log"
        server = worker_procs = None
        with d.interrupts():
            try:
                out.print(f"Starting the Prefect server on {ui_url} (state: {home}) ...")
                server = d.start_server(port, home, log_path)
                took = d.wait_healthy(api_url, server, log_path)
                out.print(f"Prefect server ready in {took:.1f} s (log: {log_path})")
                created, other = d.ensure_process_pools(api_url, pools)
                for name in created:
                    out.print(f"Created work pool '{name}' (process)")
                for name in other:
                    out.print(
                        f"Note: work pool {name} is not a process pool; `mlops serve` starts no worker for it."
                    )
                t0 = time.monotonic()
                d.deploy_all(project, api_url)
                out.print(f"Deployed prefect.yaml in {time.monotonic() - t0:.1f} s:")
                _print_deployments(d.deployment_rows(api_url))
                local = [p for p in pools if all(not o.startswith(f"{p} (") for o in other)]
                worker_procs = [d.start_worker(project, api_url, p) for p in local] if worker else []
                for name in d.wait_pools_ready(api_url, local if worker else []):
                    out.print(f"Note: the worker for '{name}' has not reported in yet; its output is above.")
                _print_next(ui_url, api_url, local if worker else [], project)
                _supervise(server, worker_procs, log_path)
            except KeyboardInterrupt:
                out.print("\nStopping the worker and the server ...")
            finally:
                d.stop_all([*(worker_procs or []), server])
        out.print(f"Stopped. The state stays in {home}; `mlops serve` picks it up again.")


def _supervise(server: Any, workers: list[Any], log_path: Path) -> None:
    """Wait for Ctrl-C; a child that dies on its own stops everything with exit 1."""
    from mlops.deploy import ServeError
    from mlops.deploy import tail as d_tail

    while True:
        time.sleep(1)
        if server.poll() is not None:
            raise ServeError(
                f"the Prefect server stopped on its own (exit {server.returncode}); its log, {log_path}, "
                f"ends with:\n{d_tail(log_path)}"
            )
        for w in workers:
            if w.poll() is not None:
                raise ServeError(f"the worker stopped on its own (exit {w.returncode}); its output is above.")


@app.command()
def deploy(
    check: Annotated[
        bool, typer.Option("--check", help="Only check prefect.yaml and the specs it runs; deploy nothing.")
    ] = False,
) -> None:
    """Check every deployment in prefect.yaml (entrypoint and flow function, spec and its data, cron strings,
    trigger events, work pool), then deploy them all to the server in PREFECT_API_URL.

    Exits 0 when deployed (or, with --check, when all is well), 2 on problems (all listed at once), 1 when the
    deploy fails.
    """
    from mlops import deploy as d

    with _errors():
        project = d.find_project()
        report = d.check_project(project)
        if report.problems:
            _report_problems(report)
        _print_checked(report)
        if check:
            return
        api_url = d.require_api_url()
        missing = d.missing_pools(api_url, sorted({i.pool for i in report.deployments if i.pool}))
        for name in missing:
            out.print(
                f"Note: work pool '{name}' does not exist on {api_url}; its runs wait until it does: "
                f"prefect work-pool create {name} --type process"
            )
        t0 = time.monotonic()
        d.deploy_all(project, api_url)
        out.print(f"Deployed to {api_url} in {time.monotonic() - t0:.1f} s:")
        _print_deployments(d.deployment_rows(api_url))
        out.print(f"Prefect UI: {d.ui_url_for(api_url)}/deployments", markup=False)


@trigger_app.command("retrain")
def trigger_retrain(
    spec: SpecArg,
    start: Annotated[str | None, typer.Option(help="Train on data from this time on (window_start)")] = None,
    end: Annotated[str | None, typer.Option(help="... up to this time, excluded (window_end)")] = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 3600,
    deployment: DeploymentOpt = None,
) -> None:
    """Start a run of the retrain deployment that runs SPEC, on the Prefect server in PREFECT_API_URL.

    Exits 0 when the run was created (with --wait: when it Completed), 1 when it failed or the server is
    unreachable, 2 when there is no such deployment or no server configured.
    """
    params = {k: v for k, v in {"window_start": start, "window_end": end}.items() if v is not None}
    _trigger("retrain", spec, params, wait, timeout, deployment)


@trigger_app.command("monitor")
def trigger_monitor(
    spec: SpecArg,
    batch: Annotated[
        str | None, typer.Option(help="A CSV or Parquet batch file (or a glob), as the worker sees it")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Or: a window of the spec's source, from (ISO date)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="... up to, excluded (ISO date)")] = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 3600,
    deployment: DeploymentOpt = None,
) -> None:
    """Start a run of the monitor deployment that runs SPEC (default batch: the deployment's own parameters).

    Exits 0 when the run was created (with --wait: when it Completed), 1 when it failed or the server is
    unreachable, 2 when there is no such deployment or no server configured.
    """
    params = {k: v for k, v in {"batch": batch, "start": start, "end": end}.items() if v is not None}
    _trigger("monitor", spec, params, wait, timeout, deployment)


def _trigger(
    flow: str, spec: Path, params: dict[str, Any], wait: bool, timeout: float, deployment: str | None
) -> None:
    from mlops import deploy as d

    with _errors():
        d.require_api_url()
        if not spec.is_file():
            raise d.UsageError(
                f"{spec}: no such spec file; give the path of a spec, e.g. deployments/diabetes.yaml."
            )
        target = d.find_deployment(flow, spec, deployment)
        run = d.start_run(target, params)
        url = d.flow_run_url(run.id)
        shown = f" with {params}" if params else ""
        out.print(f"Started flow run '{run.name}' of {target.full_name}{shown}", markup=False)
        out.print(f"  {url}", markup=False)
        if d.pool_has_worker(target.pool) is False:
            out.print(
                f"Note: no worker has polled work pool '{target.pool}' lately; the run waits for one "
                f"(`mlops serve`, or `prefect worker start --pool {target.pool}` in the project folder)."
            )
        if not wait:
            return
        final = d.wait_for(run.id, timeout, lambda state, t: out.print(f"  {t:6.1f} s  {state}"))
        state = final.state
        if state is None or not state.is_final():
            raise d.ServeError(
                f"the run is still {state.name if state else 'unknown'} after {timeout:.0f} s; it goes on on the "
                f"server: {url}"
            )
        for key, text in d.run_artifacts(run.id):
            out.print(f"  artifact {key}: {text}", markup=False)
        if state.type.value != d.FINAL_OK:
            raise d.ServeError(
                f"flow run '{run.name}' ended {state.name}: {state.message or 'no message'}. See {url}"
            )
        out.print(f"Flow run '{run.name}' Completed: {url}", markup=False)


# --- output ----------------------------------------------------------------------------------------------


def _report_problems(report: CheckReport) -> NoReturn:
    for p in report.problems:
        err.print(p.render(), markup=False)
    _fail(
        2,
        f"{len(report.problems)} problem(s) in {report.project / 'prefect.yaml'} or the specs it runs; fix them "
        f"and check again with `mlops deploy --check`.",
    )


def _print_checked(report: CheckReport) -> None:
    table = Table("deployment", "flow", "spec", "schedules", "triggers", "work pool", title="prefect.yaml")
    for i in report.deployments:
        table.add_row(
            i.name, i.flow, i.spec_path or "", "\n".join(i.schedules) or "none", "\n".join(i.triggers) or "none",
            i.pool or "",
        )  # fmt: skip
    out.print(table)
    out.print(f"[green]✓[/green] {len(report.deployments)} deployment(s) checked: no problems.")


def _print_deployments(rows: list[tuple[str, str, str, str]]) -> None:
    table = Table("deployment", "schedules", "next run", "work pool")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _print_next(ui_url: str, api_url: str, workers: list[str], project: Path) -> None:
    polling = f"a worker polls {', '.join(repr(p) for p in workers)}" if workers else "no worker started"
    out.print()
    out.print(f"[bold]Prefect UI: {ui_url}[/bold]  (runs: {ui_url}/runs, deployments: {ui_url}/deployments)")
    out.print(f"Ready: {polling}; the flow runs' logs follow here. Ctrl-C stops the worker and the server.")
    out.print("Next, in another terminal in this folder:", markup=False)
    out.print(f"  export PREFECT_API_URL={api_url}", markup=False)
    out.print("  mlops trigger retrain deployments/diabetes.yaml --wait", markup=False)
    out.print(
        "  mlops trigger retrain deployments/flight_delays.yaml --wait && mlops trigger monitor "
        "deployments/flight_delays.yaml   # July 2013 drifts: the trigger retrains",
        markup=False,
    )
    sys.stdout.flush()


def _fail(code: int, message: str) -> NoReturn:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """MlopsError -> its one-paragraph message and exit code; never a traceback for a known failure."""
    from mlops.errors import MlopsError

    for key, value in (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "true")):
        os.environ.setdefault(key, value)
    try:
        yield
    except MlopsError as exc:
        _fail(int(getattr(exc, "exit_code", 1)), str(exc))
    except KeyboardInterrupt:
        err.print("interrupted: nothing on the server was changed by this; runs already started go on.")
        raise typer.Exit(130) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
