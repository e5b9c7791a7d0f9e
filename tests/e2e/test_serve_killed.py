"""`mlops serve` killed with SIGKILL cannot stop its Prefect server and worker: they are found from its record
(mlops/cli/supervisor.py), shown by `mlops server status` and stopped by `mlops server stop`. Real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from mlops.cli.local_server import alive
from tests.conftest import PREFECT_DB, REPO, free_port, run_mlops, wait_until
from tests.e2e.test_prefect_server import port_open, start_serve, stop_serve

pytestmark = pytest.mark.e2e


def test_a_serve_killed_with_sigkill_leaves_what_status_shows_and_stop_stops(  # type: ignore[no-untyped-def]
    tmp_path, prefect_db_template
) -> None:
    """`mlops serve`'s PREFECT_HOME holds a copy of the session's migrated Prefect database (tests/conftest.py::
    migrated_prefect_db): what is tested is the kill, not a first migration (~4 s of CPU, which
    tests/e2e/test_prefect_server.py's `mlops serve` on a new --prefect-home keeps covered)."""
    port = free_port()
    (tmp_path / "prefect").mkdir()
    shutil.copyfile(prefect_db_template, tmp_path / "prefect" / PREFECT_DB)
    served = start_serve(port, tmp_path / "prefect", tmp_path / "mlops-home", worker=True)
    try:
        record = {
            e["role"]: e["pid"] for e in json.loads((tmp_path / "mlops-home" / "serve.json").read_text())
        }
        server = record["Prefect server"]
        workers = [pid for role, pid in record.items() if role.startswith("worker")]
        assert workers and record["mlops serve"] == served.proc.pid
        os.kill(served.proc.pid, signal.SIGKILL)
        served.proc.wait(timeout=30)
        assert alive(server) and all(alive(w) for w in workers) and port_open(port)  # SIGKILL stops no child

        env = {**served.env(), "MLOPS_LOCAL_PREFECT": "off"}
        env.pop("PREFECT_API_URL")
        status = run_mlops("server", "status", cwd=REPO, env=env)
        assert status.returncode == 0, status.stderr
        assert "A `mlops serve` that was killed left the Prefect server" in status.stdout.replace("\n", " ")
        assert f"(pid {server})" in status.stdout and all(f"(pid {w})" in status.stdout for w in workers)

        stopped = run_mlops("server", "stop", cwd=REPO, env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert f"(pid {server})" in stopped.stdout
        wait_until(
            lambda: not alive(server) and not any(alive(w) for w in workers), 30, what="the children stopped"
        )
        assert not port_open(port)
        again = run_mlops("server", "status", cwd=REPO, env=env)
        assert "mlops serve" not in again.stdout and not (tmp_path / "mlops-home" / "serve.json").exists()
    finally:
        stop_serve(served)
        for pid in [*record.values()] if "record" in locals() else []:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
