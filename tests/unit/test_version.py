"""One version: the package metadata (pyproject.toml) and `mlops --version` say what mlops/__init__.py says."""

from __future__ import annotations

import tomllib

import mlops
from tests.conftest import REPO


def test_pyproject_and_the_package_agree_on_the_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == mlops.__version__
    assert tuple(int(p) for p in mlops.__version__.split(".")) >= (0, 2, 0)  # issue 14's release


def test_the_cli_prints_it() -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"mlops {mlops.__version__}"
