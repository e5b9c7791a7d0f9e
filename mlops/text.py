"""Wording shared by every message that points at a mistake: the closest valid name, where a YAML file breaks.

The ground floor of the ground floor: the standard library only, so any module may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: object, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt value, or None when nothing is close enough to suggest."""
    match = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def yaml_error(exc: Exception) -> tuple[str, str]:
    """(where, what) of a yaml.YAMLError: where is "line L, column C" (1-based; "" when PyYAML gives no
    position), what is PyYAML's own short reason."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return where, what
