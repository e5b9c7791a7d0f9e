"""MLflow's registry-URI trap, as a contract on the source: `MlflowClient(tracking_uri)` without a registry URI reads
the registry of the process's last `mlflow.set_registry_uri` (or MLFLOW_REGISTRY_URI), not the tracking store it was
given, and `mlflow.set_tracking_uri` alone leaves the fluent API's registry (register_model, `models:/` URIs) where
it was. In one process that has used another store (a test worker, a bench, a command reading two stores) a client
then registers into, or reads versions from, the wrong store without an error. So every client names both URIs and
every set_tracking_uri is paired with set_registry_uri (docs/architecture.md#mlflow-clients-name-both-uris)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SOURCES = ("mlops", "tasks", "flows", "bench")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


def one_uri_problems(source: str, where: str) -> list[str]:
    """Each MLflow client made without a registry URI, and each function that sets the tracking URI but not the
    registry URI, in `source` (a module's text)."""
    problems = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func).split(".")[-1] == "MlflowClient":
            named = {k.arg for k in node.keywords}
            if len(node.args) < 2 and "registry_uri" not in named and None not in named:  # None: **kwargs
                problems.append(f"{where}:{node.lineno}: MlflowClient(...) without its registry URI")
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]
    for scope in scopes:
        body = scope.body if isinstance(scope, ast.Module) else [scope]
        calls = [
            (_name(n.func), n.lineno)
            for stmt in body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Call) and _name(n.func).endswith(("set_tracking_uri", "set_registry_uri"))
        ]
        names = {name.split(".")[-1] for name, _ in calls}
        for name, line in calls:
            if name.endswith("set_tracking_uri") and "set_registry_uri" not in names:
                problems.append(f"{where}:{line}: set_tracking_uri without set_registry_uri beside it")
    return sorted(set(problems))


def test_every_mlflow_client_of_the_product_and_benches_names_both_uris() -> None:
    problems = []
    for package in SOURCES:
        for path in sorted((REPO / package).rglob("*.py")):
            problems += one_uri_problems(path.read_text(), str(path.relative_to(REPO)))
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("c = MlflowClient(uri)\n", "MlflowClient(...) without its registry URI"),
        ("c = mlflow.MlflowClient(tracking_uri=uri)\n", "MlflowClient(...) without its registry URI"),
        ("c = MlflowClient()\n", "MlflowClient(...) without its registry URI"),
        ("def f():\n    mlflow.set_tracking_uri(u)\n", "set_tracking_uri without set_registry_uri"),
    ],
)
def test_the_contract_sees_a_client_with_one_uri(source: str, found: str) -> None:
    assert [p for p in one_uri_problems(source, "x.py") if found in p]


@pytest.mark.parametrize(
    "source",
    [
        "c = MlflowClient(uri, uri)\n",
        "c = MlflowClient(tracking_uri=u, registry_uri=u)\n",
        "c = MlflowClient(**both)\n",
        "def f():\n    mlflow.set_tracking_uri(u)\n    mlflow.set_registry_uri(u)\n",
    ],
)
def test_the_contract_passes_a_client_with_both(source: str) -> None:
    assert one_uri_problems(source, "x.py") == []


def test_a_client_with_one_uri_reads_another_stores_registry(tmp_path: Path) -> None:
    """The trap itself, on real MLflow: why the contract above exists."""
    import mlflow
    from mlflow import MlflowClient

    first, second = (f"sqlite:///{tmp_path / name}.db" for name in ("first", "second"))
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        mlflow.set_tracking_uri(first)
        mlflow.set_registry_uri(first)
        MlflowClient(first, first).create_registered_model("only-in-first")
        one = MlflowClient(second)  # meant: the second store
        assert [m.name for m in one.search_registered_models()] == ["only-in-first"]
        both = MlflowClient(second, second)
        assert both.search_registered_models() == []
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
