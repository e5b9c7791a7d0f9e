"""The import-linter contracts deny by default: each names who MAY import a layer or a library, so a module
written tomorrow is covered without editing a list. Shown here on a copy of the tree: a new module in the wrong
place breaks `lint-imports` with pyproject.toml as it is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT = Path(sys.executable).with_name("lint-imports")


def lint_with(tmp_path: Path, module: str, source: str) -> subprocess.CompletedProcess[str]:
    """lint-imports on a copy of the project's packages and pyproject.toml, with one new module added."""
    for package in ("mlops", "tasks", "flows"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / Path(*module.split(".")).with_suffix(".py")
    path.write_text(source)
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        (
            "tasks.new_scores",
            "import mlflow\n",
            "MLflow (and skops, its model format) lives in tasks.tracking",
        ),
        ("mlops.new_rule", "import pandas\n", "Data frames (pandas, numpy) are tasks' work"),
        ("mlops.new_rule", "from tasks import steps\n", "only the CLI, flows and tasks import tasks"),
        ("flows.new_flow", "import great_expectations\n", "Great Expectations lives in tasks.quality"),
        ("mlops.new_rule", "import prefect\n", "Prefect is orchestration"),
    ],
)
def test_a_new_module_in_the_wrong_place_breaks_a_contract(
    tmp_path: Path, module: str, source: str, broken: str
) -> None:
    result = lint_with(tmp_path, module, source)
    text = " ".join(result.stdout.split())
    assert result.returncode != 0 and "1 broken" in text, result.stdout[-3000:]
    assert broken in text.split("Broken contracts", 1)[1], result.stdout[-3000:]  # the one named as broken
    assert f"{module} ->" in result.stdout


def test_a_new_module_in_the_right_place_keeps_them(tmp_path: Path) -> None:
    result = lint_with(tmp_path, "tasks.tracking.new_reader", "import mlflow\nimport pandas\n")
    assert result.returncode == 0, result.stdout[-3000:]
