"""What `mlops status` and `mlops history` read from the registry (every version with its aliases and tags, and
the model's ledger), kept in `<MLOPS_HOME>/cache/registry-view.json` and reused while the embedded SQLite store
has not changed since: a read then costs no MLflow import (about 3 s of CPU here: MLflow's own import pulls in
pandas, SQLAlchemy, its GenAI modules and alembic, and each client re-checks the store's schema with alembic).

Reads only: the store is still read through MLflow's public client (champion.py, ledger.py) whenever the
snapshot is missing or stale, and nothing here can move an alias. "Unchanged" is read from the store's content,
never from a timestamp: SQLite increments the "file change counter" in its header (4 bytes at offset 24) on every
committed write in rollback-journal mode (MLflow's). A store in WAL mode (where commits do not move that counter)
is never cached, and neither is one with a `-journal` beside it (a write under way, or one cut short). A command that wrote the store refreshes the snapshot before it exits (`refresh`), so `mlops status`
right after `mlops run retrain` needs no MLflow. Server stores (MLFLOW_TRACKING_URI=http://...) are always read
live: their changes cannot be seen from here. With no store file yet there is nothing to read: no versions, no
MLflow import, and no store created by a read. Gain: `mlops status` 0.59 s against 4.43 s read live
(docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.cache import keep_newest, read_quietly
from mlops.settings import Settings, get_settings

if TYPE_CHECKING:
    from tasks.tracking.champion import VersionInfo
    from tasks.tracking.ledger import LedgerEntry

FILE = "cache/registry-view.json"
SQLITE_MAGIC = b"SQLite format 3\x00"
KEEP = 20  # models remembered
READERS = ("snapshot.py", "champion.py", "ledger.py", "store.py")  # the code that reads what is kept


def registry_view(model_name: str) -> tuple[list[VersionInfo], list[LedgerEntry]]:
    """Every version of the model (newest first, with aliases and mlops tags) and its ledger (oldest first):
    from the snapshot when the store is unchanged since it was taken, else read from MLflow (and saved)."""
    from tasks.tracking.champion import VersionInfo
    from tasks.tracking.ledger import LedgerEntry

    settings = get_settings()
    db = _db_path(settings)
    if db is not None and not _store_files_exist(db):
        return [], []  # no store yet, so no versions: said without importing MLflow, which would create it
    stamp = store_stamp(settings)  # before the read: a write during it changes the next stamp
    saved = read_quietly(_path(settings)).get(model_name) if stamp else None
    if saved and saved.get("stamp") == stamp:
        try:
            return (
                [VersionInfo(**v) for v in saved["versions"]],
                [LedgerEntry(**e) for e in saved["entries"]],
            )
        except (KeyError, TypeError):
            pass  # written by another version of this module: read afresh
    from tasks.tracking import champion, ledger

    versions = champion.registry_state(model_name)
    entries = ledger.history(model_name)
    if stamp:
        _save(settings, model_name, stamp, versions, entries)
    return versions, entries


def store_stamp(settings: Settings) -> str | None:
    """A digest of what the snapshot depends on: the store's content version (SQLite's file change counter) and
    the file's identity, the time zone (versions show local creation times), the code that
    reads them (READERS) and MLflow's version. None when the store is not an embedded SQLite file in rollback-journal
    mode at rest (no `-journal` beside it): then nothing is cached."""
    db = _db_path(settings)
    if db is None:
        return None
    parts = [settings.tracking_uri, repr((time.tzname, time.timezone, os.environ.get("TZ")))]
    try:
        if db.with_name(db.name + "-journal").exists():
            return None  # a write in progress, or a crashed one SQLite will roll back on the next open
        with db.open("rb") as f:
            header = f.read(100)
            st = os.fstat(f.fileno())
        if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
            return None  # not (yet) a SQLite database
        if header[18] == 2 or db.with_name(db.name + "-wal").exists():
            return None  # WAL mode: commits do not move the change counter (MLflow does not use it)
        parts.append(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{header[24:28].hex()}:{header[92:96].hex()}")
    except OSError:
        return None
    from mlops.fingerprint import library_versions

    here = Path(__file__).parent
    parts += [hashlib.sha256((here / f).read_bytes()).hexdigest() for f in READERS]
    parts += library_versions(("mlflow",))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def refresh(model_name: str) -> None:
    """For a command that has just written the model's versions or ledger: save the snapshot now, so the next
    `mlops status` reads it. Never raises: it is only a cache."""
    try:
        if store_stamp(get_settings()) is not None:
            registry_view(model_name)
    except Exception:  # noqa: BLE001 - a snapshot that cannot be taken is only a slower next status
        pass


def _db_path(settings: Settings) -> Path | None:
    uri = settings.tracking_uri
    if not uri.startswith("sqlite:///") or "?" in uri or uri.endswith(":memory:"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def _store_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")]


def _store_files_exist(db: Path) -> bool:
    """Any of the store's files is there (a store being created has its journal first)."""
    return any(f.exists() for f in _store_files(db))


def _path(settings: Settings) -> Path:
    return settings.home / FILE


def _save(
    settings: Settings, model_name: str, stamp: str, versions: list[VersionInfo], entries: list[LedgerEntry]
) -> None:
    """Atomically (a temporary file renamed); a snapshot that cannot be written is only a slower next read."""
    view = {
        "stamp": stamp,
        "versions": [asdict(v) for v in versions],
        "entries": [asdict(e) for e in entries],
    }
    keep_newest(_path(settings), model_name, view, KEEP)
