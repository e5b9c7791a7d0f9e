"""Before a run starts: can the configured MLOPS_HOME and MLflow tracking store be used at all? A folder that
cannot be created, a path that is a file, a URI scheme MLflow does not know: each is a setting to correct (exit 2),
said in one paragraph before Prefect starts, never a traceback from inside a flow.

A server store (a PostgreSQL/MySQL database, an MLflow server) is reached once per process before MLflow is
(`reach_store`, called by `client`): a connect timeout and the bounded retry of mlops/reach.py, no retry for a
refused password. MLflow's own engine start retries any error 10 times over ~100 s, and its HTTP client waits 60 s
for each answer: a port that is closed, silent, or refuses the password is said in seconds, not minutes."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from mlops.errors import MlopsError
from mlops.reach import Kind, http_attempt, http_failure, reach, socket_failure, unreached_error
from mlops.secrets import hide_secrets
from mlops.settings import Settings, get_settings
from mlops.text import first_line

# the SQL servers MLflow stores runs in (sqlite is a local file, opened by check_store)
SQL_SCHEMES = ("postgresql", "mysql", "mssql")
DRIVERS = {"postgresql": "psycopg2-binary", "mysql": "pymysql", "mssql": "pyodbc"}


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
    uri = settings.tracking_uri_shown
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
    return hide_secrets((first_line(exc) or type(exc).__name__).split(". See https://")[0].strip())


# --- reaching a server store before MLflow does -------------------------------------------------------------


def reach_store(tracking_uri: str) -> None:
    """A SQL database or an MLflow server named by MLFLOW_TRACKING_URI must answer within the retry policy
    (mlops/reach.py); else ServiceDown (exit 1) or ServiceRefused (exit 2: the password, the database name, the
    driver), naming the variable and the masked address. A local store (SQLite, a folder) is not reached here."""
    base = urlsplit(tracking_uri.strip()).scheme.lower().split("+")[0]
    if base in SQL_SCHEMES:
        reach_database(tracking_uri, "MLFLOW_TRACKING_URI", "MLflow tracking store's database")
    elif base in ("http", "https"):
        unreached = reach(http_attempt(f"{tracking_uri.rstrip('/')}/health"), http_failure)
        if unreached is not None:
            raise unreached_error(
                "MLflow tracking server",
                "MLFLOW_TRACKING_URI",
                tracking_uri,
                unreached,
                "start it (`mlflow server ...`, or `mlops server start`), correct MLFLOW_TRACKING_URI, or unset it "
                "to use the embedded store in MLOPS_HOME, then rerun",
                "correct the host in MLFLOW_TRACKING_URI, then rerun",
            )


def reach_database(url: str, variable: str, what: str) -> None:
    """A PostgreSQL, MySQL or SQL Server database named by `variable` must answer within the retry policy
    (mlops/reach.py); else ServiceDown (exit 1) or ServiceRefused (exit 2), naming the variable and the masked
    address. Any other scheme (SQLite: a local file) is not reached here. Used for the MLflow store and for
    model.search's trial store (MLOPS_SEARCH_STORAGE)."""
    base = urlsplit(url.strip()).scheme.lower().split("+")[0]
    if base not in SQL_SCHEMES:
        return
    unreached = reach(_sql_attempt(url, base), _sql_failure(base))
    if unreached is not None:
        raise unreached_error(
            what,
            variable,
            url,
            unreached,
            f"start the database (or correct its host and port in {variable}), then rerun",
            f"correct the user, password or database name in {variable} (or install the driver, "
            f"`pip install {DRIVERS.get(base, 'the driver')}`), then rerun",
        )


def _sql_attempt(uri: str, base: str) -> Callable[[float], None]:
    def attempt(timeout: float) -> None:
        import math

        import sqlalchemy
        from sqlalchemy.pool import NullPool

        # libpq's and the MySQL drivers' connect_timeout bounds the connection and the server's first answer
        # (libpq takes whole seconds, at least 2)
        args = {"connect_timeout": max(2, math.ceil(timeout))} if base in ("postgresql", "mysql") else {}
        engine = sqlalchemy.create_engine(uri, connect_args=args, poolclass=NullPool)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()

    return attempt


DENIED = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "access denied for user",
    "login failed",
)
NO_DATABASE = ("does not exist", "unknown database")


def _sql_failure(base: str) -> Callable[[BaseException], tuple[Kind, str]]:
    def classify(exc: BaseException) -> tuple[Kind, str]:
        if isinstance(exc, ImportError) or type(exc).__name__ == "NoSuchModuleError":
            return "setting", f"its driver is not installed: {first_line(exc)}"
        orig = getattr(exc, "orig", None) or exc  # sqlalchemy wraps the driver's error
        text = str(orig)
        said = _server_said(text)
        low = text.lower()
        if any(s in low for s in DENIED):
            return "denied", said
        if "connection refused" in low:
            return "refused", ""
        if "timeout expired" in low or "timed out" in low:
            return "silent", ""
        if any(s in low for s in NO_DATABASE):
            return "setting", said
        if "could not translate host name" in low or "name or service not known" in low:
            return "setting", said
        found = socket_failure(orig)
        return found if found is not None else ("down", said or type(exc).__name__)

    return classify


def _server_said(text: str) -> str:
    """The server's own words in a driver error ('FATAL:  password authentication failed for user "x"' ->
    'password authentication failed for user "x"'), on one line."""
    lines = text.strip().splitlines() or [""]
    line = next((x for x in lines if "FATAL:" in x), lines[0])
    return " ".join(line.split("FATAL:")[-1].split())
