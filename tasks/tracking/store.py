"""The connection to MLflow and what every tracking module shares: the client (creating the embedded store once),
the experiment of a pipeline, the runs we start, their URLs, and what counts as a transient error.

Kept apart so that runs, lineage, registry and ledger each deal with their own concern, not with connecting."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

from mlops.errors import MlopsError
from mlops.reach import ServiceDown
from mlops.secrets import hide_secrets
from mlops.settings import Settings, get_settings
from mlops.text import first_line

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
TAG = "mlops."
T = TypeVar("T")


class TrackingUnavailable(MlopsError):
    exit_code = 1


def is_transient(exc: BaseException) -> bool:
    """Connection trouble that may pass: the tasks' retries ride it out. A server store found down by the first
    reach of a process (ServiceDown, raised inside a task of a deployment's run) is too; the CLI reaches it in its
    pre-flight, before any task, and says so at once. A refused password (ServiceRefused) never is."""
    text = str(exc).lower()
    return isinstance(exc, ConnectionError | TimeoutError | ServiceDown) or any(
        s in text
        for s in (
            "connection refused",
            "max retries exceeded",
            "database is locked",
            "temporarily unavailable",
        )
    )


def unreachable(exc: BaseException) -> TrackingUnavailable | None:
    """The user's message for a tracking store that could not be reached, even after retrying; None otherwise."""
    if not is_transient(exc):
        return None
    uri = get_settings().tracking_uri_shown
    return TrackingUnavailable(
        f"cannot reach the MLflow tracking store at {uri}, even after retrying ({type(exc).__name__}: "
        f"{hide_secrets(first_line(exc))}); start it (or correct MLFLOW_TRACKING_URI), or unset MLFLOW_TRACKING_URI to use the "
        "embedded store, then rerun."
    )


class RegistryError(MlopsError):
    """A registry read that decides something failed for another reason than "not there": the run stops."""

    exit_code = 1


def is_not_found(exc: BaseException) -> bool:
    """MLflow's own answer that the thing read does not exist: a missing registered model or version
    (RESOURCE_DOES_NOT_EXIST), or a missing alias on an existing model (INVALID_PARAMETER_VALUE, "Registered model
    alias ... not found."). Only this may read as "none"; any other error is a failure to read."""
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return False
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    text = exc.message.lower()
    return exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in text and "not found" in text


def is_already_exists(exc: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_ALREADY_EXISTS"


class AccessDenied(RegistryError):
    """The tracking server refused the credentials (401) or this user's permission (403): never "none", never
    retried; credentials to correct, exit 2 (mlops/cli/main.py), not a server down."""

    exit_code = 2

    def __init__(self, message: str, status: int):
        self.status = status
        super().__init__(message)


def access_denied(exc: BaseException) -> AccessDenied | None:
    """The user's message when the MLflow server answered 401 (no or wrong credentials) or 403 (this user may not
    do that, e.g. a read-only user writing); None for any other error. Names the server and the variables to set;
    never the password."""

    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException) or exc.error_code not in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return None
    uri = get_settings().tracking_uri_shown
    user = get_settings().mlflow_tracking_username
    if exc.error_code == "UNAUTHENTICATED":
        who = (
            f"the user '{user}' (wrong password, or no such user)" if user else "a client without credentials"
        )
        return AccessDenied(
            f"the MLflow tracking server at {uri} refused {who} (401 unauthenticated); set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to your team's user on that server (ask its "
            "admin for one), then rerun. The run stopped at the first refused request: nothing was recorded by it.",
            401,
        )
    return AccessDenied(
        f"the MLflow tracking server at {uri} refused the user '{user or '(none)'}' (403 permission denied: "
        "this user may not do this, e.g. it may only read); set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD to a user with EDIT or MANAGE on the pipeline's experiment and registered "
        "model (your team's user), or ask the server's admin to grant it, then rerun. The run stopped at the "
        "refused request: no run, version or alias was written by it.",
        403,
    )


def registry_error(exc: BaseException, operation: str) -> RegistryError:
    """The user's message for a registry read that failed (not transient, not "not found")."""
    denied = access_denied(exc)
    if denied is not None:
        return denied
    uri = get_settings().tracking_uri_shown
    # SQL errors go on with the statement: the first line says it
    said = hide_secrets(first_line(exc))
    return RegistryError(
        f"could not {operation} in the MLflow registry at {uri} ({type(exc).__name__}: {said}); this "
        "is not MLflow's 'not found' answer, so nothing was decided from it: this step registered no version "
        "and moved no alias. Check the store (after an MLflow upgrade run `mlflow db upgrade URI`; on a shared "
        "server check your credentials and permissions), then rerun."
    )


def read_or_none(read: Callable[[], T], operation: str) -> T | None:
    """`read()`, or None when MLflow answers that the thing does not exist. Transient errors are raised as they
    are (the tasks' retries ride them out); any other error raises RegistryError."""
    try:
        return read()
    except Exception as exc:
        if is_transient(exc):
            raise
        if is_not_found(exc):
            return None
        raise registry_error(exc, operation) from exc


def version_by_alias(c: Any, model_name: str, alias: str) -> Any:
    """The model version holding `alias`, or None when MLflow says there is none (else RegistryError).

    MLflow's basic-auth app answers 403, not "not found", to a non-admin reading an alias of a model that does not
    exist (yet): then the model itself is read (a 403 there is a real refusal) and its alias list decides."""
    operation = f"read the '{alias}' alias of '{model_name}'"
    try:
        return read_or_none(lambda: c.get_model_version_by_alias(model_name, alias), operation)
    except AccessDenied as exc:
        if exc.status != 403:
            raise
    model = read_or_none(lambda: c.get_registered_model(model_name), operation)
    held = None if model is None else (model.aliases or {}).get(alias)
    if held is None:
        return None
    return read_or_none(lambda: c.get_model_version(model_name, str(held)), operation)


# MLflow retries each HTTP request itself: 7 times with backoff factor 2, about 4 minutes per failing call when the
# server is down (and 4 times that under the tasks' RETRIES). The tasks' retries ride out outages, so MLflow's own
# are kept short unless the user set them.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


# libpq (MLflow's PostgreSQL engine through psycopg2) waits for a silent server as long as the OS does: bounded
# like every first reach (mlops/reach.py), unless the user set it.
def sql_defaults(settings: Settings) -> dict[str, str]:
    return {"PGCONNECT_TIMEOUT": str(math.ceil(settings.connect_timeout_seconds))}


def client(settings: Settings | None = None) -> Any:
    """Point MLflow at the configured store (creating the embedded SQLite store on first use). A server store is
    reached first, once per process, within the retry policy of mlops/reach.py (tasks/tracking/preflight.py)."""
    import os

    import mlflow
    from mlflow import MlflowClient

    settings = settings or get_settings()
    # MLflow logs each SQL error with its traceback before raising it; the error reaches the user once, in our
    # one-paragraph message (RegistryError, TrackingUnavailable), or with its traceback under --debug
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    if not settings.embedded_mlflow:
        for key, value in (HTTP_DEFAULTS | sql_defaults(settings)).items():
            os.environ.setdefault(key, value)
        if settings.tracking_uri not in _REACHED:
            from tasks.tracking.preflight import reach_store

            reach_store(settings.tracking_uri)
            _REACHED.add(settings.tracking_uri)
    if settings.embedded_mlflow and settings.tracking_uri not in _READY:
        _create_store_once(settings)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri, settings.tracking_uri)


_READY: set[str] = set()
_REACHED: set[str] = set()  # server stores reached by this process (reach_store)


def _create_store_once(settings: Settings) -> None:
    """Create (migrate) the embedded SQLite store under a file lock: two processes starting on a new store at
    once would otherwise race through MLflow's migrations and one of them fails."""
    from mlflow import MlflowClient

    from tasks.locking import file_lock

    logging.getLogger("alembic").setLevel(logging.WARNING)
    path = settings.home / "locks" / "store-init.lock"
    busy = (
        f"another process has held {path} for over 10 minutes while creating the MLflow store; is one stuck?"
    )
    with file_lock(path, 600, busy):
        MlflowClient(settings.tracking_uri, settings.tracking_uri).search_experiments(max_results=1)
    _READY.add(settings.tracking_uri)


def experiment_id(pipeline: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    c = client(settings)
    exp = c.get_experiment_by_name(pipeline)
    if exp is not None and exp.lifecycle_stage == "deleted":
        raise MlopsError(
            f"the MLflow experiment '{pipeline}' (id {exp.experiment_id}) at {settings.tracking_uri_shown} was deleted, "
            "so no run can be recorded in it; restore it (MLflow UI, or `mlflow experiments restore "
            f"--experiment-id {exp.experiment_id}`) and rerun."
        )
    if exp is not None:
        return str(exp.experiment_id)
    location = (settings.artifact_root / pipeline).as_uri() if settings.embedded_mlflow else None
    try:
        return str(c.create_experiment(pipeline, artifact_location=location))
    except Exception:  # created meanwhile by a concurrent run
        exp = c.get_experiment_by_name(pipeline)
        if exp is None:
            raise
        return str(exp.experiment_id)


def start_run(experiment: str, run_name: str) -> Any:
    """`mlflow.start_run`, tagged with the Prefect task run it belongs to. On a retry, the runs that earlier attempts
    of this task run left RUNNING (the tracking server went away mid-run, so they could not be ended) are marked
    FAILED first: a half-written run never looks alive next to the finished one."""
    import mlflow
    from prefect.runtime import task_run

    attempt_of = task_run.id  # None outside a task run
    if attempt_of and task_run.run_count > 1:
        c = client()
        abandoned = c.search_runs(
            [experiment],
            filter_string=f"tags.`{TAG}prefect_task_run_id` = '{attempt_of}' and attributes.status = 'RUNNING'",
        )
        for r in abandoned:
            c.set_tag(r.info.run_id, f"{TAG}abandoned", "tracking server lost mid-run; the task was retried")
            c.set_terminated(r.info.run_id, "FAILED")
    tags = {f"{TAG}prefect_task_run_id": attempt_of} if attempt_of else None
    try:
        return mlflow.start_run(experiment_id=experiment, run_name=run_name, tags=tags)
    except (
        Exception
    ) as exc:  # a refused create (e.g. a read-only user) is the user's message, not a traceback
        refused = access_denied(exc)
        if refused is None:
            raise
        raise refused from None


def run_url(experiment: str, run_id: str) -> str:
    return f"{get_settings().mlflow_ui_url}/#/experiments/{experiment}/runs/{run_id}"


def version_url(model_name: str, version: str) -> str:
    return f"{get_settings().mlflow_ui_url}/#/models/{model_name}/versions/{version}"


def param_text(value: Any) -> str:
    """A param's value as MLflow keeps it: JSON for anything but text, no credential in it (hide_secrets)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return hide_secrets(text)[:6000]


def shown_tags(tags: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Tags as MLflow keeps them: prefixed, and no credential in any text value (a source URL's password, a
    library's error text with the store URL inside)."""
    return {f"{prefix}{k}": hide_secrets(v) if isinstance(v, str) else v for k, v in tags.items()}


def fmt(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6g}"
