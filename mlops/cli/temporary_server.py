"""The temporary Prefect server of a command that runs a flow with MLOPS_KEEP_SERVER=0 and no other server: started
by us, recorded, and stopped when the command ends, whatever ends it.

Prefect's own temporary server (its client starts `uvicorn ... create_app` as a plain child when no API URL is set)
is stopped by an atexit hook only: a command killed with SIGKILL (or SIGTERM, whose default action skips atexit) left
it running, reparented to init, seen by nothing and stopped by nothing. So the command starts it itself, as
`prefect server start` on a free loopback port (no UI, scheduler or late-runs service, as Prefect's own), and:

- on Linux the kernel stops it (SIGTERM) when the command dies, however it dies (PR_SET_PDEATHSIG);
- it is recorded as it starts, in `<MLOPS_HOME>/temporary-servers/<command pid>.json` (the command and the server,
  each pid with the kernel's start time of that process, as `mlops serve` records its children), so where the kernel
  cannot stop it (macOS), `mlops server status` shows it and `mlops server stop` stops it once its command is gone;
- at a normal exit (and Ctrl-C) it is stopped as Prefect stops its own (SIGTERM, then SIGKILL to its process group)
  and the record removed.

The Prefect database it serves is the caller's PREFECT_HOME, as Prefect's own temporary server's is.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

from mlops.cli.supervisor import Child, me, read_children, started, stop, stop_child, write_children

FOLDER = "temporary-servers"
ROLE_COMMAND = "mlops command"
ROLE_SERVER = "temporary Prefect server"
# what Prefect's own temporary server leaves out: no UI (gone with the command), and no scheduler or late-runs service
# (they would write scheduled and late runs of the deployments in the caller's database)
QUIET_SERVER = ("--analytics-off", "--no-ui", "--no-scheduler", "--no-late-runs")
STOP_GRACE = 10.0  # SIGTERM stops it in ~1-2 s here

_url: str | None = None  # this process's temporary server, once started


def folder(mlops_home: Path) -> Path:
    return mlops_home / FOLDER


def url() -> str | None:
    """The API URL of this command's temporary server, if it started one."""
    return _url


def die_with_parent(parent: int) -> Any:
    """preexec_fn (Linux): the kernel sends SIGTERM to the child when the thread that started it dies (`parent`: that
    process's pid, `os.getpid()` before the start); None elsewhere. The test servers use it too (tests/conftest.py)."""

    def preexec() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec if sys.platform.startswith("linux") else None


def start(mlops_home: Path) -> str:
    """Start this command's temporary server, record it, wait until it answers; its API URL. Stopped at exit."""
    global _url
    if _url is not None:
        return _url
    from mlops.cli.errors import ServeError
    from mlops.cli.local_server import START_TIMEOUT, _free_port
    from mlops.cli.supervisor import child_env, prefect_command, wait_healthy

    command = os.getpid()
    where = folder(mlops_home)
    record, log_path = where / f"{command}.json", where / f"{command}.log"
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = child_env(None)
    env.update(PREFECT_SERVER_API_HOST="127.0.0.1", PREFECT_SERVER_API_PORT=str(port))
    try:
        where.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    except OSError as exc:
        raise _unwritable(where, exc) from None
    with log:
        proc = subprocess.Popen(
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port), *QUIET_SERVER),
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent(command),  # noqa: PLW1509 - only prctl and getppid run there
        )  # fmt: skip
    try:
        write_children(record, [me(ROLE_COMMAND), started(ROLE_SERVER, proc)])
    except OSError as exc:  # not recorded: not started
        _stop(proc, record, log_path)
        raise _unwritable(where, exc) from None
    atexit.register(_stop, proc, record, log_path)
    try:
        wait_healthy(api, proc, log_path, timeout=START_TIMEOUT)
    except ServeError as exc:
        _stop(proc, record, log_path, keep_log=True)
        raise ServeError(
            f"this command's temporary Prefect server (MLOPS_KEEP_SERVER=0) did not start: {exc} Unset "
            "MLOPS_KEEP_SERVER to use a kept local server, or set PREFECT_API_URL to a running one."
        ) from None
    _url = api
    return api


def _unwritable(where: Path, exc: OSError) -> Exception:
    from mlops.cli.errors import UsageError

    return UsageError(
        f"this command's temporary Prefect server (MLOPS_KEEP_SERVER=0) cannot be recorded in {where} "
        f"({exc.strerror or exc}); make MLOPS_HOME a folder you can write, or unset MLOPS_KEEP_SERVER to use a kept "
        "local server. Nothing was started."
    )


def _stop(proc: subprocess.Popen[bytes], record: Path, log_path: Path, keep_log: bool = False) -> None:
    """What Prefect does for its own temporary server (terminate, wait, kill), to the server's process group."""
    global _url
    stop(proc, STOP_GRACE, first=signal.SIGTERM)
    with suppress(OSError):
        record.unlink(missing_ok=True)
    if not keep_log:
        with suppress(OSError):
            log_path.unlink(missing_ok=True)
    _url = None


# --- what killed commands left: `mlops server status|stop` -------------------------------------------------------


def left(mlops_home: Path) -> list[tuple[Child, Child, bool]]:
    """Each recorded temporary server still running: (server, its command, whether that command still runs; False:
    the command was killed and the server outlived it). Records of which nothing runs are removed."""
    found = []
    for record in sorted(folder(mlops_home).glob("*.json")):
        entries = {c.role: c for c in read_children(record) or []}
        server, command = entries.get(ROLE_SERVER), entries.get(ROLE_COMMAND)
        if server is None or command is None:
            continue  # being written, or not ours to judge: left alone
        if server.ours():
            found.append((server, command, command.ours()))
        elif not command.ours():
            with suppress(OSError):
                record.unlink()
                record.with_suffix(".log").unlink(missing_ok=True)
    return found


def stop_left(mlops_home: Path) -> list[Child]:
    """Stop the temporary servers whose command is gone (SIGTERM, then SIGKILL to its process group); a server
    whose command still runs is that command's to stop. Returns the servers stopped."""
    stopped = []
    for server, _command, running in left(mlops_home):
        if not running:
            stop_child(server, signal.SIGTERM, STOP_GRACE)
            stopped.append(server)
    left(mlops_home)  # removes the records of what is gone
    return stopped
