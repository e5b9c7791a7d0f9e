"""bench/ is code too: every module imports, and every name it takes from the product exists and is public.

A bench that imports a removed or private name fails here, the day the name goes, not months later as an empty
table in docs/benchmarks.md (bench/validate_phases.py once did: it imported `_passed` after it was removed)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BENCH = REPO / "bench"
MODULES = sorted(p for p in BENCH.glob("*.py"))
PRODUCT = ("mlops", "tasks", "flows")


def product_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every `from mlops|tasks|flows... import name` in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PRODUCT:
            found += [(node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_product_name_a_bench_uses_exists_and_is_public(path: Path) -> None:
    for module, name in product_imports(path):
        assert not name.startswith("_"), f"{path.name} imports the private name {module}.{name}"
        target = importlib.import_module(module)
        assert hasattr(target, name) or importlib.util.find_spec(f"{module}.{name}") is not None, (
            f"{path.name} imports {module}.{name}, which does not exist"
        )


def test_every_bench_module_imports() -> None:
    names = [p.stem for p in MODULES]
    code = f"import importlib, sys; sys.path.insert(0, {str(BENCH)!r}); [importlib.import_module(m) for m in {names!r}]"
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-3000:]


def test_the_old_private_import_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a file importing a private and a missing name is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from mlops.cli.checks import _passed\n")
    assert product_imports(bad) == [("mlops.cli.checks", "_passed")]
