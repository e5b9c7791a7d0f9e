"""What a run's Prefect logs show in the terminal. Prefect logs a failed task or flow run with the error's text and
traceback, at each level it passes (task, then flow), and each retry with the error's full repr; the CLI then says
the error once, in words, with its exit code. So, in the terminal only (the Prefect UI keeps its full logs):

- a user error (an MlopsError: a quality gate, unusable data, a spec problem) is not logged at all: the CLI's
  closing message says it once; the "Finished in state Failed" lines only point at it;
- a transient error (a tracking server down) is one line per retry and one when retries are exhausted, without
  the traceback;
- below WARNING nothing reaches the terminal (Prefect's ~20 INFO lines a run, GX's "temporary directory" line):
  the run's own output is its summary and the flow run's link. `mlops --verbose ...` shows them all.
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
SHORT = 200


class ConsoleOnce(logging.Filter):
    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.said: list[str] = []  # the first lines of the user errors met so far in this run
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose and record.levelno < logging.WARNING and record.msg != RETRY_FORMAT:
            return False  # a retry stays said (INFO in Prefect): a run waiting to retry must not look hung
        exc = record.exc_info[1] if record.exc_info else getattr(record, "mlops_error", None)
        if not record.name.startswith(RUN_LOGGERS):
            if record.name == "urllib3.connectionpool" and str(record.msg).startswith("Retrying"):
                return False  # MLflow's own HTTP retries inside one attempt: the attempt's line says it
            if exc is not None and any(isinstance(e, MlopsError) or _transient(e) for e in _chain(exc)):
                record.exc_info, record.exc_text = (
                    None,
                    None,
                )  # e.g. Prefect's events worker, logging mid-retry
            return True
        if isinstance(exc, MlopsError):
            first = first_line(exc)
            if first and first not in self.said:
                self.said.append(first)
            return False
        if record.msg == RETRY_FORMAT and isinstance(record.args, tuple) and len(record.args) == 5:
            _, error, attempt, retries, when = record.args
            record.msg, record.args = (
                "Failed (%s); retry %s/%s will start %s",
                (brief(error), attempt, retries, when),
            )
            return True
        text = record.getMessage()
        if any(said in text for said in self.said):
            if "Finished in state" not in text:
                return False
            record.msg, record.args = "Finished in state Failed: stopped (the message is below)", ()
            return True
        if exc is not None and _transient(exc):
            record.exc_info, record.exc_text = None, None
            exhausted = " - retries are exhausted" if "Retries are exhausted" in text else ""
            record.msg, record.args = "Failed (%s)%s", (brief(exc), exhausted)
        return True


def brief(error: object) -> str:
    """An error in one short line: its type and the start of its first line."""
    if not isinstance(error, BaseException):
        return str(error)[:SHORT]
    said = first_line(error)
    said = said if len(said) <= SHORT else said[: SHORT - 3] + "..."
    return f"{type(error).__name__}: {said}" if said else type(error).__name__


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
