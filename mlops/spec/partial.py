"""A spec as far as it can be read: the fields the schema refuses left out, so that `mlops validate` can still
check the data, the suite and the params behind them and report every problem at once (an unknown field must not
hide a missing column)."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from mlops.spec.schema import PipelineSpec

ROUNDS = 3


def without_bad_fields(raw: dict[str, Any], errors: list[Any]) -> PipelineSpec | None:
    """The spec with every field pydantic refused (`errors`, as from ValidationError.errors()) removed, so that
    defaults take their place; None when what is left still does not hold (a required field is wrong or missing).
    Only for checking further: a spec with problems never runs."""
    current = copy.deepcopy(raw)
    for _ in range(ROUNDS):
        locs = [tuple(e["loc"]) for e in errors if e.get("type") != "missing"]
        if not locs:
            return None
        removed = False
        for loc in sorted(locs, key=_order, reverse=True):  # later list items first: indexes stay right
            removed = _remove(current, loc) or removed
        if not removed:
            return None
        try:
            return PipelineSpec.model_validate(current)
        except ValidationError as exc:
            errors = exc.errors()
        except RecursionError:
            return None
    return None


def _order(loc: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{p:09d}" if isinstance(p, int) else str(p) for p in loc)


def _remove(node: Any, loc: tuple[Any, ...]) -> bool:
    """Delete the deepest existing container entry along `loc` (pydantic adds union member names such as
    'str' to a loc; the walk stops where the data does)."""
    parent: Any = None
    key: Any = None
    for part in loc:
        found = isinstance(node, dict) and part in node
        found = found or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if not found:
            break
        parent, key, node = node, part, node[part]
    if parent is None:
        return False
    del parent[key]
    return True
