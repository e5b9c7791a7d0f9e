"""What `mlops validate` warns about: a spec that is valid but will stop runs it was not meant to stop (exit 0)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLUMN_SET_TYPES = ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list")


def spec_warnings(path: Path) -> list[str]:
    """Warnings for one valid spec; [] when it cannot be read (its problems are reported elsewhere)."""
    from mlops.errors import SpecError
    from mlops.spec import load_spec

    try:
        loaded = load_spec(path)
    except SpecError:
        return []
    spec = loaded.spec
    if spec.quality is None:
        return []
    import json  # the suite's own JSON: no GX (nor pandas) for a warning on the cached, fast path

    try:
        raw = json.loads(loaded.resolve(spec.quality.suite).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(raw, dict):
        return []
    return target_in_column_set(raw, spec.data.target, spec.quality.suite)


def target_in_column_set(raw: Mapping[str, Any], target: str, shown: str) -> list[str]:
    """An expectation on the table's exact column set that lists the target: production batches have no labels,
    so every `mlops run monitor` on one would stop at the quality gate (only expectations on the target's own
    column are left out for an unlabelled batch)."""
    out = []
    expectations = raw.get("expectations")
    for i, exp in enumerate(expectations if isinstance(expectations, list) else []):
        if not isinstance(exp, dict) or exp.get("type") not in COLUMN_SET_TYPES:
            continue
        kwargs = exp.get("kwargs") or {}
        listed = kwargs.get("column_set") or kwargs.get("column_list") or []
        if isinstance(listed, list) and target in map(str, listed):
            out.append(
                f"{shown}: expectation #{i + 1} '{exp['type']}' lists the target '{target}': an unlabelled batch "
                f"(`mlops run monitor` on production data) has no '{target}' column, so it would stop every one; "
                "list the feature (and time) columns only, and check the target with "
                "expect_column_values_to_not_be_null or expect_column_values_to_be_in_set"
            )
    return out
