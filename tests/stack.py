"""The shared servers of a team, started on this machine (loopback only) for the scale-out test and `make stack`:
PostgreSQL (Debian's binaries, `initdb` + `pg_ctl` in a temporary folder), a Prefect server on it with a basic-auth
string, and an MLflow tracking server on it with proxied artifacts and MLflow's `basic-auth` app (an admin, a team
user with MANAGE on the registered models, a read-only user).

Every process is started in its own process group and stopped by `Stack.stop()` (also when a start fails half
way), so a failing test leaves nothing running. `python -m tests.stack` starts it all plus a worker, prints the
environment to export, and stops everything on Ctrl-C (docs/scale-out.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TQDM_DISABLE": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
}
# The Prefect server loops a test's server does without (Prefect 3.8: prefect/settings/models/server/services.py):
# no test waits for a cron schedule to create runs (the scheduler also writes up to 100 future runs for each
# scheduled deployment that `mlops deploy` creates), for a run to be marked late, or for a worker to be marked
# offline, and none opens the UI. tests/e2e/test_prefect_server.py's `mlops serve` keeps all of them, and so does
# `make stack`. Events, automations, task-run recording, concurrency leases and pauses stay on.
LEAN_PREFECT_SERVER = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
}
TEAM, READER, ADMIN = "team", "reader", "admin"
POOL = "mlops-local"


class StackError(RuntimeError):
    """A piece of the stack did not start; the message names it and the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed), or None: `.ci/install-postgres.sh` installs them."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name)
    return found[-1].parent if found else None


@dataclass
class Stack:
    root: Path
    secrets: dict[str, str] = field(default_factory=dict)
    pg_port: int = 0
    prefect_port: int = 0
    mlflow_port: int = 0
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    lean: bool = False  # a test's stack: its Prefect server without LEAN_PREFECT_SERVER's services
    _pg_data: Path | None = None
    _pg_bin: Path | None = None

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def prefect_auth(self) -> str:
        return f"mlops:{self.secrets['prefect']}"

    def client_env(self, user: str | None = TEAM, prefect_auth: bool = True) -> dict[str, str]:
        """The environment of a client (worker, CLI) as `user` (None: no MLflow credentials at all)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "PREFECT_API_"))}
        env.update(QUIET)
        env.update(
            PREFECT_API_URL=self.prefect_api_url,
            MLFLOW_TRACKING_URI=self.mlflow_url,
            MLOPS_LOCAL_PREFECT="off",
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="2",
        )
        if prefect_auth:
            env["PREFECT_API_AUTH_STRING"] = self.prefect_auth
        if user is not None:
            env["MLFLOW_TRACKING_USERNAME"] = user
            env["MLFLOW_TRACKING_PASSWORD"] = self.secrets[user]
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((name, proc, log))

    def log_tail(self, name: str, lines: int = 30) -> str:
        log = self.root / "logs" / f"{name}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def wait_http(self, name: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc_name, proc, _ in self.procs:
                if proc_name == name and proc.poll() is not None:
                    raise StackError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.5)
        raise StackError(f"{name} did not answer {url} within {timeout:.0f} s:\n{self.log_tail(name)}")

    # --- PostgreSQL ----------------------------------------------------------------------------------------

    def _as_postgres(self, argv: list[str]) -> list[str]:
        """initdb refuses to run as root: run the PostgreSQL binaries as the `postgres` user then."""
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def start_postgres(self, databases: list[str], password: str | None = None) -> None:
        """With `password`, TCP clients must give it (scram-sha-256; the user `postgres`), else any is let in."""
        pg = postgres_bin()
        if pg is None:
            raise StackError(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run .ci/install-postgres.sh"
            )
        self._pg_bin = pg
        data = Path(tempfile.mkdtemp(prefix="mlops-pg-"))  # directly under /tmp: postgres can enter it
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        self._pg_data = data
        self.pg_port = free_port()
        run = {"check": True, "capture_output": True, "env": {**os.environ, "LC_ALL": "C.UTF-8"}}
        try:
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256"] if password else ["--auth=trust"]
            subprocess.run(self._as_postgres([str(pg / "initdb"), "-D", str(data / "db"), "-U", "postgres",
                                              *auth, "-E", "UTF8"]), **run)  # type: ignore[call-overload]  # fmt: skip
            opts = f"-p {self.pg_port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
            subprocess.run(self._as_postgres([str(pg / "pg_ctl"), "-D", str(data / "db"), "-o", opts,
                                              "-l", str(data / "pg.log"), "-w", "-t", "60", "start"]), **run)  # type: ignore[call-overload]  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise StackError(
                f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-2000:]}"
            ) from None
        import psycopg2

        # the Unix socket in `data` is trusted: the password is set there
        conn = psycopg2.connect(host=str(data), port=self.pg_port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            if password:
                cur.execute("ALTER USER postgres PASSWORD %s", (password,))
            for db in databases:
                cur.execute(f'CREATE DATABASE "{db}"')
        conn.close()

    def pg_url(self, db: str, driver: str = "postgresql") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.pg_port}/{db}"

    # --- servers -------------------------------------------------------------------------------------------

    def start_prefect(self) -> None:
        self.prefect_port = free_port()
        env = {**os.environ, **QUIET, **(LEAN_PREFECT_SERVER if self.lean else {})}
        env.update(
            PREFECT_HOME=str(self.root / "prefect-home"),
            PREFECT_API_DATABASE_CONNECTION_URL=self.pg_url("prefect", "postgresql+asyncpg"),
            PREFECT_SERVER_API_AUTH_STRING=self.prefect_auth,
            PREFECT_API_AUTH_STRING=self.prefect_auth,
            PREFECT_API_URL=self.prefect_api_url,
        )
        argv = [
            str(BIN / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.prefect_port),
        ]
        self.spawn("prefect-server", argv, env)
        self.wait_http("prefect-server", f"{self.prefect_api_url}/health", 120)

    def start_mlflow(self) -> None:
        self.mlflow_port = free_port()
        ini = self.root / "mlflow-auth.ini"
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {self.pg_url('mlflow_auth')}\n"
            f"admin_username = {ADMIN}\nadmin_password = {self.secrets[ADMIN]}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "auth_cache_ttl_seconds = 60\n"  # one PBKDF2 check per user a minute, not one per request
        )
        ini.chmod(0o600)
        env = {**os.environ, **QUIET, "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
        # MLflow's job runner (GenAI jobs: a runner and seven huey consumer processes, ~4 s CPU each to start) does
        # nothing for a model registry: off, as tests/e2e/test_faults.py's server has it
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = self.secrets["flask"]  # CSRF key, one for all server workers
        env.pop("MLFLOW_TRACKING_USERNAME", None)
        env.pop("MLFLOW_TRACKING_PASSWORD", None)
        artifacts = self.root / "mlflow-artifacts"  # server side only: clients use mlflow-artifacts:/
        argv = [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1",
                "--port", str(self.mlflow_port), "--backend-store-uri", self.pg_url("mlflow"),
                "--artifacts-destination", str(artifacts), "--workers", "1"]  # fmt: skip
        self.spawn("mlflow-server", argv, env)
        self.wait_http("mlflow-server", f"{self.mlflow_url}/health", 180)
        self._create_users()

    def _create_users(self) -> None:
        """A team user with MANAGE on every registered model and experiment, and a reader (READ, the default)."""
        from mlflow.server.auth.client import AuthServiceClient

        saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
        os.environ.update(MLFLOW_TRACKING_USERNAME=ADMIN, MLFLOW_TRACKING_PASSWORD=self.secrets[ADMIN])
        try:
            auth = AuthServiceClient(self.mlflow_url)
            for user in (TEAM, READER):
                auth.create_user(user, self.secrets[user])
            for kind in ("registered_model", "experiment"):
                auth.grant_user_permission(TEAM, kind, "*", "MANAGE")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def create_pool(self) -> None:
        """The one process work pool every worker polls (`mlops deploy` needs it to exist), created as `mlops serve`
        creates its pools (mlops/cli/server.py: Prefect's client in this process, the process worker's default job
        template): a `prefect work-pool create` process cost ~5 s of CPU, 8-27 s of wall on a loaded machine."""
        from prefect.settings import PREFECT_API_AUTH_STRING, temporary_settings

        from mlops.cli.server import ensure_process_pools

        with temporary_settings(updates={PREFECT_API_AUTH_STRING: self.prefect_auth}):
            _, other = ensure_process_pools(self.prefect_api_url, [POOL])
        if other:
            raise StackError(f"the work pool {POOL} exists with another type: {other[0]}")

    def start_worker(self, name: str, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        """A process worker on the pool, started in `folder` (its own copy of the project) with its own MLOPS_HOME.
        `extra_env` reaches the worker and its flow runs (e.g. MLOPS_DASK_ADDRESS for a Dask scheduler)."""
        env = self.client_env(TEAM)
        env.update(
            MLOPS_HOME=str(folder / ".mlops"), PREFECT_HOME=str(folder / ".prefect"), **(extra_env or {})
        )
        argv = [
            str(BIN / "prefect"),
            "worker",
            "start",
            "--pool",
            POOL,
            "--name",
            name,
            "--type",
            "process",
            "--limit",
            "1",
        ]
        self.spawn(name, argv, env, cwd=folder)

    def start_dask(self, workers: int = 2, timeout: float = 120) -> str:
        """A Dask scheduler and `workers` worker processes (one thread each) on loopback; returns its address.
        The Dask processes get no Prefect or MLflow settings: what a fit needs travels with the task."""
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "PREFECT_API_"))}
        env.update(QUIET)
        dask = str(BIN / "dask")
        self.spawn("dask-scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"], env, cwd=self.root)  # fmt: skip
        self.spawn("dask-workers", [dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                                    "--no-dashboard", "--name", "dask-worker"], env, cwd=self.root)  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:  # the scheduler first (a client cannot connect before it listens), then its workers
            for name, proc, _ in self.procs:
                if name.startswith("dask-") and proc.poll() is not None:
                    raise StackError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
                return address
            except (OSError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"Dask at {address} has not {workers} workers within {timeout:.0f} s ({exc}):\n"
                        f"{self.log_tail('dask-scheduler')}\n{self.log_tail('dask-workers')}"
                    ) from None
                time.sleep(0.5)

    # --- stopping ------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process (process groups: a worker's flow runs too), then PostgreSQL; remove its data."""
        for _, proc, _ in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        # one 15 s grace for them all (they stop at once), not 15 s each in turn
        deadline = time.monotonic() + 15
        for _, proc, _ in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()
        if self._pg_data is not None and self._pg_bin is not None:
            subprocess.run(self._as_postgres([str(self._pg_bin / "pg_ctl"), "-D", str(self._pg_data / "db"),
                                              "-m", "immediate", "-w", "stop"]), capture_output=True)  # fmt: skip
            shutil.rmtree(self._pg_data, ignore_errors=True)
            self._pg_data = None


def start_stack(root: Path, on_started: Callable[[Stack], None] | None = None, lean: bool = False) -> Stack:
    """PostgreSQL, the Prefect server and the MLflow server with its users; stopped again if any piece fails.
    `lean`: a test's stack, its Prefect server without the services of LEAN_PREFECT_SERVER."""
    stack = Stack(
        root=root,
        secrets={u: secrets.token_urlsafe(12) for u in ("prefect", "flask", ADMIN, TEAM, READER)},
        lean=lean,
    )
    try:
        stack.start_postgres(["prefect", "mlflow", "mlflow_auth"])
        stack.start_prefect()
        stack.start_mlflow()
        if on_started:
            on_started(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def main() -> int:
    """`make stack`: the servers and one worker for this project folder; prints what to export; Ctrl-C stops."""
    project = Path.cwd()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the stack like Ctrl-C does
    root = Path(tempfile.mkdtemp(prefix="mlops-stack-"))
    print(f"starting PostgreSQL, Prefect and MLflow (logs in {root / 'logs'}) ...", flush=True)
    stack = start_stack(root)
    try:
        env = stack.client_env(TEAM)
        stack.create_pool()
        subprocess.run([str(BIN / "mlops"), "deploy"], env=env, cwd=project, check=True)
        stack.start_worker("worker-1", project)
        exports = {k: env[k] for k in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "MLFLOW_TRACKING_URI",
                                       "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}  # fmt: skip
        print(f"\nPrefect UI: http://127.0.0.1:{stack.prefect_port} (user:password {stack.prefect_auth})")
        print(f"MLflow UI:  {stack.mlflow_url} (users: {ADMIN} {stack.secrets[ADMIN]}, {TEAM} "
              f"{stack.secrets[TEAM]}, {READER} {stack.secrets[READER]} read-only)")  # fmt: skip
        print("PostgreSQL: " + stack.pg_url("postgres"))
        print(
            "\nIn another shell, to run as the team:\n"
            + "\n".join(f"export {k}='{v}'" for k, v in exports.items())
        )
        print(
            "\nA worker polls the pool 'mlops-local' from this folder. Ctrl-C stops everything.", flush=True
        )
        while all(proc.poll() is None for _, proc, _ in stack.procs):
            time.sleep(1)
        dead = [name for name, proc, _ in stack.procs if proc.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited; see {root / 'logs'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        print("stack stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
