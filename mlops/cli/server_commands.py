"""`mlops server status` and `mlops server stop`: the local Prefect server that `mlops run` keeps running on
embedded defaults (mlops/cli/local_server.py), and the Prefect server and workers of a `mlops serve` of this
MLOPS_HOME (mlops/cli/supervisor.py's record: one killed with SIGKILL leaves them running, and they are found)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mlops.cli import supervisor as sv
from mlops.cli import temporary_server as tmp
from mlops.cli.local_server import keep_enabled, paths, stop_server
from mlops.cli.local_server import status as server_status

server_app = typer.Typer(
    help="The local Prefect server `mlops run` keeps running on embedded defaults (no PREFECT_API_URL), and the "
    "processes of `mlops serve`.",
    no_args_is_help=True,
)


def _uptime(seconds: float) -> str:
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _print(text: str) -> None:
    from mlops.cli.render import out

    out.print(text, markup=False, highlight=False)


@server_app.command("status")
def status() -> None:
    """Say whether this MLOPS_HOME's local Prefect server runs (its URL, pid and uptime), and what a `mlops serve`
    of it runs or left running."""
    from mlops.cli.runtime import server_errors

    with server_errors():
        p = paths()
        found, answers = server_status()
    if found.problem is not None:
        _print(f"The local Prefect server's state in {p.home} was stale: {found.problem}; cleaned.")
    if served := sv.recorded(p.root.parent):
        _print(f"{_capital(sv.describe_recorded(served))} (`mlops server stop` stops them).")
    for server, command, running in tmp.left(p.root.parent):
        _print(
            f"`mlops` (pid {command.pid}) runs with its temporary Prefect server (pid {server.pid}), stopped when it ends."
            if running
            else f"A command that was killed (pid {command.pid}) left its temporary Prefect server (pid {server.pid}) "
            "running (`mlops server stop` stops it)."
        )
    r = found.server
    if r is None:
        _print(
            f"No local Prefect server is running for {p.root.parent} (the next `mlops run` starts one"
            f"{'' if keep_enabled() else '; MLOPS_KEEP_SERVER=0 is set, so it will not'})."
        )
        return
    _print(
        f"Prefect: local server {r.api_url.removesuffix('/api')} (API {r.api_url})"
        f"{'' if answers else ' - not answering yet (starting, or hung: `mlops server stop` stops it)'}\n"
        f"pid {r.pid}, up {_uptime(time.time() - r.started)}; runs until `mlops server stop`\n"
        f"state: {p.home} (PREFECT_HOME)"
    )


@server_app.command("stop")
def stop(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing when no server runs.")] = False,
) -> None:
    """Stop this MLOPS_HOME's local Prefect server (its database stays, so the next start is quicker), and a
    `mlops serve` of it with its server and workers (or what one killed with SIGKILL left running)."""
    from mlops.cli.runtime import server_errors

    with server_errors():
        p = paths()
        served = sv.stop_recorded(p.root.parent)
        temporary = tmp.stop_left(p.root.parent)
        done = stop_server()
    if served:
        _print(f"Stopped what ran for `mlops serve`: {_capital(sv.describe_recorded(served))}.")
    for server in temporary:
        _print(f"Stopped the temporary Prefect server (pid {server.pid}) that a killed command left running.")
    if done.problem is not None:
        _print(f"The local Prefect server's state in {p.home} was stale: {done.problem}; cleaned.")
    if done.server is not None:
        _print(f"Stopped the local Prefect server (pid {done.server.pid}, {done.server.api_url}).")
    elif not served and not temporary and (not quiet or done.problem is not None):
        _print(f"No local Prefect server was running for {p.root.parent}.")
