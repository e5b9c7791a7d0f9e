"""A command's temporary Prefect server (MLOPS_KEEP_SERVER=0, no other server; mlops/cli/temporary_server.py) never
outlives the command unseen: Prefect's own one, a plain child stopped by an atexit hook, stayed running after a
SIGKILL of the command, reparented to init, shown by nothing and stopped by nothing. Real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.cli import temporary_server as tmp
from mlops.cli.errors import UsageError
from mlops.cli.local_server import alive
from mlops.cli.supervisor import Child, process_start
from tests.conftest import PREFECT_DB, REPO, invoke_mlops, wait_until

# what `mlops run` does around its flow (the pre-flight, Prefect pointed at a server, a call to its API), then waits
# to be killed
RUN = (
    "import time\n"
    "from mlops.cli.runtime import prefect_context, prefect_settings\n"
    "from prefect.client.orchestration import get_client\n"
    "with prefect_context(prefect_settings()):\n"
    "    with get_client(sync_client=True) as client:\n"
    "        client.hello().raise_for_status()\n"
    "    print('ready', flush=True)\n"
    "    time.sleep(600)\n"
)


def _servers_of(pid: int) -> list[int]:
    """The processes started by `pid` that run a Prefect server app (Prefect's temporary server, or ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[1]) == pid and (
            "create_app" in cmdline or "prefect server start" in cmdline.replace(" -m ", " ")
        ):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the kernel's stop is Linux's")
def test_a_command_killed_with_sigkill_leaves_no_temporary_server_running(
    isolated_home: Path, tmp_path: Path, prefect_db_template: Path
) -> None:
    """The command's PREFECT_HOME holds a copy of the session's migrated Prefect database (tests/conftest.py::
    migrated_prefect_db): what is tested is the kill, not a first migration (~4 s of CPU, which
    tests/integration/test_local_server.py's first test keeps covered)."""
    env = {
        **os.environ,
        "MLOPS_KEEP_SERVER": "0",
        "MLOPS_LOCAL_PREFECT": "off",
        "MLOPS_HOME": str(isolated_home),
    }
    # Prefect's own temporary server needed more than its 20 s here to start on a new database
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    (tmp_path / "prefect-home").mkdir()
    shutil.copyfile(prefect_db_template, tmp_path / "prefect-home" / PREFECT_DB)
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    servers: list[int] = []
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
        servers = _servers_of(proc.pid)
        assert servers, "no temporary server was started"
        records = [json.loads(r.read_text()) for r in tmp.folder(isolated_home).glob("*.json")]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_until(
            lambda: not any(alive(s) for s in servers),
            30,
            what="the temporary server stopped with its command",
        )
        assert [{e["pid"] for e in r} for r in records] == [{proc.pid, *servers}]  # recorded as it started
        shown = invoke_mlops("server", "status")
        assert "temporary" not in shown.stdout and not list(tmp.folder(isolated_home).glob("*.json"))
    finally:
        for pid in [proc.pid, *servers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_temporary_server_left_by_a_killed_command_is_shown_and_stopped(isolated_home: Path) -> None:
    """Where the kernel does not stop it (macOS has no PR_SET_PDEATHSIG), the record finds it: a real process stands
    for the server, a recorded command pid that is now another process's (another start time) for the killed one."""
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    try:
        where = tmp.folder(isolated_home)
        where.mkdir(parents=True)
        entries = [
            Child(tmp.ROLE_COMMAND, os.getpid(), "1"),  # this pid, another start time: the killed command's
            Child(tmp.ROLE_SERVER, server.pid, process_start(server.pid)),
        ]
        (where / "123.json").write_text(json.dumps([vars(c) for c in entries]))
        # a record whose server pid now belongs to another program (its start time differs): never signalled
        reused = [Child(tmp.ROLE_COMMAND, 99999999, "1"), Child(tmp.ROLE_SERVER, bystander.pid, "1")]
        (where / "456.json").write_text(json.dumps([vars(c) for c in reused]))

        shown = invoke_mlops("server", "status")
        assert shown.returncode == 0, shown.stderr
        text = " ".join(shown.stdout.split())
        assert (
            f"A command that was killed (pid {os.getpid()}) left its temporary Prefect server (pid {server.pid})"
            in text
        )
        assert str(bystander.pid) not in text

        stopped = invoke_mlops("server", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"Stopped the temporary Prefect server (pid {server.pid})" in stopped.stdout
        assert not alive(server.pid)  # (reaped by the check: its exit code is not ours to read)
        assert alive(bystander.pid)  # not ours: left alone
        assert not (where / "123.json").exists() and not (where / "456.json").exists()
    finally:
        for p in (server, bystander):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_home_where_the_record_cannot_be_written_is_said_and_nothing_starts(isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True, exist_ok=True)
    tmp.folder(isolated_home).write_text("not a folder")
    with pytest.raises(UsageError) as info:
        tmp.start(isolated_home)
    assert f"cannot be recorded in {tmp.folder(isolated_home)}" in str(info.value)
    assert "Nothing was started" in str(info.value) and tmp.url() is None


def test_a_server_set_in_prefects_own_settings_is_used_and_none_is_started(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PREFECT_API_URL from a Prefect profile or settings context (not the environment mlops reads) is where the runs
    go, as before: the temporary server is only for a command with no server anywhere."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from mlops.cli.runtime import prefect_context, prefect_settings

    monkeypatch.setenv("MLOPS_KEEP_SERVER", "0")
    monkeypatch.setenv("MLOPS_LOCAL_PREFECT", "off")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        settings = prefect_settings()
        assert settings.prefect_api_url is None
        with prefect_context(settings):
            assert PREFECT_API_URL.value() == "http://127.0.0.1:9/api"
    assert tmp.url() is None and not tmp.folder(isolated_home).exists()
