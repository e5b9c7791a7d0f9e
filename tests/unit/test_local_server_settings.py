"""Issues 15, 24, 25: when `mlops run` keeps a local Prefect server and when it does not, and what `mlops server`
says and does about state that is not this folder's server: a pid file naming an unrelated process, a dead one, a
corrupted pid file, a lock that is a folder. No Prefect server is started here."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.cli import local_server as ls
from mlops.cli.runtime import prefect_settings, prefect_where


def _cli(*args: str) -> tuple[int, str]:
    shown = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    assert shown.exception is None or isinstance(shown.exception, SystemExit), shown.output  # no traceback
    return shown.exit_code, " ".join(shown.output.split())


def test_opted_out_a_run_gets_a_temporary_server_and_no_state(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "0")
    monkeypatch.setenv("PREFECT_API_URL", "")
    settings = prefect_settings()
    assert settings.prefect_api_url is None and "PREFECT_API_URL" not in os.environ
    assert prefect_where(settings) == "temporary local server"
    assert not (isolated_home / "prefect-server").exists()


def test_with_prefect_api_url_set_nothing_changes(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    settings = prefect_settings()
    assert settings.prefect_api_url == "http://prefect.example:4200/api"
    assert prefect_where(settings) == "http://prefect.example:4200/api"
    assert not (isolated_home / "prefect-server").exists()


def test_status_and_stop_with_no_server_say_so(isolated_home: Path) -> None:
    assert _cli("server", "status")[1].startswith("No local Prefect server is running")
    assert _cli("server", "stop") == (
        0,
        f"No local Prefect server was running for {isolated_home.resolve()}.",
    )
    assert CliRunner().invoke(app, ["server", "stop", "--quiet"]).output == ""


def test_uptime_reads_like_a_person_wrote_it() -> None:
    from mlops.cli.server_commands import _uptime

    assert [_uptime(s) for s in (5.4, 600, 7500)] == ["5 s", "10 min", "2 h 5 min"]


def test_the_port_is_read_from_the_servers_own_command_line() -> None:
    line = [
        "/x/python", "-m", "uvicorn", "--app-dir", "/x", "--factory", ls.APP, "--host", "127.0.0.1", "--port",
        "41234", "--workers", "1",
    ]  # fmt: skip
    assert ls.server_port(line) == 41234
    assert ls.server_port(["sleep", "300"]) is None
    assert ls.server_port(["python", "-m", "http.server", "--port", "41234"]) is None  # not a Prefect server
    assert ls.server_port([*line[:9], "--port"]) is None


def test_asking_without_starting_leaves_no_trace(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlops rollback` announces on a kept server only if one runs: it never starts one, nor makes its folder."""
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("PREFECT_API_URL", "")
    assert prefect_settings(start=False).prefect_api_url is None
    assert not (isolated_home / "prefect-server").exists()


@pytest.fixture
def unrelated() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_pid_file_naming_an_unrelated_process_survives_every_server_command(
    isolated_home: Path, unrelated: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("PREFECT_API_URL", "")
    p = ls.paths()

    def record() -> None:
        p.home.mkdir(parents=True, exist_ok=True)
        p.pid.write_text(str(unrelated.pid))

    record()
    code, said = _cli("server", "status")
    assert code == 0 and "was stale" in said and f"process {unrelated.pid}, which is another program" in said
    assert (
        "sleep 300" in said
        and "No local Prefect server is running" in said
        and f"pid {unrelated.pid}" not in said
    )
    assert not p.pid.exists() and unrelated.poll() is None

    record()
    code, said = _cli("server", "stop")
    assert code == 0 and "was stale" in said and "No local Prefect server was running" in said
    assert "Stopped" not in said and not p.pid.exists() and unrelated.poll() is None

    record()
    # stale state is said even with --quiet: something was cleaned
    code, said = _cli("server", "stop", "--quiet")
    assert code == 0 and "was stale" in said and unrelated.poll() is None

    record()
    assert prefect_settings(start=False).prefect_api_url is None  # a command that never starts one
    assert not p.pid.exists() and unrelated.poll() is None


def test_a_dead_pid_and_a_corrupted_pid_file_are_reported_stale_and_cleaned(isolated_home: Path) -> None:
    p = ls.paths()
    p.home.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    for text, why in (
        (str(gone.pid), f"process {gone.pid}, which is not running"),
        ("4x\x00!", "not a process id"),
    ):
        p.pid.write_text(text)
        code, said = _cli("server", "stop")
        assert (
            code == 0
            and "was stale" in said
            and why in said
            and "No local Prefect server was running" in said
        )
        assert not p.pid.exists()
        p.pid.write_text(text)
        code, said = _cli("server", "status")
        assert code == 0 and "was stale" in said and why in said and not p.pid.exists()


def test_a_lock_that_is_a_folder_is_a_message_not_a_traceback(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("PREFECT_API_URL", "")
    p = ls.paths()
    p.lock.mkdir(parents=True)
    p.pid.parent.mkdir(parents=True)
    p.pid.write_text("0x12")
    for args in (("server", "stop"), ("server", "status")):
        code, said = _cli(*args)
        assert code == 2 and f"lock file {p.lock} is a folder" in said and "remove it" in said, said
    ls.start_early()  # `mlops run`'s early start leaves any doubt to use_server(), which says it
    with pytest.raises(ls.UsageError, match="is a folder"):
        ls.use_server()
    assert p.pid.read_text() == "0x12"  # nothing changed without the lock


def test_a_state_folder_that_cannot_be_used_is_said_before_anything_starts(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was a FileExistsError traceback from `mlops run` (exit 1) after "Starting a local Prefect server ..."."""
    import typer

    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("MLOPS_LOCAL_PREFECT", "off")
    monkeypatch.setenv("PREFECT_API_URL", "")
    monkeypatch.setattr(ls, "_early", None)
    (isolated_home / "prefect-server").mkdir(parents=True)
    (isolated_home / "prefect-server" / "home").write_text("")
    ls.start_early()  # leaves the doubt to use_server(): nothing started, nothing raised
    assert ls._early is None
    with pytest.raises(typer.Exit) as info:
        prefect_settings()
    assert info.value.exit_code == 2
    said = " ".join(capsys.readouterr().err.split())
    assert f"state folder {isolated_home / 'prefect-server' / 'home'} is a file, not a folder" in said
    assert (
        "point MLOPS_HOME at a folder you can write" in said and "Starting a local Prefect server" not in said
    )
