"""What `mlops serve` records of its children is all `mlops server stop` may signal, and only while each pid is
still the very process recorded (its kernel start time): a reused pid is another program's, left alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlops.cli import supervisor as sv
from mlops.cli.local_server import alive
from tests.conftest import REPO, invoke_mlops, wait_until


def _record(home: Path, pid: int, started: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    entries = [{"role": "mlops serve", "pid": 999999, "started": "1"}, {"role": "Prefect server", "pid": pid,
               "started": started}]  # fmt: skip
    sv.record_path(home).write_text(json.dumps(entries))


def test_only_the_recorded_process_itself_is_stopped(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        _record(tmp_path, other.pid, "12345")  # the pid as recorded by a serve long gone: another start time
        assert sv.recorded(tmp_path) == []
        assert sv.stop_recorded(tmp_path, grace=2) == [] and alive(other.pid)  # not ours: left running

        _record(tmp_path, other.pid, sv.process_start(other.pid))  # the very process
        [child] = sv.recorded(tmp_path)
        assert sv.describe_recorded([child]) == (
            f"a `mlops serve` that was killed left the Prefect server (pid {other.pid}) running"
        )
        assert sv.stop_recorded(tmp_path, grace=5) == [child]
        wait_until(lambda: not alive(other.pid), 10, what="the recorded process stopped")
        assert not sv.record_path(tmp_path).exists()
    finally:
        other.kill()
        other.wait()


def test_an_unreadable_record_is_nothing_recorded(tmp_path: Path) -> None:
    sv.record_path(tmp_path).write_text("{not json")
    assert sv.recorded(tmp_path) == [] and sv.stop_recorded(tmp_path) == []


def test_a_running_serve_is_named_as_running(tmp_path: Path) -> None:
    """The next `mlops serve` refuses to start beside a running one (it names its pid) rather than stop it."""
    import os

    me = os.getpid()
    entries = [{"role": "mlops serve", "pid": me, "started": sv.process_start(me)}]
    sv.record_path(tmp_path).write_text(json.dumps(entries))
    running = sv.recorded(tmp_path)
    assert [c.pid for c in running] == [me]
    assert sv.describe_recorded(running) == f"`mlops serve` (pid {me}) runs with no child yet"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "70000"], "Invalid value for '--port'"),
        (["--port", "0"], "Invalid value for '--port'"),
        (
            ["--prefect-home", "FILE"],
            "is a file, not a folder; point --prefect-home at a folder you can write",
        ),
    ],
)
def test_serve_refuses_a_port_or_state_folder_it_cannot_use_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], said: str
) -> None:
    """These were a traceback: an OverflowError from the port check, a FileExistsError after "Starting the Prefect
    server ..." was printed."""
    monkeypatch.chdir(REPO)
    (tmp_path / "file").write_text("")
    r = invoke_mlops("serve", "--no-worker", *[str(tmp_path / "file") if a == "FILE" else a for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert said in " ".join((r.stdout + r.stderr).split())
    assert (
        "Starting the Prefect server" not in r.stdout and not sv.record_path(tmp_path / "mlops-home").exists()
    )


def test_a_child_is_reaped_only_after_its_process_group_is_killed(tmp_path: Path) -> None:
    """A reaped child's pid, and so its group id, may go to another program: `stop` must kill the group the child
    left (here a grandchild) while the child is still unreaped, and a check for its exit must not reap it."""
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 120 & echo $! > grandchild; exit 3"], cwd=tmp_path, start_new_session=True
    )
    wait_until(lambda: sv.exit_code(leader) is not None, 10, what="the leader exited")
    assert sv.exit_code(leader) == 3 and leader.returncode is None  # seen exited, not reaped
    assert Path(f"/proc/{leader.pid}").exists()  # a zombie: its pid is still taken
    grandchild = int((tmp_path / "grandchild").read_text())
    assert alive(grandchild)

    assert sv.stop(leader, grace=1) == 3  # its own exit code, once reaped after the group is killed
    wait_until(lambda: not alive(grandchild), 10, what="the group it left is killed")

    reaped = subprocess.Popen(["true"], start_new_session=True)
    reaped.wait()
    assert sv.stop(reaped) == 0  # already reaped by someone: nothing is signalled, its code is returned
