"""`mlops serve`'s processes: a Prefect server and its workers started as children, watched, and stopped cleanly
(Ctrl-C or SIGTERM: workers first, then the server, then whatever they left in their process groups), plus
`prefect deploy --all` run against that server. Only the standard library here; httpx inside `healthy`.

A `mlops serve` killed with SIGKILL cannot stop its children: they are recorded as they start, in
`<MLOPS_HOME>/serve.json` (each pid with its start time, so a pid the system gives to another program later is never
taken for ours), and `mlops server status|stop` and the next `mlops serve` find them there, say so and stop them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.cli.errors import ServeError

QUIET_CHILD_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here, and no reason to phone home
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TQDM_DISABLE": "1",
}


def api_url_for(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


def ui_url_for(api_url: str) -> str:
    return api_url.rstrip("/").removesuffix("/api")


def default_home(project: Path) -> Path:
    """MLOPS_HOME (default `<project>/.mlops`): the local MLflow store, reports, and `prefect/` for the server."""
    home = os.environ.get("MLOPS_HOME")
    return Path(home).resolve() if home else project / ".mlops"


def child_env(api_url: str | None, prefect_home: Path | None = None) -> dict[str, str]:
    """The environment of the processes we start: quiet, and pointed at our server (not the caller's)."""
    env = {**os.environ}
    for key, value in QUIET_CHILD_ENV.items():
        env.setdefault(key, value)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if prefect_home is not None:
        env["PREFECT_HOME"] = str(prefect_home)
    if api_url is None:
        env.pop("PREFECT_API_URL", None)
    else:
        env["PREFECT_API_URL"] = api_url
    return env


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def prefect_command(*args: str) -> list[str]:
    """The `prefect` CLI of this interpreter's environment (not whatever `prefect` is first on PATH)."""
    return [sys.executable, "-m", "prefect", *args]


def start_server(port: int, prefect_home: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`prefect server start` on loopback, in its own process group (we decide when it stops), logging to a
    file so the terminal shows the worker's runs."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    log.write(f"\n--- mlops serve: prefect server start on 127.0.0.1:{port} at {time.ctime()} ---\n".encode())
    log.flush()
    try:
        return subprocess.Popen(
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"),
            env=server_env(port, prefect_home), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()


def check_state_folder(home: Path, named_by: str) -> None:
    """The server's state folder is a folder we can write (made now if missing), before anything starts: else one
    paragraph naming it and the option or variable that chose it (exit 2), not a traceback once a server runs."""
    from mlops.cli.errors import UsageError

    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".mlops-write-check.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        what = "is a file, not a folder" if home.is_file() else f"cannot be written ({exc.strerror or exc})"
        raise UsageError(
            f"the Prefect server's state folder {home} {what}; point {named_by} at a folder you can write. "
            "Nothing was started."
        ) from None


def server_env(port: int, prefect_home: Path) -> dict[str, str]:
    """The server's environment. `prefect server start --port` does not tell the UI: it would call the API on
    the default port 4200 ("Can't connect to Server API"), so the UI's API URL is set to match. PREFECT_UI_URL
    is what the server's automations put in their messages' links to runs (`{{ flow_run|ui_url }}`)."""
    env = child_env(None, prefect_home)
    env.update(
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=api_url_for(port),
    )
    env.setdefault("PREFECT_UI_URL", ui_url_for(api_url_for(port)))
    return env


def wait_healthy(api_url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 180) -> float:
    """Seconds until the server answers /api/health; raise with the log's tail if it exits or never answers."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if (code := exit_code(proc)) is not None:
            raise ServeError(
                f"the Prefect server exited (code {code}) before it was ready. Its log, {log_path}, ends "
                f"with:\n{tail(log_path)}"
            )
        if healthy(api_url):
            return time.monotonic() - start
        time.sleep(0.5)
    raise ServeError(
        f"the Prefect server did not answer {api_url}/health within {timeout:.0f} s; see its log {log_path}:\n"
        f"{tail(log_path)}"
    )


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def deploy_all(project: Path, api_url: str, timeout: float = 600) -> str:
    """`prefect --no-prompt deploy --all` in the project folder against `api_url`; its output, or ServeError."""
    try:
        done = subprocess.run(
            prefect_command("--no-prompt", "deploy", "--all"), cwd=project, env=child_env(api_url),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ServeError(f"`prefect deploy --all` did not finish within {timeout:.0f} s.") from None
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        last = "\n".join(output.strip().splitlines()[-20:])
        raise ServeError(
            f"`prefect --no-prompt deploy --all` failed (exit {done.returncode}) against {api_url}. Its output "
            f"ends with:\n{last}"
        )
    return output


def start_worker(project: Path, api_url: str, pool: str) -> subprocess.Popen[bytes]:
    """A process worker for `pool`, started in the project folder (the pool's working_dir '.' is this folder).
    Its output (the flow runs' logs) goes to our terminal."""
    return subprocess.Popen(
        prefect_command("worker", "start", "--pool", pool, "--type", "process"),
        cwd=project, env=child_env(api_url), stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def exit_code(proc: subprocess.Popen[Any]) -> int | None:
    """The child's exit code once it has exited (negative: the signal that killed it), else None, WITHOUT reaping it
    (Popen.poll reaps): until it is reaped, its pid, and so its process group's id, cannot be given to another
    program, so `stop` can still signal the group it left behind."""
    if proc.returncode is not None or not hasattr(os, "waitid"):
        return proc.poll()
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped elsewhere
        return proc.poll()
    if info is None:
        return None
    return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status


def stop(proc: subprocess.Popen[Any] | None, grace: float = 30, first: int = signal.SIGINT) -> int | None:
    """Ask a child to stop (`first`: SIGINT, as Ctrl-C would), wait `grace` seconds, then SIGKILL its whole process
    group (what it left behind: uvicorn, flow runs), and only then reap it, so the group signalled is still ours (a
    reaped child's pid may be another program's group by then). A child someone already reaped is left alone."""
    if proc is None or proc.returncode is not None:
        return None if proc is None else proc.returncode
    if exit_code(proc) is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, first)  # not proc.send_signal: it polls, and so may reap
        deadline = time.monotonic() + grace
        while exit_code(proc) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    return proc.returncode


def stop_all(procs: list[subprocess.Popen[Any] | None], grace: float = 30) -> None:
    """Stop the children in order (workers first, so no run starts on a dying server); a second Ctrl-C while
    waiting kills whatever is left at once rather than leaving it running."""
    try:
        for proc in procs:
            stop(proc, grace)
    except KeyboardInterrupt:
        for proc in procs:
            stop(proc, grace=0)


@contextmanager
def interrupts() -> Iterator[None]:
    """Ctrl-C and SIGTERM (systemd, docker stop, kill) both stop `mlops serve` the same clean way.

    Installed before the children start: a shell starts background jobs with SIGINT ignored, and children
    inherit an ignored signal, while a handled one is reset to the default in them, so they stop when asked."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def supervise(server: Any, workers: list[Any], log_path: Path) -> None:
    """Wait for Ctrl-C; a child that dies on its own stops everything with exit 1."""
    while True:
        time.sleep(1)
        if (code := exit_code(server)) is not None:
            raise ServeError(
                f"the Prefect server stopped on its own (exit {code}); its log, {log_path}, "
                f"ends with:\n{tail(log_path)}"
            )
        for w in workers:
            if (code := exit_code(w)) is not None:
                raise ServeError(f"the worker stopped on its own (exit {code}); its output is above.")


# --- the children recorded, so a `mlops serve` killed with SIGKILL leaves nothing that cannot be found -------------

RECORD = "serve.json"


@dataclass(frozen=True)
class Child:
    """A process `mlops serve` started (or `mlops serve` itself): its pid and the kernel's start time of that pid."""

    role: str  # "mlops serve", "Prefect server", "worker for pool 'x'"
    pid: int
    started: str

    def ours(self) -> bool:
        """This very process is still running: the pid is alive and was started when we recorded it (a pid the
        system reused for another program has another start time)."""
        from mlops.cli.local_server import alive

        return bool(self.started) and alive(self.pid) and process_start(self.pid) == self.started


def process_start(pid: int) -> str:
    """When the process started, as the kernel says (clock ticks since boot; `ps -o lstart` without /proc); '' when
    it cannot be told."""
    with suppress(OSError, IndexError):
        if Path("/proc/self").is_dir():
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        done = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()
    return ""


def record_path(mlops_home: Path) -> Path:
    return mlops_home / RECORD


def write_children(path: Path, children: list[Child]) -> None:
    """Record processes we started (each pid with its start time), replacing the file in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps([vars(c) for c in children], indent=1))
        os.replace(tmp, path)
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


def read_children(path: Path) -> list[Child] | None:
    """The processes recorded in `path` (running or not); None when there is no record or it is not ours to judge
    (being written, or not in our format)."""
    try:
        return [Child(str(e["role"]), int(e["pid"]), str(e["started"])) for e in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def me(role: str) -> Child:
    """This process, as a record entry."""
    return Child(role, os.getpid(), process_start(os.getpid()))


def started(role: str, proc: subprocess.Popen[Any]) -> Child:
    """A child this process started, as a record entry."""
    return Child(role, proc.pid, process_start(proc.pid))


def record(
    mlops_home: Path, server: subprocess.Popen[Any], workers: Iterable[tuple[str, subprocess.Popen[Any]]] = ()
) -> None:
    """Write down this `mlops serve`, its server and the workers it started so far (pool, process)."""
    entries = [me("mlops serve"), started("Prefect server", server)]
    entries += [started(f"worker for pool '{pool}'", w) for pool, w in workers]
    write_children(record_path(mlops_home), entries)


def forget(mlops_home: Path) -> None:
    with suppress(OSError):
        record_path(mlops_home).unlink(missing_ok=True)


def recorded(mlops_home: Path) -> list[Child]:
    """The processes of the last `mlops serve` of this MLOPS_HOME that are still running (none: [])."""
    return [c for c in read_children(record_path(mlops_home)) or [] if c.ours()]


def stop_recorded(mlops_home: Path, grace: float = 30) -> list[Child]:
    """Stop what a `mlops serve` of this MLOPS_HOME left running, and forget it. A live `mlops serve` is asked
    first (SIGTERM: its own clean stop, workers then server); its children still running after it are stopped as
    Ctrl-C would (SIGINT, then SIGKILL to their process group after `grace`). Returns what was running."""
    running = recorded(mlops_home)
    for child in running:
        if child.role == "mlops serve":
            stop_child(child, signal.SIGTERM, grace + 10, group=False)
    for child in running:
        if child.role != "mlops serve":
            stop_child(child, signal.SIGINT, grace)
    forget(mlops_home)
    return running


def stop_child(child: Child, first: int, grace: float, group: bool = True) -> None:
    """Stop a recorded process that is not our child (a command or `mlops serve` that was killed started it):
    `first`, then after `grace` SIGKILL to its process group (it was started in a new session). Only the very
    process recorded is signalled: each signal follows a check of its pid and start time."""
    if not child.ours():
        return
    with suppress(ProcessLookupError, PermissionError):
        os.kill(child.pid, first)
    if not _wait_gone(child, grace) and group:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        _wait_gone(child, 10)


def _wait_gone(child: Child, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while child.ours():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def describe_recorded(children: list[Child]) -> str:
    """'`mlops serve` (pid 11) runs with the Prefect server (pid 12), ...', or, when that `mlops serve` is gone, 'a
    `mlops serve` that was killed left the Prefect server (pid 12), the worker for pool 'x' (pid 13) running'."""
    shown = ", ".join(f"the {c.role} (pid {c.pid})" for c in children if c.role != "mlops serve")
    serve = next((c for c in children if c.role == "mlops serve"), None)
    if serve is not None:
        return f"`mlops serve` (pid {serve.pid}) runs with {shown or 'no child yet'}"
    return f"a `mlops serve` that was killed left {shown} running"
