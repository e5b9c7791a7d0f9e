"""Issue 23: commands find their project from any folder under it (as git does), and refuse to create a store
in a folder that holds none; MLOPS_HOME always wins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli.main import app
from mlops.project import NoProject, default_home, find_project_root


def _project(root: Path, marker: str = "prefect.yaml") -> Path:
    (root / "deployments").mkdir(parents=True)
    (root / marker).write_text("")
    return root


def test_the_root_is_found_from_any_folder_under_it(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj")
    (root / "deployments" / "sub").mkdir()
    for start in (root, root / "deployments", root / "deployments" / "sub"):
        assert find_project_root(start) == root.resolve()
        assert default_home(start, None) == root.resolve() / ".mlops"
    assert find_project_root(_project(tmp_path / "py", "pyproject.toml") / "deployments") == (tmp_path / "py")


def test_the_nearest_store_wins_and_a_lone_marker_is_no_project(tmp_path: Path) -> None:
    root = _project(tmp_path / "proj")
    inner = root / "tools" / "inner"
    (inner / ".mlops").mkdir(parents=True)
    (inner / "x").mkdir()
    assert find_project_root(inner / "x") == inner.resolve()
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "pyproject.toml").write_text("")  # a Python project, no deployments/: not an mlops project
    assert find_project_root(lone) is None


def test_no_project_is_refused_naming_mlops_home_and_an_explicit_home_wins(tmp_path: Path) -> None:
    with pytest.raises(NoProject) as caught:
        default_home(tmp_path, None)
    assert "MLOPS_HOME" in str(caught.value) and "mlops init" in str(caught.value)
    assert caught.value.exit_code == 2
    assert default_home(tmp_path, str(tmp_path / "store")) == (tmp_path / "store").resolve()
    assert not list(tmp_path.iterdir())  # nothing created


def test_a_command_outside_any_project_stops_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import spec_text

    spec = tmp_path / "elsewhere" / "cancer.yaml"
    spec.parent.mkdir()
    spec.write_text(spec_text(suite=None))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv("MLOPS_HOME")
    for args in (["status", str(spec)], ["history", str(spec)], ["server", "status"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "not inside an mlops project" in result.output and "MLOPS_HOME" in result.output
        assert "Traceback" not in result.output
    assert not list(here.iterdir()) and not (tmp_path / "elsewhere" / ".mlops").exists()


def test_library_logs_below_warning_stay_off_the_terminal_unless_verbose() -> None:
    from mlops.cli.run_logs import VERBOSE, ConsoleOnce

    def record(level: int, name: str = "prefect.flow_runs") -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "Beginning flow run 'retrain'", (), None)

    quiet, loud = ConsoleOnce(), ConsoleOnce(verbose=True)
    for name in ("prefect.flow_runs", "prefect.task_runs", "great_expectations.data_context.types.base"):
        assert not quiet.filter(record(logging.INFO, name)) and loud.filter(record(logging.INFO, name))
        assert quiet.filter(record(logging.WARNING, name))
    from mlops.cli.run_logs import RETRY_FORMAT

    retry = logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, RETRY_FORMAT,
                              ("exception", ConnectionError("down"), 1, 3, "2 second(s) from now"), None)  # fmt: skip
    assert quiet.filter(retry) and "Retry 1/3 will start" in retry.getMessage()  # a retry is still said
    assert CliRunner().invoke(app, ["--verbose", "schema"]).exit_code == 0 and VERBOSE.get()
    assert CliRunner().invoke(app, ["schema"]).exit_code == 0 and not VERBOSE.get()


def test_a_spec_path_finds_its_project_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From /tmp, `mlops status /abs/proj/deployments/x.yaml` works on /abs/proj (its store), found from the spec's
    folder upwards; the next command without a spec, from the same folder, still refuses."""
    from tests.conftest import spec_text

    root = _project(tmp_path / "proj")
    spec = root / "deployments" / "cancer.yaml"
    spec.write_text(spec_text(suite=None))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv("MLOPS_HOME", raising=False)
    result = CliRunner().invoke(app, ["status", str(spec)])
    assert result.exit_code == 0, result.output
    assert "not inside an mlops project" not in result.output
    assert not list(here.iterdir())  # nothing written where the command ran
    after = CliRunner().invoke(app, ["server", "status"])
    assert after.exit_code == 2 and "not inside an mlops project" in after.output
