"""Wording shared by every message that points at a mistake: the closest valid name, where a YAML file breaks.

The ground floor of the ground floor: the standard library only, so any module may use it.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable


def did_you_mean(value: object, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt value, or None when nothing is close enough to suggest."""
    match = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's first line of text, at most `limit` characters: what goes inside a one-paragraph message
    (libraries' multi-line texts and stack dumps stay in the log)."""
    return (str(exc).strip().splitlines() or [""])[0][:limit]


def yaml_error(exc: Exception) -> tuple[str, str]:
    """(where, what) of a yaml.YAMLError: where is "line L, column C" (1-based; "" when PyYAML gives no
    position), what is PyYAML's own short reason."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return where, what


def shown(value: object) -> str:
    """A value as a person reads it: text in quotes, numbers plain (numpy's np.int64(0) is 0, a float keeps at
    most 6 significant digits), a list as its items; never a library's repr."""
    # numpy scalars (np.int64, np.float64, np.bool_) as Python's, without importing numpy
    if type(value).__module__ == "numpy" and callable(getattr(value, "item", None)):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()  # type: ignore[attr-defined]
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return "[" + ", ".join(shown(v) for v in items) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    return str(value)
