"""Issue 15: when `mlops run` keeps a local Prefect server and when it does not (no server started here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.cli import local_server as ls
from mlops.cli.runtime import prefect_settings, prefect_where


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


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_idle_time_is_a_usage_error_before_anything_starts(
    value: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("MLOPS_SERVER_IDLE_MINUTES", value)
    with pytest.raises(ls.UsageError) as caught:
        ls.use_server()
    assert caught.value.exit_code == 2 and "MLOPS_SERVER_IDLE_MINUTES" in str(caught.value)
    assert not (isolated_home / "prefect-server" / "server.pid").exists()
    shown = CliRunner().invoke(app, ["server", "status"], env={"MLOPS_SERVER_IDLE_MINUTES": value})
    assert shown.exit_code == 0 and "No local Prefect server is running" in shown.output


def test_status_and_stop_with_no_server_say_so(isolated_home: Path) -> None:
    runner = CliRunner()
    stopped = runner.invoke(app, ["server", "stop"])
    assert stopped.exit_code == 0 and "No local Prefect server was running" in stopped.output
    assert runner.invoke(app, ["server", "stop", "--quiet"]).output == ""


def test_uptime_reads_like_a_person_wrote_it() -> None:
    from mlops.cli.server_commands import _uptime

    assert [_uptime(s) for s in (5.4, 600, 7500)] == ["5 s", "10 min", "2 h 5 min"]


def test_asking_without_starting_leaves_no_trace(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlops rollback` announces on a kept server only if one runs: it never starts one, nor makes its folder."""
    monkeypatch.setenv("MLOPS_KEEP_SERVER", "1")
    monkeypatch.setenv("PREFECT_API_URL", "")
    assert prefect_settings(start=False).prefect_api_url is None
    assert not (isolated_home / "prefect-server").exists()
