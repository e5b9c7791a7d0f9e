"""Spec rules the schema's types take but a run would not: a feature listed twice or under both kinds, a window
that ends before it starts, a file nested too deeply to read. Pure: part of the ground floor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.errors import Problem
from mlops.timeutil import parse_time

if TYPE_CHECKING:
    from mlops.spec.schema import PipelineSpec


def too_deep(file: str) -> Problem:
    """PyYAML and pydantic recurse per level: thousands of levels end in a RecursionError, never a spec."""
    return Problem(
        file,
        "",
        "nested too deeply to read",
        "a spec is a few levels of fields; see `mlops schema` for its shape",
    )


def feature_and_window_problems(file: str, spec: PipelineSpec) -> list[Problem]:
    """A feature listed twice or under both kinds, a window that ends before it starts: the schema takes them,
    training or every batch would not."""
    out: list[Problem] = []
    features = spec.data.features
    for kind in ("numeric", "categorical"):
        names = getattr(features, kind) or []
        for col in sorted({c for c in names if names.count(c) > 1}):
            out.append(
                Problem(file, f"data.features.{kind}", f"'{col}' is listed twice", "list each column once")
            )
    for col in sorted(set(features.numeric or []) & set(features.categorical or [])):
        out.append(
            Problem(
                file,
                "data.features",
                f"'{col}' is listed both as numeric and as categorical",
                "keep it under one of them",
            )
        )
    window = spec.data.window
    if window and window.start is not None and window.end is not None:
        start, end = parse_time(window.start), parse_time(window.end)
        if start is not None and end is not None and start >= end:
            out.append(
                Problem(
                    file,
                    "data.window",
                    f"the window starts ({window.start.isoformat()}) at or after it ends ({window.end.isoformat()})",
                    "the end is excluded: give an end later than the start",
                )
            )
    return out
