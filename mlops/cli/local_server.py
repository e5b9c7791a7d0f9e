"""The local Prefect server kept running between commands on embedded defaults (no PREFECT_API_URL; issues 15,
24, 25), started and stopped as Prefect's own commands do.

The first `mlops run ...` runs `prefect server start --background` on a free loopback port with PREFECT_HOME set to
`<MLOPS_HOME>/prefect-server/home` (its SQLite database, and Prefect's own pid file `server.pid`, written as soon
as the server process exists, so a command killed while it waits still leaves a server that is found); later
commands find it there and reuse it. `mlops run retrain|monitor` start it early (start_early: once their
usage and spec checks have passed, so that a refused command starts nothing, and before importing their flow, not
waited for; use_server() waits for what is left; the first small retrain took 115 s median against 130 s without,
3 pairs on a loaded machine, when the start overlapped the checks). `mlops server stop` does what `prefect server stop` does (SIGTERM the
pid, remove the pid file) after checking that the pid is this folder's server. There is no idle stop (Prefect has
none): the server runs until `mlops server stop` or a reboot, and `mlops server status` always shows it.

Before reusing or stopping a recorded pid, it must be this folder's server: a process running Prefect's server app
(`prefect.server.api.server:create_app`; its `--port` is the one source of the port) whose working folder is this
PREFECT_HOME (Prefect's background start runs it in the folder we start it from; the kernel follows the folder if
it is moved, and a copy made with `cp -a` names the original's process, whose folder is not the copy). Anything
else is stale or foreign state: reported, its pid file removed, the process left alone. MLOPS_KEEP_SERVER=0 gives
back a temporary server per command; with PREFECT_API_URL set, or a server found at MLOPS_LOCAL_PREFECT, none of
this is used.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.cli.errors import ServeError, UsageError

START_TIMEOUT = 150.0  # a new database on a busy 2-core machine: ~10-90 s; generous
STOP_GRACE = 20.0  # SIGTERM stops it in ~1.5 s here; then SIGKILL
APP = "prefect.server.api.server:create_app"  # what `prefect server start --background` runs under uvicorn
# the API URL of the kept server this process uses (for the line that says so)
_in_use: str | None = None
# the start lock (held) and `prefect server start --background` of start_early(), until use_server() takes them
_early: tuple[Any, subprocess.Popen[bytes]] | None = None


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def home(self) -> Path:
        """The server's PREFECT_HOME: its database and Prefect's pid file."""
        return self.root / "home"

    @property
    def pid(self) -> Path:
        return self.home / "server.pid"  # prefect.cli._server_utils.SERVER_PID_FILE_NAME

    @property
    def log(self) -> Path:
        """What `prefect server start --background` said (the server's own output goes nowhere)."""
        return self.root / "server.log"

    @property
    def lock(self) -> Path:
        return self.root / "server.lock"


@dataclass(frozen=True)
class Server:
    """This folder's server process, as the process itself says (never a file we could have left stale)."""

    pid: int
    port: int
    started: float

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


@dataclass(frozen=True)
class Found:
    """What the pid file leads to: this folder's server, nothing, or state that is stale or foreign (`problem`)."""

    server: Server | None = None
    problem: str | None = None


def paths(home: Path | None = None) -> Paths:
    from mlops.settings import get_settings

    return Paths((home or get_settings().home).resolve() / "prefect-server")


def keep_enabled() -> bool:
    from mlops.settings import get_settings

    return get_settings().keep_server


def kept_url() -> str | None:
    """The kept server this command uses, if any (for the one line that says so)."""
    return _in_use


def describe(api_url: str) -> str:
    return f"local server {api_url.removesuffix('/api')} (kept running; `mlops server stop` stops it)"


# --- the process ------------------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (one started by this very process is reaped here)."""
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
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> list[str]:
    if Path("/proc/self").is_dir():
        with suppress(OSError):
            return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        return []
    done = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return done.stdout.split()  # macOS: no /proc


def _cwd(pid: int) -> Path | None:
    if Path("/proc/self").is_dir():
        with suppress(OSError):
            return Path(os.readlink(f"/proc/{pid}/cwd"))
        return None
    done = subprocess.run(["lsof", "-a", "-p", str(pid), "-d", "cwd", "-Fn"], capture_output=True, text=True)
    names = [line[1:] for line in done.stdout.splitlines() if line.startswith("n")]
    return Path(names[0]) if names else None


def server_port(cmdline: list[str]) -> int | None:
    """The port of a Prefect server's command line (`... uvicorn ... APP --host H --port N`), else None."""
    if APP not in cmdline or "--port" not in cmdline:
        return None
    i = cmdline.index("--port")
    try:
        return int(cmdline[i + 1])
    except (IndexError, ValueError):
        return None


def _same_folder(a: Path | None, b: Path) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


def find(p: Paths) -> Found:
    """Read Prefect's pid file and check that the pid is this folder's server (nothing is changed here)."""
    try:
        text = p.pid.read_text().strip()
    except FileNotFoundError:
        return Found()
    except OSError as exc:
        return Found(problem=f"its pid file {p.pid} cannot be read ({exc.strerror or exc})")
    if not text.isdigit():
        return Found(problem=f"its pid file {p.pid} holds {text[:40]!r}, not a process id")
    pid = int(text)
    if not alive(pid):
        return Found(problem=f"its pid file names process {pid}, which is not running")
    cmdline = _cmdline(pid)
    port = server_port(cmdline)
    if port is None:
        shown = " ".join(cmdline).strip()[:80] or "unknown"
        return Found(
            problem=f"its pid file names process {pid}, which is another program ({shown}): left alone"
        )
    cwd = _cwd(pid)
    if not _same_folder(cwd, p.home):
        return Found(
            problem=f"its pid file names process {pid}, the Prefect server of another folder ({cwd or 'unknown'}; "
            "a copy of a project's state, or a moved one): left running"
        )
    started = p.pid.stat().st_mtime  # written by Prefect right after it started the process
    return Found(Server(pid, port, started))


def _healthy(server: Server, timeout: float = 3.0) -> bool:
    from mlops.cli.supervisor import healthy

    return healthy(server.api_url, timeout=timeout)


def wait_healthy(p: Paths, server: Server, timeout: float = START_TIMEOUT) -> None:
    """Until the server answers /api/health; raise, naming how to see why, if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while not _healthy(server):
        if not alive(server.pid):
            raise ServeError(
                f"the local Prefect server (pid {server.pid}) exited before it answered on {server.api_url}. "
                f"To see why, start it in the foreground: PREFECT_HOME={p.home} prefect server start --port "
                f"{server.port}; `mlops server stop` cleans the state."
            )
        if time.monotonic() > deadline:
            raise ServeError(
                f"the local Prefect server (pid {server.pid}) did not answer on {server.api_url} within "
                f"{timeout:.0f} s; `mlops server stop` stops it, and the next command starts a new one."
            )
        time.sleep(0.3)


def _terminate(pid: int) -> None:
    """What `prefect server stop` does (SIGTERM), then wait for the process to end; SIGKILL after STOP_GRACE."""
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not alive(pid):
            return


def _forget(p: Paths) -> None:
    """Remove the pid file (the database stays: a restart is quicker)."""
    try:
        p.pid.unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(
            f"the local Prefect server's pid file {p.pid} cannot be removed ({exc.strerror or exc}); remove it "
            "by hand and run the command again."
        ) from None


@contextmanager
def _locked(p: Paths, timeout: float = START_TIMEOUT + 30) -> Iterator[bool]:
    """The start lock: two commands starting at once start one server. Yields False when `timeout` is 0 and
    another command holds it (it is starting the server)."""
    from filelock import FileLock, Timeout

    try:
        p.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(p.lock), timeout=timeout)
        lock.acquire()
    except Timeout:
        if timeout == 0:
            yield False
            return
        raise ServeError(
            f"another command has held {p.lock} for over {timeout:.0f} s while starting the local Prefect "
            "server; run `mlops server status`, or `mlops server stop`, and try again."
        ) from None
    except OSError as exc:
        what = "is a folder" if p.lock.is_dir() else f"cannot be used ({exc.strerror or exc})"
        raise UsageError(
            f"the local Prefect server's lock file {p.lock} {what}; remove it (nothing else is kept there) and "
            "run the command again."
        ) from None
    try:
        yield True
    finally:
        lock.release()


# --- start, use, stop -------------------------------------------------------------------------------------------


def use_server(home: Path | None = None, start: bool = True) -> str | None:
    """The API URL of this MLOPS_HOME's kept server, started if there is none (and `start`)."""
    global _in_use, _early
    p = paths(home)
    if not start and not p.pid.exists():
        return None  # nothing recorded, nothing to start: not even the state folder is created
    if start:
        _check_folder(p)
    server: Server | None
    early, _early = _early, None
    if early is not None:  # started by start_early(), the lock still held
        try:
            server = _launched(p, early[1])
            wait_healthy(p, server)
        finally:
            early[0].release()
        _in_use = server.api_url
        return server.api_url
    with _locked(p):
        found = find(p)
        if found.problem is not None:
            _say(f"The local Prefect server's state was stale: {found.problem}; cleaned.")
            _forget(p)
        server = found.server
        if server is None and not start:
            return None
        if server is None:
            server = _launched(p, _launch(p))
        wait_healthy(p, server)  # one started by a command killed meanwhile may still be starting
    _in_use = server.api_url
    return server.api_url


def _say(text: str) -> None:
    from mlops.cli.render import err

    err.print(text, markup=False, highlight=False)


def _check_folder(p: Paths) -> None:
    """The server's state folder is one we can write: else exit 2 naming it, not a traceback (nor a pid file
    reported stale and then not removable)."""
    from mlops.cli.supervisor import check_state_folder

    check_state_folder(p.home, "MLOPS_HOME")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(p: Paths) -> subprocess.Popen[bytes]:
    """`prefect server start --background` in PREFECT_HOME (its working folder: our mark on the process), not
    waited for; in its own session, so a Ctrl-C or a kill of this command's group leaves the start to finish."""
    from mlops.cli.supervisor import prefect_command, server_env

    port = _free_port()
    _say(
        f"Starting a local Prefect server on http://127.0.0.1:{port} for this and later commands (state in "
        f"{p.root}); it runs until `mlops server stop` (MLOPS_KEEP_SERVER=0 for a temporary one per command)..."
    )
    p.home.mkdir(parents=True, exist_ok=True)
    command = prefect_command("server", "start", "--background", "--host", "127.0.0.1", "--port", str(port))
    with p.log.open("ab") as log:
        log.write(f"\n--- mlops: {' '.join(command[2:])} at {time.ctime()} ---\n".encode())
        log.flush()
        return subprocess.Popen(
            [*command, "--analytics-off"], cwd=p.home, env=server_env(port, p.home), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def _launched(p: Paths, proc: subprocess.Popen[bytes]) -> Server:
    """The server `prefect server start --background` started (it returns once the pid file is written)."""
    from mlops.cli.supervisor import tail

    try:
        code = proc.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    found = find(p)
    if code != 0 or found.server is None:
        raise ServeError(
            f"`prefect server start --background` did not start a server ({found.problem or 'no pid file'}). "
            f"Its output, {p.log}, ends with:\n{tail(p.log)}"
        )
    return found.server


def start_early(home: Path | None = None) -> None:
    """For a command that will run a flow: start the server now, without waiting, so that its start overlaps the
    command's imports and checks; use_server() then waits for what is left. The start lock stays held until then
    (released at exit at the latest, by the kernel). Any doubt (state recorded, another command starting a
    server, an unusable lock) leaves everything to use_server()."""
    global _early
    from filelock import FileLock, Timeout

    p = paths(home)
    if _early is not None or p.pid.exists():
        return
    lock = FileLock(str(p.lock))
    try:
        p.root.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        return
    try:
        if p.pid.exists():  # started meanwhile by a command that has just released the lock
            lock.release()
            return
        _check_folder(p)
        _early = (lock, _launch(p))
    except (OSError, UsageError):  # a state folder we cannot use: use_server() says so, in its place
        lock.release()
    except BaseException:
        lock.release()
        raise


@dataclass(frozen=True)
class Stopped:
    server: Server | None  # the server stopped, if one was
    problem: str | None  # stale or foreign state found (and cleaned) instead


def stop_server(home: Path | None = None) -> Stopped:
    """Stop this MLOPS_HOME's kept server; stale or foreign state is cleaned and left alone."""
    p = paths(home)
    if not p.root.is_dir():
        return Stopped(None, None)
    with _locked(p):
        found = find(p)
        if found.server is not None:
            _terminate(found.server.pid)
        _forget(p)
    return Stopped(found.server, found.problem)


def status(home: Path | None = None) -> tuple[Found, bool | None]:
    """The recorded server and whether it answers (None: stale or foreign state, cleaned now unless a command
    is starting a server at this moment)."""
    p = paths(home)
    if not p.pid.exists():
        return Found(), None
    found = find(p)
    if found.server is not None:
        return found, _healthy(found.server)
    with _locked(p, timeout=0) as free:
        if not free:  # a command is starting the server: the pid file may be seconds from being written
            return Found(problem="a command is starting the server right now"), None
        found = find(p)
        if found.server is None:
            _forget(p)
    return found, (None if found.server is None else _healthy(found.server))
