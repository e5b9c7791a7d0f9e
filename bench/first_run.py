"""First run on embedded defaults (issue 7, item 3): from the command to the first task running.

`mlops run retrain deployments/diabetes.yaml` (a tiny built-in dataset, so the figures are about start-up, not
work) in a child process, with no PREFECT_API_URL, its own MLOPS_HOME and PREFECT_HOME, timed from just before
the fork to:
  - the flow run's start and the first task run's start, read from the Prefect database the run wrote
    (the temporary server's PREFECT_HOME/prefect.db, or the local server's), in UTC;
  - the process's exit (the whole run).

Modes (`mlops run` with no PREFECT_API_URL uses a Prefect server it finds running at MLOPS_LOCAL_PREFECT, else
starts a temporary one; see mlops/settings.py::find_local_prefect):
  temporary  no server running: MLOPS_LOCAL_PREFECT points at a free port with nothing listening (the
             default's look-up is made, and fails), so Prefect starts a temporary server for the run. The first
             run has a new PREFECT_HOME and a new MLOPS_HOME (a first ever run: Prefect creates its database,
             the validate cache is empty); the later runs reuse both (a user's next run: the pre-flight finds
             the spec in the validate cache).
  local      a `prefect server start` (its own PREFECT_HOME, a free port) is started once, untimed (its time to
             healthy is reported), and MLOPS_LOCAL_PREFECT points at it: the default discovery finds it. The
             first run has a new MLOPS_HOME (validate cache cold), the second reuses it (the pre-flight's checks
             hit the cache).

Each run records whether its pre-flight hit the validate cache ($MLOPS_HOME/cache/check-parts.json is only
rewritten on a miss) and whether the retrain fitted or reused a finished training run of the same spec and data
(a later run in the same MLOPS_HOME does: this changes the whole command's time, not the time to the first task).
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

from common import MLOPS, PYTHON, REPO, free_port, log, quiet_env, run_child

SPEC = "deployments/diabetes.yaml"
CACHE = Path("cache") / "check-parts.json"  # mlops/cli/check_memo.py: FILE, under MLOPS_HOME


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


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def one_run(
    mode: str, i: int, home: Path, prefect_home: Path, local_url: str, server_db: Path | None
) -> dict[str, Any]:
    env = quiet_env(MLOPS_HOME=str(home), PREFECT_HOME=str(prefect_home), MLOPS_LOCAL_PREFECT=local_url)
    cache_before = _mtime(home / CACHE)
    child = run_child([MLOPS, "run", "retrain", SPEC], env=env, cwd=REPO, timeout=300)
    if child.returncode != 0:
        raise RuntimeError(
            f"{mode} run failed ({child.returncode}):\n{child.stdout[-2000:]}\n{child.stderr[-3000:]}"
        )
    said = " ".join(child.stdout.split())  # rich wraps long lines in a file
    if server_db is not None and local_url not in said:
        raise RuntimeError(f"{mode} run did not use the local server at {local_url}:\n{child.stdout[-2000:]}")
    if server_db is None and "temporary local server" not in said:
        raise RuntimeError(f"{mode} run did not use a temporary server:\n{child.stdout[-2000:]}")
    cache_after = _mtime(home / CACHE)
    if cache_after is None:
        cache = "not written"
    elif cache_before is None:
        cache = "cold"
    else:
        cache = "hit" if cache_after == cache_before else "miss"
    flow_start, task_start = run_times(server_db or prefect_home / "prefect.db", child.started_at)
    return {
        "mode": mode,
        "run": i,
        "validate_cache": cache,
        "refit": "not refitted" not in said,
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


def measure(work: Path, runs: int) -> dict[str, Any]:
    """`runs` runs on a temporary server (the first ever, then later ones), then two with a local server
    running (validate cache cold, then warm)."""
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"runs": []}

    def series(mode: str, n: int, local_url: str, server_db: Path | None = None) -> None:
        home, prefect_home = work / f"mlops-home-{mode}", work / f"prefect-home-{mode}"  # new, then reused
        for i in range(n):
            log(f"first run: {mode}, run {i + 1}/{n}")
            out["runs"].append(one_run(mode, i, home, prefect_home, local_url, server_db))

    nobody = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there: the look-up fails at once
    series("temporary", max(1, runs), nobody)
    log("first run: starting a local prefect server")
    proc, url, db, seconds = start_server(work)
    out["server_start_seconds"] = seconds
    try:
        series("local", 2, url, db)
    finally:
        stop_server(proc)
    out["mlops_home"] = str(work / "mlops-home-local")  # a store with a champion, for `mlops status`
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    Path(a.out).write_text(json.dumps(measure(Path(a.work), a.runs), indent=1))
