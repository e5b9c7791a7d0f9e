"""A flow's parameters read from its source with ast: the deploy check never imports a flow module (that would
import Prefect, scikit-learn and the rest, and run whatever the module does at import time)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.text import did_you_mean


@dataclass(frozen=True)
class FlowSignature:
    """What a flow function accepts, read from its source with ast (the module is never imported)."""

    name: str
    params: dict[str, str | None]  # name -> annotation source ("str | None"), None when unannotated
    required: frozenset[str]
    var_keyword: bool


def read_flow(project: Path, entrypoint: str) -> tuple[FlowSignature | None, str | None]:
    """The signature of the @flow function `entrypoint` ('path/file.py:function') names, or why there is none."""
    path_text, _, func = entrypoint.rpartition(":")
    path = project / path_text
    if not path.is_file():
        known = [str(p.relative_to(project)) for p in sorted(project.glob("flows/*.py"))]
        guess = did_you_mean(path_text, known)
        hint = f"; did you mean '{guess}'?" if guess else f" (paths are relative to {project})"
        return None, f"'{path_text}' does not exist{hint}"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return None, f"'{path_text}' does not parse: line {exc.lineno}: {exc.msg}"
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    flows = [n for n, node in functions.items() if is_flow(node)]
    node = functions.get(func)
    if node is None:
        guess = did_you_mean(func, flows or list(functions))
        hint = (
            f"; did you mean '{guess}'?" if guess else (f"; its flows: {', '.join(flows)}" if flows else "")
        )
        return None, f"'{path_text}' defines no function '{func}'{hint}"
    if not is_flow(node):
        return None, f"'{func}' in '{path_text}' is not decorated with @flow"
    return signature(node), None


TYPE_NAMES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "None": (type(None),),
    "dict": (dict,), "Dict": (dict,), "list": (list,), "List": (list,),
}  # fmt: skip


def is_flow(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if (isinstance(target, ast.Name) and target.id == "flow") or (
            isinstance(target, ast.Attribute) and target.attr == "flow"
        ):
            return True
    return False


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FlowSignature:
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    without_default = positional[: len(positional) - len(a.defaults)]
    required = {arg.arg for arg in without_default}
    required |= {arg.arg for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True) if default is None}
    params = {
        arg.arg: ast.unparse(arg.annotation) if arg.annotation else None
        for arg in [*positional, *a.kwonlyargs]
    }
    return FlowSignature(node.name, params, frozenset(required), a.kwarg is not None)


def type_mismatch(value: Any, annotation: str | None) -> str | None:
    """A description of the expected type when `value` cannot match `annotation` (simple annotations only)."""
    if annotation is None or templated(value):
        return None
    names = [part.strip().split("[")[0] for part in annotation.split("|")]
    if any(n not in TYPE_NAMES for n in names):
        return None  # Any, Optional[...], a model: leave it to Prefect's parameter schema
    accepted = tuple(t for n in names for t in TYPE_NAMES[n])
    ok = isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)
    return None if ok else f"a {annotation}"


def templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value
