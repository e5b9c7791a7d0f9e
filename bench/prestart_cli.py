"""Prototypes of a faster embedded default, measured by bench/first_run.py. They change nothing in mlops/: this
script runs `mlops` itself, with one or both of these changes made from the outside.

BENCH_PRESTART=1   with no PREFECT_API_URL, start Prefect's temporary server process (the same uvicorn command
                   Prefect's SubprocessASGIServer runs) as the very first thing, before anything is imported,
                   and point PREFECT_API_URL at it; the CLI's imports and spec checks then overlap the server's
                   boot (a separate process, on the other core) instead of following it. The flow waits for
                   /api/health only when it needs the API. The server is stopped when the command exits.
BENCH_LIGHT=1      a lighter pre-flight check before the flow: the spec's schema, the data's columns and the
                   suite's JSON and columns, as `mlops validate` does, but without importing Great Expectations
                   or scikit-learn to check the suite's kwargs and the estimator's params (the flow's own tasks
                   import them when they need them, after the first task has started).

    BENCH_PRESTART=1 python bench/prestart_cli.py run retrain deployments/diabetes.yaml
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prestart() -> str | None:
    """Start the temporary server without importing Prefect; returns its API URL."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    app_dir = str(Path(list(spec.submodule_search_locations)[0]).parent)
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory", "prefect.server.api.server:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

    atexit.register(stop)
    return f"http://127.0.0.1:{port}/api"


def wait_healthy(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the temporary Prefect server at {url} did not start in {timeout:.0f} s")


def light_preflight(spec: Path, params: dict[str, Any] | None = None) -> None:
    import mlops.cli as cli
    from mlops.checks import _columns_present
    from mlops.errors import MlopsError, Problem, SpecError
    from mlops.spec import load_spec

    try:
        loaded = load_spec(spec).with_params(params)
    except SpecError as exc:
        cli._problems(exc.problems)
        return
    from tasks.data import read_frame
    from tasks.quality import read_suite, suite_columns

    file, problems = str(loaded.path), []
    try:
        columns = [str(c) for c in read_frame(loaded, nrows=200).columns]
        problems += _columns_present(file, loaded.spec, columns)
    except SpecError as exc:
        problems += exc.problems
    except MlopsError as exc:
        problems.append(Problem(file, "data.source", str(exc)))
    if loaded.spec.quality:
        path = loaded.resolve(loaded.spec.quality.suite)
        try:
            missing = sorted(suite_columns(read_suite(path)) - set(columns))
            problems += [
                Problem(file, "quality.suite", f"{path}: column '{c}' is not in the data") for c in missing
            ]
        except (OSError, ValueError) as exc:
            problems.append(Problem(file, "quality.suite", f"{path}: {exc}"))
    if problems:
        cli._problems(problems)


def main() -> None:
    url = None
    if os.environ.get("BENCH_PRESTART") == "1" and not os.environ.get("PREFECT_API_URL"):
        url = prestart()
        if url:
            os.environ["PREFECT_API_URL"] = url
            os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    import mlops.cli as cli

    original = cli._prefect

    @contextmanager
    def waiting(settings: Any) -> Iterator[None]:
        if url:
            wait_healthy(url)
            settings = type(settings)(**{**settings.__dict__, "prefect_api_url": None})  # still "embedded"
        with original(settings):
            yield

    cli._prefect = waiting
    if os.environ.get("BENCH_LIGHT") == "1":
        cli._preflight = light_preflight
    sys.argv[0] = "mlops"
    cli.app()


if __name__ == "__main__":
    main()
