"""First run on embedded defaults (issue 7, item 3): from the command to the first task running.

`mlops run retrain deployments/diabetes.yaml` (a tiny built-in dataset, so the figures are about start-up, not
work) in a child process, with its own MLOPS_HOME and PREFECT_HOME, timed from just before the fork to:
  - the flow run's start and the first task run's start, read from the Prefect database the run wrote
    (the temporary server's PREFECT_HOME/prefect.db, or the local server's), in UTC;
  - the process's exit (the whole run).

Modes:
  temporary       no PREFECT_API_URL: Prefect starts a temporary server for the run (today's default). The
                  first run uses a new PREFECT_HOME (a first ever run); the next ones reuse it.
  server          a local `prefect server start` (its own PREFECT_HOME) is started once, untimed (its time to
                  healthy is reported); runs have PREFECT_API_URL pointing at it.
  prestart        prototype (bench/prestart_cli.py): the temporary server's process is started first thing,
                  so its boot overlaps the CLI's imports and spec checks.
  server+light    prototype: a running local server, and a pre-flight check that does not import Great
                  Expectations or scikit-learn before the flow starts.
  prestart+light  prototype: both changes, on embedded defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import BENCH, MLOPS, PYTHON, REPO, free_port, log, quiet_env, run_child

SPEC = "deployments/diabetes.yaml"


def _utc(text: str | None) -> float | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def run_times(db: Path, since: float) -> tuple[float | None, float | None]:
    """(flow run start, first task run start) of the newest flow run started after `since` (epoch seconds)."""
    for _ in range(50):  # task runs reach the database through events, a moment after they start
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
                rows = con.execute("SELECT id, start_time FROM flow_run ORDER BY start_time DESC").fetchall()
                flow = next((r for r in rows if (_utc(r[1]) or 0) >= since - 1), None)
                if flow is not None:
                    task = con.execute(
                        "SELECT MIN(start_time) FROM task_run WHERE flow_run_id = ?", (flow[0],)
                    ).fetchone()
                    if task and task[0]:
                        return _utc(flow[1]), _utc(task[0])
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    return None, None


def one_run(
    mode: str, work: Path, prefect_home: Path, i: int, api_url: str | None, server_db: Path | None
) -> dict[str, Any]:
    home = work / f"mlops-home-{mode}-{i}"
    extra = {"MLOPS_HOME": str(home), "PREFECT_HOME": str(prefect_home)}
    if api_url:
        extra["PREFECT_API_URL"] = api_url
    args = [MLOPS, "run", "retrain", SPEC]
    if "prestart" in mode or "light" in mode:
        args = [PYTHON, str(BENCH / "prestart_cli.py"), "run", "retrain", SPEC]
        extra |= {
            "BENCH_PRESTART": "1" if "prestart" in mode else "0",
            "BENCH_LIGHT": "1" if "light" in mode else "0",
        }
    env = quiet_env(**extra)
    child = run_child(args, env=env, cwd=REPO, timeout=300)
    if child.returncode != 0:
        raise RuntimeError(
            f"{mode} run failed ({child.returncode}):\n{child.stdout[-2000:]}\n{child.stderr[-3000:]}"
        )
    flow_start, task_start = run_times(server_db or prefect_home / "prefect.db", child.started_at)
    return {
        "mode": mode,
        "run": i,
        "total_seconds": child.seconds,
        "to_flow_seconds": None if flow_start is None else flow_start - child.started_at,
        "to_first_task_seconds": None if task_start is None else task_start - child.started_at,
        "peak_rss_mb": child.peak_rss_mb,
    }


def start_server(work: Path) -> tuple[subprocess.Popen[bytes], str, Path, float]:
    """`prefect server start` on a free port with its own PREFECT_HOME; returns (process, api url, db, seconds)."""
    import httpx

    home = work / "prefect-server-home"
    port = free_port()
    env = quiet_env(PREFECT_HOME=str(home))
    logf = (work / "prefect-server.log").open("wb")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(PYTHON).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=work, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    deadline = start + 120
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"prefect server exited with {proc.returncode}; see {work / 'prefect-server.log'}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        stop_server(proc)
        raise RuntimeError("prefect server did not become healthy in 120 s")
    return proc, url, home / "prefect.db", time.perf_counter() - start


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: its own process group (start_new_session), by its id."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def measure(work: Path, runs: int, prototypes: bool = False) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"runs": []}

    def series(mode: str, api_url: str | None = None, server_db: Path | None = None, n: int = 1) -> None:
        prefect_home = work / f"prefect-home-{mode}"  # new for the first run of the mode, reused after
        for i in range(n):
            log(f"first run: {mode}, run {i + 1}/{n}")
            out["runs"].append(one_run(mode, work, prefect_home, i, api_url, server_db))

    series("temporary", n=runs)  # the first ever run, then later runs: the other modes once each
    if prototypes:
        series("prestart")
        series("prestart+light")
    log("first run: starting a local prefect server")
    proc, url, db, seconds = start_server(work)
    out["server_start_seconds"] = seconds
    try:
        series("server", url, db)
        if prototypes:
            series("server+light", url, db)
    finally:
        stop_server(proc)
    out["mlops_home"] = str(work / "mlops-home-server-0")  # a store with a champion, for `mlops status`
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    Path(a.out).write_text(json.dumps(measure(Path(a.work), a.runs), indent=1))
