"""A local Prefect server kept alive between commands on embedded defaults (no PREFECT_API_URL, issue 15).

The first `mlops run ...` starts `prefect server start` in the background (its own session: it outlives the
command) and the later ones find and reuse it, so a run no longer pays ~7 s for a temporary server. `mlops run
retrain|monitor` start it before their pre-flight and wait for it only when the flow needs it
(mlops/cli/early_server.py). Its state lives in `<MLOPS_HOME>/prefect-server/`:

    server.pid, server.port, server.started   the running server (written once it answers /api/health)
    server.log                                its output (kept after it stops)
    home/                                     its PREFECT_HOME (the SQLite database; kept: a restart is faster)
    watchdog.pid                              the idle watchdog (below)
    users/<pid>                               commands using it right now; last-used: touched when one ends
    server.lock                               a file lock: two commands starting at once start one server

It stops after MLOPS_SERVER_IDLE_MINUTES (default 30) with no command using it: a small detached watchdog
(`python -m mlops.cli.local_server`) checks every min(30 s, a quarter of the idle time) and stops it; a command
still running keeps it alive whatever its length. `mlops server stop` stops it at once, `mlops server status`
shows it (mlops/cli/server_commands.py). MLOPS_KEEP_SERVER=0 gives back a temporary server per command; with PREFECT_API_URL set, or a server
found at MLOPS_LOCAL_PREFECT, none of this is used. A recorded pid that is gone, or alive but not answering, is
stale: the files are cleaned (a hung server of ours is killed first) and a new server is started.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from mlops.cli.errors import ServeError, UsageError

IDLE_DEFAULT_MINUTES = 30.0
START_TIMEOUT = 150.0  # a new database on a busy 2-core machine: ~10-20 s; generous
OFF = ("0", "false", "no", "off")
MODULE = "mlops.cli.local_server"  # the watchdog runs as `python -m MODULE` (where __name__ is "__main__")
# the API URL of the kept server this process registered with (for the line that says so)
_in_use: str | None = None


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def pid(self) -> Path:
        return self.root / "server.pid"

    @property
    def port(self) -> Path:
        return self.root / "server.port"

    @property
    def started(self) -> Path:
        return self.root / "server.started"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def prefect_home(self) -> Path:
        return self.root / "home"

    @property
    def watchdog(self) -> Path:
        return self.root / "watchdog.pid"

    @property
    def users(self) -> Path:
        return self.root / "users"

    @property
    def last_used(self) -> Path:
        return self.root / "last-used"

    @property
    def lock(self) -> Path:
        return self.root / "server.lock"


@dataclass(frozen=True)
class Running:
    pid: int
    port: int
    started: float

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


def paths(home: Path | None = None) -> Paths:
    from mlops.settings import get_settings

    return Paths((home or get_settings().home) / "prefect-server")


def keep_enabled() -> bool:
    return os.environ.get("MLOPS_KEEP_SERVER", "1").strip().lower() not in OFF


def idle_seconds() -> float:
    text = os.environ.get("MLOPS_SERVER_IDLE_MINUTES", "").strip()
    try:
        minutes = float(text) if text else IDLE_DEFAULT_MINUTES
    except ValueError:
        minutes = -1
    if not minutes > 0:
        raise UsageError(
            f"MLOPS_SERVER_IDLE_MINUTES is '{text}', which is not a positive number of minutes; set it to e.g. 30 "
            "(the local Prefect server stops after that long unused), or unset it for the default of 30."
        )
    return minutes * 60


def kept_url() -> str | None:
    """The kept server this command uses, if any (for the one line that says so)."""
    return _in_use


def describe(api_url: str) -> str:
    return f"local server {api_url.removesuffix('/api')} (kept running; `mlops server stop` stops it)"


# --- processes ------------------------------------------------------------------------------------------------


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a server started by this very process and stopped stays one until
    reaped: it is reaped here)."""
    with suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_ours(pid: int, marker: str) -> bool:
    """Before signalling a recorded pid: it may have been reused by another program since."""
    line = _cmdline(pid)
    return not line and not Path("/proc").is_dir() or marker in line


def _kill_group(pid: int, grace: float = 20) -> None:
    """SIGTERM the server's process group (it is a session leader), wait, then SIGKILL what is left."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lock(p: Paths, timeout: float = START_TIMEOUT + 30):  # type: ignore[no-untyped-def]
    from filelock import FileLock

    p.root.mkdir(parents=True, exist_ok=True)
    return FileLock(str(p.lock), timeout=timeout)


# --- state ----------------------------------------------------------------------------------------------------


def running(p: Paths) -> Running | None:
    """The recorded server, if its process is alive and it answers on its recorded port."""
    from mlops.cli.supervisor import healthy

    pid, port = _read_int(p.pid), _read_int(p.port)
    if pid is None or port is None or not alive(pid):
        return None
    r = Running(pid, port, _started(p))
    # a second, longer look before calling it stale: a busy machine must not get a working server killed
    return r if healthy(r.api_url, timeout=3) or healthy(r.api_url, timeout=10) else None


def _started(p: Paths) -> float:
    try:
        return float(p.started.read_text().strip())
    except (OSError, ValueError):
        return time.time()


def _clean(p: Paths) -> None:
    """Forget the recorded server and watchdog (the log and the database stay); a hung server of ours is killed."""
    pid = _read_int(p.pid)
    if pid is not None and alive(pid) and _is_ours(pid, "prefect server start"):
        _kill_group(pid)
    watchdog = _read_int(p.watchdog)
    if watchdog is not None and watchdog != os.getpid() and alive(watchdog) and _is_ours(watchdog, MODULE):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(watchdog, signal.SIGTERM)
    for f in (p.pid, p.port, p.started, p.watchdog):
        f.unlink(missing_ok=True)
    if p.users.is_dir():
        for f in p.users.iterdir():
            f.unlink(missing_ok=True)


def _busy(p: Paths) -> bool:
    """A command is using the server now (its users/<pid> file, for a process still alive)."""
    busy = False
    if p.users.is_dir():
        for f in p.users.iterdir():
            if f.name.isdigit() and alive(int(f.name)):
                busy = True
            else:
                f.unlink(missing_ok=True)  # a command that was killed before it could say it ended
    return busy


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)


def release(p: Paths, pid: int | None = None) -> None:
    """This command no longer uses the server: the idle time starts now (unless another command uses it)."""
    (p.users / str(pid or os.getpid())).unlink(missing_ok=True)
    with suppress(OSError):
        _touch(p.last_used)


# --- start, use, stop -------------------------------------------------------------------------------------------


def use_server(home: Path | None = None, start: bool = True) -> str | None:
    """The API URL of this MLOPS_HOME's kept server, started if there is none (and `start`); this process is
    recorded as a user until it exits, so the idle watchdog leaves the server alone meanwhile."""
    global _in_use
    p = paths(home)
    if not start and not p.pid.exists():
        return None  # nothing recorded, nothing to start: not even the state folder is created
    idle = idle_seconds()
    from filelock import Timeout

    from mlops.cli.early_server import end_early, started_early

    early = started_early(p)  # mlops/cli/early_server.py: started by this command, not waited for yet
    try:
        with early.lock if early is not None else _lock(p):
            r = running(p)
            if r is None and early is not None:
                r = _ready(p, early.proc, early.port, early.idle)
            elif r is None:
                _clean(p)
                if not start:
                    return None
                r = _start(p, idle)
            _touch(p.users / str(os.getpid()))
            _touch(p.last_used)
    except Timeout:
        raise ServeError(
            f"another command has held {p.lock} for over {START_TIMEOUT + 30:.0f} s while starting the local "
            f"Prefect server; see its log {p.log}, or run `mlops server stop` and try again."
        ) from None
    finally:
        if early is not None:
            end_early()
    atexit.register(release, p)
    _in_use = r.api_url
    return r.api_url


def _launch(p: Paths, idle: float) -> tuple[int, subprocess.Popen[bytes]]:
    from mlops.cli.render import err
    from mlops.cli.supervisor import start_server

    err.print(
        f"Starting a local Prefect server for this and later commands (state and log in {p.root}; it stops after "
        f"{idle / 60:g} min unused, or with `mlops server stop`; MLOPS_KEEP_SERVER=0 to use a temporary one)...",
        markup=False,
        highlight=False,
    )
    port = _free_port()
    return port, start_server(port, p.prefect_home, p.log)


def _start(p: Paths, idle: float) -> Running:
    port, proc = _launch(p, idle)
    return _ready(p, proc, port, idle)


def _ready(p: Paths, proc: subprocess.Popen[bytes], port: int, idle: float) -> Running:
    """Wait until the started server answers, then record it and start its idle watchdog."""
    from mlops.cli.supervisor import wait_healthy

    try:
        wait_healthy(f"http://127.0.0.1:{port}/api", proc, p.log, timeout=START_TIMEOUT)
    except BaseException:
        _kill_group(proc.pid)
        raise
    proc.returncode = 0  # detached on purpose: no "still running" warning when this process exits
    now = time.time()
    p.port.write_text(str(port))
    p.started.write_text(f"{now:.3f}")
    p.pid.write_text(str(proc.pid))  # last: a pid file means a server that answered
    watchdog = subprocess.Popen(
        [sys.executable, "-m", MODULE, str(p.root), str(proc.pid), str(idle)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    watchdog.returncode = 0
    p.watchdog.write_text(str(watchdog.pid))
    return Running(proc.pid, port, now)


def stop_server(home: Path | None = None) -> Running | None:
    """Stop this MLOPS_HOME's kept server and its watchdog; the one that was running, or None."""
    p = paths(home)
    if not p.root.is_dir():
        return None
    with _lock(p):
        pid, port = _read_int(p.pid), _read_int(p.port)
        was = Running(pid, port, _started(p)) if pid and port and alive(pid) else None
        _clean(p)
    return was


def watch(root: Path, server_pid: int, idle: float) -> None:
    """The idle watchdog: stop the server after `idle` seconds with no command using it; end when it is gone."""
    p = Paths(root)
    interval = max(0.5, min(30.0, idle / 4))
    while True:
        time.sleep(interval)
        with _lock(p):
            if _read_int(p.pid) != server_pid:
                return  # stopped (and maybe replaced) by someone else
            if not alive(server_pid):
                _clean(p)
                return
            if _busy(p):
                continue
            try:
                last = p.last_used.stat().st_mtime
            except OSError:
                last = _started(p)
            if time.time() - last >= idle:
                _clean(p)
                return


if __name__ == "__main__":
    watch(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
