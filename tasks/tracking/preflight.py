"""Before a run starts: can the configured MLOPS_HOME and MLflow tracking store be used at all? A folder that
cannot be created, a path that is a file, a URI scheme MLflow does not know: each is a setting to correct (exit 2),
said in one paragraph before Prefect starts, never a traceback from inside a flow.

A server store is not contacted here: an unreachable server is the tasks' retries' business (exit 1)."""

from __future__ import annotations

from mlops.errors import MlopsError
from mlops.settings import Settings, get_settings
from mlops.text import first_line


class StoreUnusable(MlopsError):
    """MLOPS_HOME or MLFLOW_TRACKING_URI names something that cannot work; the message says which and the fix."""

    exit_code = 2


def check_store(settings: Settings | None = None) -> None:
    """Create MLOPS_HOME and open the tracking store's client (creating the embedded SQLite store on first use)."""
    from tasks.tracking.store import client

    settings = settings or get_settings()
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not home.is_dir():
            raise NotADirectoryError(f"{home} is not a folder")
    except OSError as exc:
        raise StoreUnusable(
            f"MLOPS_HOME is {home}, which cannot be used as this project's folder for runs, reports and the "
            f"embedded MLflow store ({_reason(exc)}); set MLOPS_HOME to a folder you can write (or unset it to "
            "use .mlops here), then rerun. Nothing was run."
        ) from None
    uri = settings.tracking_uri
    try:
        client(settings)
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - setting errors are raised below; the rest is met where the run needs it
        if not _is_setting_error(exc):
            return  # anything else (a server down, ...) is met, retried and reported where the run needs it
        raise StoreUnusable(
            f"MLFLOW_TRACKING_URI is {uri}, which MLflow cannot use as a tracking store ({_reason(exc)}); "
            "give a SQLite file in a folder you can write (sqlite:///path/mlflow.db), a tracking server "
            "(http://host:5000), or unset MLFLOW_TRACKING_URI to use the embedded store in MLOPS_HOME, then rerun. "
            "Nothing was run."
        ) from None


def _is_setting_error(exc: BaseException) -> bool:
    """A store the configuration itself rules out: an unknown scheme, a path that cannot be a folder or a file."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, MlflowException):
        text = str(exc).lower()
        return "unsupported uri" in text or "could not find a registered" in text or "unable to open" in text
    return "unable to open database file" in str(exc).lower()  # sqlalchemy's OperationalError for SQLite


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}"
    return (first_line(exc) or type(exc).__name__).split(". See https://")[0].strip()
