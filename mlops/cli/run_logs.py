"""What a run's Prefect logs show in the terminal (the Prefect UI keeps its full logs). Prefect's own lines are
let through in Prefect's own words; the filter only drops or trims what would mislead or bury the user:

- a user error (an MlopsError: a quality gate, unusable data, a spec problem) is not logged at all, nor any line
  repeating its text ("Finished in state Failed(...)"): the CLI's closing message says it once, with its exit code;
- a traceback is never shown for a user error or a transient one (a tracking server down): the line stays, the
  traceback goes;
- below WARNING nothing reaches the terminal (Prefect's ~20 INFO lines a run, GX's "temporary directory" line)
  except Prefect's retry line (INFO), so a run waiting to retry does not look hung. `mlops --verbose` shows all.

The one wording of Prefect's relied on is RETRY_FORMAT; tests/unit/test_no_traceback.py checks it against the
installed Prefect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from mlops.errors import MlopsError
from mlops.text import first_line

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
RETRY_FORMAT = "Task run failed with %s: %r - Retry %s/%s will start %s"  # Prefect 3.8's task_engine


class ConsoleOnce(logging.Filter):
    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.said: list[str] = []  # the first lines of the user errors met so far in this run
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose and record.levelno < logging.WARNING and record.msg != RETRY_FORMAT:
            return False
        if record.name == "urllib3.connectionpool" and str(record.msg).startswith("Retrying"):
            return False  # MLflow's own HTTP retries inside one attempt: Prefect's retry line says it
        exc = record.exc_info[1] if record.exc_info else getattr(record, "mlops_error", None)
        if record.name.startswith(RUN_LOGGERS) and isinstance(exc, MlopsError):
            first = first_line(exc)
            if first and first not in self.said:
                self.said.append(first)
            return False
        if self.said and any(said in record.getMessage() for said in self.said):
            return False
        if exc is not None and any(isinstance(e, MlopsError) or _transient(e) for e in _chain(exc)):
            record.exc_info, record.exc_text = None, None
        return True


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or while handling (a bounded walk: chains can loop)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 20:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transient(exc: BaseException) -> bool:
    from tasks.tracking import is_transient

    return is_transient(exc)


@contextmanager
def console_once() -> Iterator[None]:
    """Apply ConsoleOnce to the terminal's handlers (Prefect's console handler on the root logger) for one run."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # what `import prefect` does; the handlers exist from here on
    quiet = ConsoleOnce(verbose=verbose())
    handlers = [h for h in logging.getLogger().handlers if _to_terminal(h)]
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


VERBOSE: ContextVar[bool] = ContextVar("mlops_verbose", default=False)  # `mlops --verbose`, set per command


def verbose() -> bool:
    """`mlops --verbose`: the library logs below WARNING reach the terminal too (the main callback sets it on
    every command, so one command's flag never carries over to the next one run in the same process)."""
    return VERBOSE.get()


def _to_terminal(handler: logging.Handler) -> bool:
    from prefect.logging.handlers import APILogHandler

    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, APILogHandler)
