"""Serialising the read-compare-move of a model's aliases, so two concurrent promotions cannot lose an update.

MLflow has no compare-and-set on aliases. With the embedded SQLite store (or a tracking server on a loopback
address) every writer is on this machine, so an OS file lock beside the store is exact and free. With a remote
tracking server, writers may be anywhere: a strict Prefect global concurrency limit (one slot per model) on the
Prefect server serialises them, and without a Prefect server promotions are refused (mlops.settings.
promotion_lock_kind) rather than guarded by a lock that covers one host only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from mlops.errors import MlopsError
from mlops.settings import get_settings, promotion_lock_kind

WAIT_SECONDS = 900


@contextmanager
def promotion_lock(model_name: str, timeout: float = WAIT_SECONDS) -> Iterator[str]:
    """Hold the model's promotion lock; yields a description of the lock used. Raises NoPromotionLock (before
    touching anything) when no lock covers every writer of the tracking store."""
    if check_promotion_lock(model_name) == "file":
        with _file_lock(model_name, timeout) as where:
            yield where
        return
    from prefect.concurrency.sync import concurrency

    name = f"promote-{model_name}"
    _ensure_limit(name)
    with concurrency(name, occupy=1, strict=True, timeout_seconds=timeout):
        yield f"Prefect concurrency limit '{name}'"


@contextmanager
def _file_lock(model_name: str, timeout: float) -> Iterator[str]:
    from filelock import FileLock, Timeout

    folder = get_settings().home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"promote-{model_name}.lock"
    lock = FileLock(path, timeout=timeout, poll_interval=0.2)
    try:
        lock.acquire()
    except Timeout:
        raise MlopsError(
            f"another promotion of '{model_name}' has held {path} for over {timeout:.0f} s; "
            "wait for it to finish, or remove the file if no mlops process is running."
        ) from None
    try:
        yield str(path)
    finally:
        lock.release()


def check_promotion_lock(model_name: str) -> str:
    """The kind of promotion lock this run will use ("file" or "prefect"), or NoPromotionLock: called at the start
    of a retrain (before any data or MLflow call) and again when taking the lock. Reads no network."""
    return promotion_lock_kind(get_settings().tracking_uri, _prefect_api_url(), model_name)


def _prefect_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def _ensure_limit(name: str) -> None:
    """Create the one-slot limit if missing: `strict=True` fails on a missing limit instead of skipping it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass  # only a missing limit is created; any other error (server down, refused) propagates
        with suppress(ObjectAlreadyExists):  # created meanwhile by another run
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
