"""Small JSON caches under MLOPS_HOME (validate results, time-column notes, registry views): written atomically,
and a cache that cannot be written is only a slower next command, never an error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save_quietly(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` through a temporary file renamed over it; an OSError is ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, default=str))
        tmp.replace(path)
    except OSError:
        pass
