"""What identifies a training result: the spec, the data and the code. Runs with the same three are the same
work, so a re-run (after a crash, or on unchanged data) registers no duplicate model version."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

PACKAGES = ("mlops", "tasks", "flows")
LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy")  # what fits and predicts


def library_versions(names: tuple[str, ...]) -> list[str]:
    """`name==version` for each installed distribution (`name missing` otherwise), without importing them."""
    return [_library_version(name) for name in names]


@functools.lru_cache(maxsize=64)
def _library_version(name: str) -> str:
    """Once per process, like code_sha256: each lookup scans the installed distributions (~2 ms each here, and
    `mlops validate` asks for the same few libraries about 20 times)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return f"{name} missing"


@functools.lru_cache(maxsize=1)
def code_sha256() -> str:
    """A hash of the code that produced a model: this project's own Python sources and the versions of the
    libraries that fit it (an upgraded scikit-learn trains a different model from the same spec and data)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for library in library_versions(LIBRARIES):
        digest.update(library.encode())
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def idempotency_key(spec_sha256: str, data_sha256: str, code: str | None = None) -> str:
    return hashlib.sha256(f"{spec_sha256}:{data_sha256}:{code or code_sha256()}".encode()).hexdigest()


def memo_key(part: str, inputs: Any, libraries: tuple[str, ...] = ()) -> str:
    """The key of a remembered result: what was checked (`part`), its inputs (JSON-able: content hashes, not
    timestamps), this project's code and the versions of the libraries that decide the result. Shared by the
    validate memo and the gate memo, so a change of code or library always misses both."""
    text = json.dumps([part, inputs], sort_keys=True, default=str)
    return hashlib.sha256("\n".join([text, code_sha256(), *library_versions(libraries)]).encode()).hexdigest()
