"""What `mlops status` and `mlops history` read from the registry (every version with its aliases and tags, and
the model's ledger), kept in `<MLOPS_HOME>/cache/registry-view.json` and reused while the embedded SQLite store
has not changed since: a read then costs no MLflow import (about 3 s of CPU here: MLflow's own import pulls in
pandas, SQLAlchemy, its GenAI modules and alembic, and each client re-checks the store's schema with alembic).

Reads only: the store is still read through MLflow's public client (champion.py, ledger.py) whenever the
snapshot is missing or stale, and nothing here can move an alias. "Unchanged" is the store file's identity,
size and modification time (and its `-wal`/`-journal` beside it): every SQLite commit writes one of them. A
snapshot is saved only when those files were last written long enough ago that a later write cannot share their
modification time (git's "racy clean" rule): `SETTLE_SECONDS` on a filesystem that keeps whole seconds (FAT,
ext3, HFS+, some network filesystems), `FINE_SETTLE_SECONDS` on one that keeps nanoseconds (ext4, XFS, btrfs,
tmpfs, APFS: the kernel moves their clock every tick, 1-10 ms on Linux). A command that wrote the store refreshes
the snapshot before it exits (`refresh`), so `mlops status` right after `mlops run retrain` needs no MLflow. Server stores
(MLFLOW_TRACKING_URI=http://...) are always read live: their changes cannot be seen from here.
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
SETTLE_SECONDS = 2.0  # whole-second modification times
FINE_SETTLE_SECONDS = 0.05  # sub-second ones: several clock ticks
KEEP = 20  # models remembered
READERS = ("snapshot.py", "champion.py", "ledger.py", "store.py")  # the code that reads what is kept


def registry_view(model_name: str) -> tuple[list[VersionInfo], list[LedgerEntry]]:
    """Every version of the model (newest first, with aliases and mlops tags) and its ledger (oldest first):
    from the snapshot when the store is unchanged since it was taken, else read from MLflow (and saved)."""
    from tasks.tracking.champion import VersionInfo
    from tasks.tracking.ledger import LedgerEntry

    settings = get_settings()
    stamp, settled = store_stamp(settings)  # before the read: a write during it changes the next stamp
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
    if stamp and settled:
        _save(settings, model_name, stamp, versions, entries)
    return versions, entries


def store_stamp(settings: Settings) -> tuple[str | None, bool]:
    """A digest of what the snapshot depends on: the store files' identity, size and modification time, the
    time zone (versions show local creation times), the code that reads them (READERS) and MLflow's version; None when
    the store is not an embedded SQLite file that exists (then nothing is cached). And whether the files were
    last written more than SETTLE_SECONDS before now: only then may a read taken after it be saved under it."""
    db = _db_path(settings)
    if db is None:
        return None, False
    now, settled = time.time(), True
    parts = [settings.tracking_uri, repr((time.tzname, time.timezone, os.environ.get("TZ")))]
    for f in _store_files(db):
        try:
            st = f.stat()
        except FileNotFoundError:
            if f == db:
                return None, False
            continue
        except OSError:
            return None, False
        settled = settled and now - st.st_mtime >= settle_seconds(st.st_mtime_ns)
        parts.append(f"{f.name}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    from mlops.fingerprint import library_versions

    here = Path(__file__).parent
    parts += [hashlib.sha256((here / f).read_bytes()).hexdigest() for f in READERS]
    parts += library_versions(("mlflow",))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest(), settled


def settle_seconds(mtime_ns: int) -> float:
    """How long after a write its modification time is safe to trust: a stamp in whole seconds says the filesystem
    keeps no finer time (a write 0.9 s later would show the same), a finer one that it ticks at least every 10 ms."""
    return SETTLE_SECONDS if mtime_ns % 1_000_000_000 == 0 else FINE_SETTLE_SECONDS


def refresh(model_name: str) -> None:
    """For a command that has just written the model's versions or ledger: save the snapshot now, once the store's
    files have settled (at most FINE_SETTLE_SECONDS of waiting), so the next `mlops status` reads it. On a
    filesystem of whole seconds nothing is saved here (the next read does it). Never raises: it is only a cache."""
    try:
        settings = get_settings()
        stamp, settled = store_stamp(settings)
        if stamp is not None and not settled:
            time.sleep(FINE_SETTLE_SECONDS)
            stamp, settled = store_stamp(settings)
        if stamp is not None and settled:
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
