"""The kept local Prefect server (mlops/cli/local_server.py) started early (issue 15): a command that will run a
flow starts it before its own imports and pre-flight, without waiting for it, so that its start (~10-20 s of a
new database on this machine) overlaps them; `use_server()` then only waits for what is left, records the server
and starts its watchdog, as for a server it started itself.

The start lock stays held from the start until then, so another command waits for this server rather than
starting its own. A command that ends before `use_server()` took the server (a spec error, Ctrl-C) stops it at
exit: a server nobody recorded would be found by nobody. Any doubt (a server recorded, the lock held by another
command, a bad MLOPS_SERVER_IDLE_MINUTES) leaves everything to `use_server()`, as before.

Measured (session 6, a quiet 2-core machine, load about 1; the small example's first run on a new MLOPS_HOME,
three pairs in turns): 27.0 s median (26.7-29.8) with the early start against 32.9 s (30.5-43.2) without. Under
load 4-8 the gain vanished (no idle core for the overlap).
"""

from __future__ import annotations

import atexit
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.cli import local_server as ls
from mlops.cli.errors import UsageError


@dataclass
class Early:
    paths: ls.Paths
    lock: Any  # filelock.FileLock, held (once) until use_server() has taken the server
    proc: subprocess.Popen[bytes]
    port: int
    idle: float


_early: Early | None = None


def started_early(p: ls.Paths) -> Early | None:
    """The server this command started early in this state folder, if use_server() has not taken it yet."""
    return _early if _early is not None and _early.paths == p else None


def start_early(home: Path | None = None) -> None:
    """Start this MLOPS_HOME's kept server now, without waiting for it, when none is recorded."""
    global _early
    from filelock import Timeout

    p = ls.paths(home)
    if _early is not None or _recorded(p):
        return  # a server is recorded: use_server() checks that it answers
    try:
        idle = ls.idle_seconds()
    except UsageError:
        return  # said by use_server(), where the command's errors are handled
    lock = ls._lock(p)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return  # another command is starting one: use_server() waits for it
    try:
        if _recorded(p):  # started meanwhile by a command that has just released the lock
            lock.release()
            return
        ls._clean(p)
        port, proc = ls._launch(p, idle)
    except BaseException:
        lock.release()
        raise
    _early = Early(p, lock, proc, port, idle)
    atexit.register(_abandon)


def _recorded(p: ls.Paths) -> bool:
    pid = ls._read_int(p.pid)
    return pid is not None and ls.alive(pid)


def end_early() -> None:
    """use_server() took the server (or failed waiting for it, and stopped it): the start lock is released."""
    global _early
    if _early is not None:
        early, _early = _early, None
        early.lock.release()


def _abandon() -> None:
    """At exit: a server started early that use_server() never took is stopped, and the lock released."""
    if _early is not None:
        ls._kill_group(_early.proc.pid)
        _early.proc.returncode = 0  # reaped by _kill_group: no "still running" warning
        end_early()
