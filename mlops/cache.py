"""Small JSON caches under MLOPS_HOME (validate results, time-column notes, registry views, gate passes): each a
JSON object of entries by key, the newest kept, written atomically; a cache that cannot be read or written is only
a slower next command, never an error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save_quietly(path: Path | None, data: Any) -> None:
    """Write `data` as JSON to `path` through a temporary file renamed over it; an OSError is ignored, and so is
    no path (no project store: nothing is remembered, mlops/project.py)."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, default=str))
        tmp.replace(path)
    except OSError:
        pass


def read_quietly(path: Path | None) -> dict[str, Any]:
    """The JSON object at `path`; {} when it is missing, unreadable, not JSON or not an object (or no path)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def keep_newest(path: Path | None, key: str, value: Any, keep: int) -> None:
    """`value` saved under `key` as the newest of at most `keep` entries (the oldest are dropped)."""
    others = {k: v for k, v in read_quietly(path).items() if k != key}
    save_quietly(path, {**dict(list(others.items())[-(keep - 1) :]), key: value})


def store_file(name: str) -> Path | None:
    """`<MLOPS_HOME>/<name>`, or None outside any project with no MLOPS_HOME: `mlops validate` of a spec given by
    path still checks it there, but creates no store to remember it in."""
    from mlops.project import NoProject
    from mlops.settings import get_settings

    try:
        return get_settings().home / name
    except NoProject:
        return None
