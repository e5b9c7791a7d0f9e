"""`mlops serve`, `mlops deploy [--check]`, `mlops trigger retrain|monitor SPEC`: the Prefect server side.

Registered on the `mlops` app in mlops/cli/main.py. Prefect is imported inside the functions these commands call,
so `mlops --help` stays instant.

Exit codes: 0 done, 1 a server, worker, deploy or run failed, 2 a usage or spec error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli import render
from mlops.cli.arguments import anchor_spec
from mlops.cli.notifications import check_notifications, deploy_notifications
from mlops.cli.render import out
from mlops.cli.runtime import deploy_problems, server_errors
from mlops.text import mask_url, without_credentials

trigger_app = typer.Typer(
    help="Start a run of a pipeline's deployment on the Prefect server (needs PREFECT_API_URL).",
    no_args_is_help=True,
)

SpecArg = Annotated[
    Path, typer.Argument(help="The pipeline spec, e.g. deployments/diabetes.yaml", callback=anchor_spec)
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait for the run to finish; print its state and artifacts.")
]
TimeoutOpt = Annotated[float, typer.Option(help="With --wait: give up waiting after this many seconds.")]
DeploymentOpt = Annotated[
    str | None, typer.Option(help="The deployment's name, when several run the same spec.")
]


def serve(
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the Prefect server and UI on 127.0.0.1.")
    ] = 4200,
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
    from mlops.cli import project_check as pc
    from mlops.cli import server as srv
    from mlops.cli import supervisor as sv
    from mlops.cli.errors import ServeError

    with server_errors():
        project = pc.find_project()
        report = pc.check_project(project)
        if report.problems:
            deploy_problems(report)
        check_notifications(project)
        mlops_home = sv.default_home(project)
        home = (prefect_home or mlops_home / "prefect").resolve()
        sv.check_state_folder(home, "--prefect-home" if prefect_home else "MLOPS_HOME")
        api_url = sv.api_url_for(port)
        ui_url = sv.ui_url_for(api_url)
        left = sv.recorded(mlops_home)
        if any(c.role == "mlops serve" for c in left):
            raise ServeError(
                f"{sv.describe_recorded(left)} for {mlops_home}; use it, or stop it (Ctrl-C in its terminal, or "
                "`mlops server stop`) before starting another."
            )
        if left:
            sv.stop_recorded(mlops_home)
            out.print(f"Note: {sv.describe_recorded(left)}; stopped them.")
        if sv.port_in_use(port):
            what = (
                "a Prefect server answers there" if sv.healthy(api_url) else "another program listens there"
            )
            raise ServeError(
                f"port {port} on 127.0.0.1 is in use ({what}). If it is an earlier `mlops serve`, use that one or "
                f"stop it (Ctrl-C in its terminal); otherwise pick another port with --port."
            )
        from mlops.settings import get_settings

        if (set_url := get_settings().prefect_api_url) not in (None, api_url):
            out.print(f"Note: PREFECT_API_URL is {mask_url(str(set_url))}; this server is {api_url}.")
        pools = sorted({i.pool for i in report.deployments if i.pool})
        log_path = home / "server.log"
        server = worker_procs = None
        with sv.interrupts():
            try:
                out.print(f"Starting the Prefect server on {ui_url} (state: {home}) ...")
                server = sv.start_server(port, home, log_path)
                sv.record(mlops_home, server)  # found again if we are killed (SIGKILL)
                took = sv.wait_healthy(api_url, server, log_path)
                out.print(f"Prefect server ready in {took:.1f} s (log: {log_path})")
                created, other = srv.ensure_process_pools(api_url, pools)
                for name in created:
                    out.print(f"Created work pool '{name}' (process)")
                for name in other:
                    out.print(
                        f"Note: work pool {name} is not a process pool; `mlops serve` starts no worker for it."
                    )
                t0 = time.monotonic()
                sv.deploy_all(project, api_url)
                out.print(f"Deployed prefect.yaml in {time.monotonic() - t0:.1f} s:")
                render.print_deployments(srv.deployment_rows(api_url))
                deploy_notifications(project, api_url)
                local = [p for p in pools if all(not o.startswith(f"{p} (") for o in other)]
                worker_procs = []
                for pool in local if worker else []:
                    worker_procs.append(sv.start_worker(project, api_url, pool))
                    sv.record(mlops_home, server, zip(local, worker_procs, strict=False))
                for name in srv.wait_pools_ready(api_url, local if worker else []):
                    out.print(f"Note: the worker for '{name}' has not reported in yet; its output is above.")
                render.print_next(ui_url, api_url, local if worker else [], project)
                sv.supervise(server, worker_procs, log_path)
            except KeyboardInterrupt:
                out.print("\nStopping the worker and the server ...")
            finally:
                sv.stop_all([*(worker_procs or []), server])
                sv.forget(mlops_home)
        out.print(f"Stopped. The state stays in {home}; `mlops serve` picks it up again.")


def deploy(
    check: Annotated[
        bool,
        typer.Option("--check", help="Only check the specs and that prefect.yaml is what they generate."),
    ] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Only (re)generate prefect.yaml from the specs' schedule sections."),
    ] = False,
) -> None:
    """Check every spec under deployments/ (as `mlops validate` does, schedules included) and that prefect.yaml is
    what they generate, then deploy each spec's retrain, monitor and predict deployments to the server in
    PREFECT_API_URL. prefect.yaml is generated (`mlops deploy --write`), never edited by hand.

    Exits 0 when deployed (or written, or with --check when all is well), 2 on problems (all listed at once), 1
    when the deploy fails.
    """
    from mlops.cli import project_check as pc
    from mlops.cli import server as srv
    from mlops.cli import supervisor as sv
    from mlops.cli import trigger as tr

    with server_errors():
        project = pc.find_project()
        report = pc.write_project(project) if write else pc.check_project(project)
        if report.problems:
            deploy_problems(report)
        check_notifications(project)
        render.print_checked(report)
        if write:
            out.print(
                f"Wrote {project / pc.PREFECT_FILE}; deploy it with `mlops deploy` (or `prefect deploy --all`)."
            )
            return
        if check:
            return
        api_url = tr.require_api_url()
        # `prefect deploy` refuses a deployment whose work pool is missing (exit 1 after deploying the others);
        # on a server shared with others we create no pool: say which and how, before deploying anything
        if missing := srv.missing_pools(api_url, sorted({i.pool for i in report.deployments if i.pool})):
            from mlops.cli.errors import UsageError

            create = "; ".join(f"prefect work-pool create {name} --type process" for name in missing)
            raise UsageError(
                f"work pool {', '.join(repr(n) for n in missing)} does not exist on {mask_url(api_url)}, and "
                f"Prefect deploys no deployment to a missing pool. Create it once ({create}; `mlops serve` "
                "creates its own), then run `mlops deploy` again. Nothing was deployed."
            )
        t0 = time.monotonic()
        sv.deploy_all(project, api_url)
        out.print(f"Deployed to {mask_url(api_url)} in {time.monotonic() - t0:.1f} s:")
        render.print_deployments(srv.deployment_rows(api_url))
        deploy_notifications(project, api_url)
        out.print(f"Prefect UI: {without_credentials(sv.ui_url_for(api_url))}/deployments", markup=False)


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
    from mlops.cli import server as srv
    from mlops.cli import trigger as tr
    from mlops.cli.errors import ServeError, UsageError

    with server_errors():
        tr.require_api_url()
        if not spec.is_file():
            raise UsageError(
                f"{spec}: no such spec file; give the path of a spec, e.g. deployments/diabetes.yaml."
            )
        target = tr.find_deployment(flow, spec, deployment)
        run = tr.start_run(target, params)
        url = tr.flow_run_url(run.id)
        shown = f" with {params}" if params else ""
        out.print(f"Started flow run '{run.name}' of {target.full_name}{shown}", markup=False)
        out.print(f"  {url}", markup=False)
        if srv.pool_has_worker(target.pool) is False:
            out.print(
                f"Note: no worker has polled work pool '{target.pool}' lately; the run waits for one "
                f"(`mlops serve`, or `prefect worker start --pool {target.pool}` in the project folder)."
            )
        if not wait:
            return
        out.print(f"Waiting for it to finish (up to {timeout:.0f} s) ...")
        final = tr.wait_for(run.id, timeout)
        state = final.state
        if state is None or not state.is_final():
            raise ServeError(
                f"the run is still {state.name if state else 'unknown'} after {timeout:.0f} s; it goes on on the "
                f"server: {url}"
            )
        for key, text in tr.run_artifacts(run.id):
            out.print(f"  artifact {key}: {text}", markup=False)
        if state.type.value != tr.FINAL_OK:
            raise ServeError(
                f"flow run '{run.name}' ended {state.name}: {state.message or 'no message'}. See {url}"
            )
        out.print(f"Flow run '{run.name}' Completed: {url}", markup=False)
