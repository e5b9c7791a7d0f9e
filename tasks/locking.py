"""Serialising the read-compare-move of a model's aliases, so two concurrent promotions cannot lose an update.

MLflow has no compare-and-set on aliases. With the embedded SQLite store (or a tracking server on a loopback
address) every writer is on this machine, so an OS file lock beside the store is exact and free. With a remote
tracking server, writers may be anywhere: a strict Prefect global concurrency limit (one slot per model) on the
Prefect server serialises them, and without a Prefect server promotions are refused (mlops.settings.
promotion_lock_kind) rather than guarded by a lock that covers one host only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from mlops.errors import MlopsError
from mlops.settings import embedded_store, get_settings, promotion_lock_kind

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


class HeldLock:
    """A model's promotion lock held by a retrain, with `released()` to let go of it for a while (a person's
    approval: a rollback meanwhile is never blocked by it). Each time it is taken, `on_take(model_name)` runs
    first under it (the retrain puts back what a killed run left half-published)."""

    def __init__(self, model_name: str, timeout: float, on_take: Callable[[str], object]) -> None:
        self.model_name, self.timeout, self.on_take = model_name, timeout, on_take
        self._held = ExitStack()

    def take(self) -> None:
        self._held.enter_context(promotion_lock(self.model_name, self.timeout))
        self.on_take(self.model_name)

    def let_go(self) -> None:
        self._held.close()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Released for the block, taken again after it (`on_take` runs again); when the block raises, the lock
        stays released and the error propagates."""
        self.let_go()
        yield
        self.take()


@contextmanager
def holding_promotion_lock(
    model_name: str, on_take: Callable[[str], object] = lambda _: None, timeout: float = WAIT_SECONDS
) -> Iterator[HeldLock]:
    """`promotion_lock` as a retrain holds it: taken (then `on_take` run under it), released inside
    `held.released()`, and let go at the end, however the block ends."""
    held = HeldLock(model_name, timeout, on_take)
    try:
        held.take()
        yield held
    finally:
        held.let_go()


@contextmanager
def _file_lock(model_name: str, timeout: float) -> Iterator[str]:
    path = get_settings().home / "locks" / f"promote-{model_name}.lock"
    busy = (
        f"another promotion of '{model_name}' has held {path} for over {timeout:.0f} s; wait for it to finish, or "
        "remove the file if no mlops process is running."
    )
    with file_lock(path, timeout, busy):
        yield str(path)


@contextmanager
def file_lock(path: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold the OS file lock at `path` (its folder created when missing). MlopsError naming the path, never a
    traceback, when the lock cannot be a file there (a folder in its place, a folder that is a file, a file this
    user cannot open), or with `busy` when another process holds it past `timeout` seconds."""
    from filelock import FileLock, Timeout

    problem = lock_problem(path)
    if problem is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(path, timeout=timeout, poll_interval=0.2)
            lock.acquire()
        except Timeout:
            raise MlopsError(busy) from None
        except OSError as exc:
            problem = f"cannot be opened ({exc.strerror or type(exc).__name__})"
    if problem is not None:
        raise MlopsError(
            f"the lock file {path} {problem}; it must be a file this user can read and write (mlops creates it): "
            "remove what is there, or fix its permissions, if no mlops process is running, then rerun."
        )
    try:
        yield
    finally:
        lock.release()


def lock_problem(path: Path) -> str | None:
    """Why `path` cannot hold a lock file, or None: a folder in its place, or a regular file where its folder
    should be."""
    if path.is_dir():
        return "is a folder, not a file"
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"would be under {parent}, which is a file, not a folder"
    return None


def check_promotion_lock(model_name: str) -> str:
    """The kind of promotion lock this run will use ("file" or "prefect"), or NoPromotionLock: called at the start
    of a retrain (before any data or MLflow call) and again when taking the lock. Reads no network, and imports no
    Prefect for an embedded store (`mlops promote` and `mlops rollback` run no flow)."""
    uri = get_settings().tracking_uri
    if embedded_store(uri):
        return "file"
    return promotion_lock_kind(uri, _prefect_api_url(), model_name)


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
