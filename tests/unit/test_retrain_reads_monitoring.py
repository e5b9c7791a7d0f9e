"""What a retrain reads of the spec's `monitoring:` section: max_sample_rows and seed (the reference sample), nothing
else. tests/integration/conftest.py::trained_homes relies on it: specs that differ elsewhere in that section share
one trained home. The check follows the spec through the code instead of running a retrain (no servers here): from
the retrain flow, every function handed the whole spec (a LoadedSpec or a PipelineSpec), at any depth, is read for
`<spec>.monitoring.<field>`; a function it cannot follow, or the section handed on whole, fails the test. The spec's
hash (`loaded.sha256`: the spec_sha256 tag and the idempotency key) covers every field by design and is not followed.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.spec import LoadedSpec, load_spec
from mlops.spec.schema import Monitoring, PipelineSpec
from tests.conftest import cancer_frame, make_project, spec_text

READ_BY_RETRAIN = {"max_sample_rows", "seed"}
SPEC_KINDS = (LoadedSpec, PipelineSpec)
PROJECT = ("mlops", "tasks", "flows")


def _callee(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a call's dotted name (`steps.split`, `train.FitData.of`) names in `namespace`, else None."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, ast.Attribute):
        owner = _callee(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _plain(obj: Any) -> Callable[..., Any] | None:
    """The plain function behind a Prefect task or flow (`.fn`), a wrapper (`__wrapped__`) or a bound method."""
    obj = getattr(obj, "fn", obj)
    obj = getattr(obj, "__func__", obj)
    obj = inspect.unwrap(obj)
    return obj if inspect.isfunction(obj) else None


def _spec_method(name: str) -> Callable[..., Any] | None:
    for kind in SPEC_KINDS:
        method = kind.__dict__.get(name)
        if method is not None and inspect.isfunction(method):
            return method
    return None


def monitoring_reads(
    fn: Callable[..., Any], specs: set[str], seen: set[tuple[Any, frozenset[str]]]
) -> set[str]:
    """The monitoring fields `fn` reads of the spec its parameters `specs` hold, and the functions it hands them
    to read; "<...>" entries name what could not be followed."""
    key = (fn, frozenset(specs))
    if key in seen:
        return set()
    seen.add(key)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    namespace = dict(fn.__globals__)
    for node in ast.walk(tree):  # a function's own imports (`from tasks.data.sql import sql_source`)
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            namespace |= {a.asname or a.name: getattr(module, a.name) for a in node.names}
    names = set(specs)
    for node in ast.walk(tree):  # `spec = loaded.spec`, `loaded = loaded.with_window(...)`: still the spec
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and _is_spec(node.value, names)
        ):
            names.add(node.targets[0].id)
    reads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "monitoring" and _is_spec(node.value, names):
            parent = _parent(tree, node)
            if isinstance(parent, ast.Attribute) and parent.value is node:
                reads.add(parent.attr)
            else:
                reads.add(f"<the whole monitoring section at line {node.lineno} of {fn.__qualname__}>")
        if not isinstance(node, ast.Call):
            continue
        handed = [a for a in node.args if _is_spec(a, names)]
        handed_kw = {k.arg: k.value for k in node.keywords if k.arg and _is_spec(k.value, names)}
        method_of_spec = isinstance(node.func, ast.Attribute) and _is_spec(node.func.value, names)
        if not handed and not handed_kw and not method_of_spec:
            continue
        if method_of_spec:
            assert isinstance(node.func, ast.Attribute)
            callee = _spec_method(node.func.attr)
            if callee is None:  # pydantic's own (model_copy, model_dump): no field is judged there
                continue
            bound = {"self"}
        else:
            named = _callee(node.func, namespace)
            if inspect.isclass(named) and not named.__module__.startswith(PROJECT):
                continue  # pydantic's, the standard library's: they hold the spec, they do not judge its fields
            callee = _plain(named)
            if callee is None:
                reads.add(
                    f"<{ast.unparse(node.func)} at line {node.lineno} of {fn.__qualname__}: not followed>"
                )
                continue
            params = list(inspect.signature(callee).parameters)
            if params and params[0] == "cls":
                params = params[1:]
            bound = {params[i] for i, a in enumerate(node.args) if a in handed and i < len(params)} | set(
                handed_kw
            )
        reads |= monitoring_reads(callee, bound, seen)
    return reads


def _is_spec(node: ast.expr, names: set[str]) -> bool:
    """`node` is the spec: a name holding it, `<loaded>.spec`, or a LoadedSpec method's result (`with_window(...)`)."""
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute) and node.attr == "spec":
        return _is_spec(node.value, names)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("with_")
    ):
        return _is_spec(node.func.value, names) or isinstance(node.func.value, ast.Call)
    return False


def _parent(tree: ast.AST, child: ast.AST) -> ast.AST | None:
    for node in ast.walk(tree):
        if any(c is child for c in ast.iter_child_nodes(node)):
            return node
    return None


def test_a_retrain_reads_only_the_reference_samples_fields_of_monitoring() -> None:
    from flows.retrain import retrain

    reads = monitoring_reads(_plain(retrain), {"loaded", "spec"}, set())  # type: ignore[arg-type]
    assert reads == READ_BY_RETRAIN, (
        f"a retrain now reads {sorted(reads - READ_BY_RETRAIN)} of the spec's monitoring: section: the trained "
        "homes tests/integration/conftest.py shares between specs differing there may no longer be shared"
    )


# the cancer spec the integration tier trains its shared home with, and one that differs in every other field
SHARED = "monitoring: {drift_share_threshold: 0.3, on_drift: alert}\n"
EVERY_OTHER_FIELD = """\
monitoring:
  drift_share_threshold: 0.6
  on_drift: retrain
  max_quality_drop: 0.05
  drift_measure: share
  alert_drift_share: 0.4
  retrain_on: both
  column_methods: {mean_radius: psi}
  column_thresholds: {mean_radius: 0.2}
  retrain_window_days: 30
  cooldown_days: 3
  max_retries_per_episode: 7
  on_unjudgeable: stop
  min_label_share: 0.5
"""


def test_specs_differing_elsewhere_in_monitoring_give_a_retrain_the_same_inputs(tmp_path: Path) -> None:
    from tasks import data, train

    root = make_project(tmp_path / "proj")
    shared, other = root / "deployments" / "shared.yaml", root / "deployments" / "other.yaml"
    shared.write_text(spec_text(extra=SHARED))
    other.write_text(spec_text(extra=EVERY_OTHER_FIELD))
    a, b = load_spec(shared), load_spec(other)
    differ = {
        f for f in Monitoring.model_fields if getattr(a.spec.monitoring, f) != getattr(b.spec.monitoring, f)
    }
    assert (
        differ == set(Monitoring.model_fields) - READ_BY_RETRAIN
    )  # every field but the ones a retrain reads
    assert a.spec.model_dump(exclude={"monitoring"}) == b.spec.model_dump(exclude={"monitoring"})

    frame = cancer_frame()
    parts_a, parts_b = data.split(frame, a), data.split(frame, b)
    pd.testing.assert_frame_equal(parts_a.holdout, parts_b.holdout)
    assert train.run_params(a.spec, parts_a.features) == train.run_params(b.spec, parts_b.features)
    samples = [
        data.reference_sample(parts, s.spec.data.target, s.spec.data.time_column,
                              *(getattr(s.spec.monitoring, f) for f in ("max_sample_rows", "seed")))
        for parts, s in ((parts_a, a), (parts_b, b))
    ]  # fmt: skip
    pd.testing.assert_frame_equal(*samples)
