"""The credentials this process holds, and the one way to hide them: whatever is printed, logged, tagged or
reported passes through hide_secrets, and every error raised by a task or a flow passes through hide_secrets_in
(its text masked in place, before Prefect makes a failed state's message of it, the CLI prints it or the ledger
records it). The standard library only (no pydantic): the CLI's every line goes through it, `mlops --version`
included."""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote

from mlops.text import mask_secrets

# Variables whose value is a credential by their name alone (MLFLOW_TRACKING_PASSWORD, PREFECT_API_KEY,
# PREFECT_API_AUTH_STRING, AWS_SECRET_ACCESS_KEY, DATABASE_PASSWORD, MLOPS_NOTIFY_WEBHOOK_URL: a webhook URL is its own secret, ...)
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|ACCESS_KEY|AUTH_STRING|CREDENTIALS?)$|_SECRET_|WEBHOOK"
)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credentials this process holds in its environment: the values of the variables named as secrets, the
    password half of a `user:password` auth string, and the password of every URL-valued variable (as written and
    percent-decoded). What hide_secrets() masks wherever it appears, even where no pattern would find it."""
    found: list[str] = []
    for name, value in (os.environ if environ is None else environ).items():
        if not value:
            continue
        if _SECRET_NAME.search(name.upper()):
            found.append(value)
            if name.upper().endswith("AUTH_STRING") and ":" in value:
                found.append(value.partition(":")[2])
        if "://" in value and "@" in value:
            netloc = value.partition("://")[2].split("/", 1)[0].split("?", 1)[0]
            userinfo = netloc.rpartition("@")[0]
            if ":" in userinfo:
                password = userinfo.partition(":")[2]
                found += [password, unquote(password)]
    return found


def hide_secrets(text: str) -> str:
    """`text` as it may be printed, logged, tagged or reported: every URL's password, every secret-looking
    parameter and every credential held in the environment masked (mlops.text.mask_secrets)."""
    return mask_secrets(text, secret_values())


# --- errors: masked in place, so every reader of the error (Prefect's state message, the CLI, the ledger) sees the
# masked text -----------------------------------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


def hide_secrets_in(exc: BaseException) -> BaseException:
    """`exc` with every credential masked in place (hide_secrets), and in the errors it carries (its cause, its
    context, an error held in an attribute such as SQLAlchemy's `orig`): the text of its args and of its string
    attributes (MLflow's `message`, OSError's `filename`). Its type stays (a retry condition, the CLI's mapping to
    exit codes read it); an error whose text comes from elsewhere (its own __str__) and still shows a credential
    is given a subclass of its type that says the masked text. Returns `exc`, so `raise hide_secrets_in(exc)`."""
    secrets = secret_values()
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        todo += _mask_fields(error, secrets)
        todo += [e for e in (error.__cause__, error.__context__) if e is not None]
    text = _text(exc)
    hidden = mask_secrets(text, secrets)
    if hidden != text:
        _say_instead(exc, hidden)
    return exc


def _mask_fields(error: BaseException, secrets: Iterable[str]) -> list[BaseException]:
    """Mask the text of `error`'s args and string attributes; the errors it holds, to be masked in turn."""
    held: list[BaseException] = []

    def masked(value: Any) -> Any:
        if isinstance(value, str):
            return mask_secrets(value, secrets)
        if isinstance(value, BaseException):
            held.append(value)
        return value

    try:
        args = tuple(masked(a) for a in error.args)
        if args != error.args:
            error.args = args
    except Exception:  # noqa: BLE001 - an error whose args cannot be set keeps them; _say_instead covers its text
        pass
    for name in ("strerror", "filename", "filename2"):  # OSError's text is made of these, not of its args
        value = getattr(error, name, None)
        if isinstance(value, str) and masked(value) != value:
            setattr(error, name, masked(value))
    for name, value in list(getattr(error, "__dict__", {}).items()):
        new = masked(value)
        if new is not value and new != value:
            # a read-only attribute keeps its value; _say_instead covers the error's text
            with suppress(Exception):
                setattr(error, name, new)
    return held


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - an error that cannot say itself shows no secret either
        return ""


def _say_instead(exc: BaseException, hidden: str) -> None:
    """Give `exc` a subclass of its own type (same name and module) whose text is `hidden`. Built-in types
    cannot change class, but their text is their args and OSError's fields, already masked."""
    cls = type(exc)
    try:
        if not getattr(cls, "_mlops_hidden", False):
            exc.__class__ = _hidden_class(cls)
        exc.__dict__["_mlops_hidden_text"] = hidden
    except (TypeError, AttributeError):
        pass


_HIDDEN: dict[type[BaseException], type[BaseException]] = {}


def _hidden_class(cls: type[BaseException]) -> type[BaseException]:
    """`cls`'s subclass that says the masked text it is given (one per class)."""
    if cls not in _HIDDEN:

        def __str__(self: BaseException) -> str:  # noqa: N807 - the method the subclass exists for
            return str(self.__dict__.get("_mlops_hidden_text", ""))

        def __reduce__(self: BaseException) -> tuple[Any, ...]:  # noqa: N807 - pickled (Dask, Prefect) as text
            return (HiddenError, (f"{cls.__name__}: {self}",))

        namespace = {"__str__": __str__, "__reduce__": __reduce__, "__module__": cls.__module__,
                     "__qualname__": cls.__qualname__, "_mlops_hidden": True}  # fmt: skip
        _HIDDEN[cls] = type(cls.__name__, (cls,), namespace)
    return _HIDDEN[cls]


class HiddenError(Exception):
    """An error whose masked text is all that crossed a process boundary."""


def secrets_hidden(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` whose errors leave it masked (hide_secrets_in), and whose log records are masked as they are made
    (mask_log_records: a flow run by a Prefect worker, not the CLI, needs it too). Every task (tasks/steps.py) and
    flow (flows/) is wrapped: the one place an error passes before Prefect records its failed state, whose message
    the Prefect UI and API show to everyone who can read the run."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        mask_log_records()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every error, masked and raised again
            raise hide_secrets_in(exc)  # noqa: B904 - the same error, masked in place: its cause is kept

    return wrapper


def mask_log_records() -> None:
    """Every log record made in this process (ours, Prefect's, MLflow's, SQLAlchemy's) has its credentials masked
    when it is made (hide_secrets), so neither the terminal nor the Prefect server's run logs ever receive a store
    URL's password that a library repeated in its message."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is the logging module's to report
            return record
        masked = hide_secrets(text)
        if masked != text:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[1] is not None:  # the traceback repeats the error's text
            trace = logging.Formatter().formatException(record.exc_info)
            hidden = hide_secrets(trace)
            if hidden != trace:
                record.exc_text = hidden  # what every formatter prints in place of formatting exc_info again
        return record

    factory.masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
