"""`mlops server status` and `mlops server stop`: the local Prefect server that `mlops run` keeps running on
embedded defaults (mlops/cli/local_server.py)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mlops.cli.local_server import idle_seconds, keep_enabled, paths, running, stop_server

server_app = typer.Typer(
    help="The local Prefect server `mlops run` keeps running on embedded defaults (no PREFECT_API_URL).",
    no_args_is_help=True,
)


def _uptime(seconds: float) -> str:
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@server_app.command("status")
def status() -> None:
    """Say whether this MLOPS_HOME's local Prefect server runs: its URL, pid, uptime and log."""
    from mlops.cli.render import out
    from mlops.cli.runtime import server_errors

    with server_errors():
        p = paths()
        r = running(p) if p.root.is_dir() else None
        if r is None:
            out.print(
                f"No local Prefect server is running for {p.root.parent} (the next `mlops run` starts one"
                f"{'' if keep_enabled() else '; MLOPS_KEEP_SERVER=0 is set, so it will not'}).",
                markup=False,
                highlight=False,
            )
            return
        idle = idle_seconds()
        out.print(
            f"Prefect: local server {r.api_url.removesuffix('/api')} (API {r.api_url})\n"
            f"pid {r.pid}, up {_uptime(time.time() - r.started)}; stops after {idle / 60:g} min unused "
            f"(MLOPS_SERVER_IDLE_MINUTES) or with `mlops server stop`\nlog: {p.log}\nstate: {p.root}",
            markup=False,
            highlight=False,
        )


@server_app.command("stop")
def stop(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing when no server runs.")] = False,
) -> None:
    """Stop this MLOPS_HOME's local Prefect server (its database and log stay, so the next start is quicker)."""
    from mlops.cli.render import out
    from mlops.cli.runtime import server_errors

    with server_errors():
        was = stop_server()
    if was is not None:
        out.print(
            f"Stopped the local Prefect server (pid {was.pid}, {was.api_url}).", markup=False, highlight=False
        )
    elif not quiet:
        out.print(
            f"No local Prefect server was running for {paths().root.parent}.", markup=False, highlight=False
        )
