"""Where things live. Embedded defaults unless the environment says otherwise; nothing happens at import time.

- MLflow: `MLFLOW_TRACKING_URI` if set, else a SQLite store in `<MLOPS_HOME>/mlflow.db` with artifacts beside it.
- Prefect: `PREFECT_API_URL` if set; else a Prefect server already running at `MLOPS_LOCAL_PREFECT` (default
  http://127.0.0.1:4200/api, "off" to never look); else Prefect starts its own temporary local server for the run.
- Reports (quality gate, summaries): `<MLOPS_HOME>/reports/<pipeline>/`.
`MLOPS_HOME` defaults to the project's store, `<project root>/.mlops`, the root found from the current folder upwards
(mlops/project.py); outside any project, with no MLOPS_HOME, there is no store (NoProject, exit 2).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from mlops.errors import MlopsError
from mlops.project import default_home
from mlops.reach import CONNECT_TIMEOUT_SECONDS, LEAST_CONNECT_TIMEOUT_SECONDS
from mlops.text import mask_url, without_credentials


class SettingsError(MlopsError):
    """An environment variable we read holds a value that cannot work: a usage error, fixed in the environment."""

    exit_code = 2


def _blank_is_unset(value: object) -> object:
    """`VAR=` (set but empty) reads as unset, as it always did here."""
    return None if isinstance(value, str) and not value.strip() else value


def _url_with_port(value: str | None) -> str | None:
    """A URL whose port (when it has one) is a number: `postgresql://h:abc/x` fails here, not inside a run."""
    if value is None:
        return None
    value = value.strip()
    try:
        urlsplit(value).port  # noqa: B018 (raises ValueError for a port that is not a number or out of range)
    except ValueError as exc:
        raise ValueError(f"its port is not a port number ({exc})") from None
    return value


def _number(value: object) -> object:
    """MLOPS_MEMORY_BUDGET_BYTES=2e9 is two billion bytes."""
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return value
    return value


class Settings(BaseModel):
    """Every environment variable the project reads, in one place: its name (the alias), its type, its default and
    what it is for (the description, which docs/configuration.md repeats and tests/unit/test_settings.py checks).
    A bad value stops the command with one paragraph naming the variable (SettingsError, exit 2).

    pydantic-settings would read these the same way but costs ~0.9 s more at every command's start on this
    machine (it imports asyncio and its source machinery; `import pydantic` 0.52 s vs `import pydantic_settings`
    1.42 s, best of 5 under load): the environment is read by `from_environment` below instead."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, validate_default=True)

    home: Annotated[Path, BeforeValidator(_blank_is_unset)] = Field(
        Path(".mlops"),
        alias="MLOPS_HOME",
        json_schema_extra={
            "fix": "set MLOPS_HOME to a folder you can write (or unset it to use .mlops here)"
        },
        description="Folder for the embedded MLflow store, reports and caches.",
    )
    mlflow_tracking_uri: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="MLFLOW_TRACKING_URI",
        json_schema_extra={
            "fix": "give a SQLite file (sqlite:///path/mlflow.db), a tracking server (http://host:5000) or a database URL with a numeric port, or unset MLFLOW_TRACKING_URI to use the embedded store in MLOPS_HOME"
        },
        description="MLflow tracking store; unset: SQLite in MLOPS_HOME/mlflow.db.",
    )
    mlflow_ui_url_set: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="MLOPS_MLFLOW_UI_URL",
        json_schema_extra={"fix": "set it to the MLflow UI's address (http://host:5000), or unset it"},
        description="Where links to MLflow runs point (default: the server's URL).",
    )
    prefect_api_url: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="PREFECT_API_URL",
        json_schema_extra={
            "fix": "it is not a Prefect API URL; set it to your Prefect server's API, e.g. http://127.0.0.1:4200/api (`mlops serve` starts one), or unset it to run on a local Prefect server"
        },
        description="Prefect server API (ends in /api); unset: a local server.",
    )
    local_prefect: Annotated[str, BeforeValidator(_blank_is_unset)] = Field(
        "http://127.0.0.1:4200/api",
        alias="MLOPS_LOCAL_PREFECT",
        json_schema_extra={"fix": "set it to a Prefect API URL (default http://127.0.0.1:4200/api) or off"},
        description="Where to look for a Prefect server running on this machine; off: never look.",
    )
    keep_server: Annotated[bool, BeforeValidator(_blank_is_unset)] = Field(
        True,
        alias="MLOPS_KEEP_SERVER",
        json_schema_extra={
            "fix": "set it to 1 (keep the local Prefect server, the default) or 0 (a temporary one per command)"
        },
        description="Keep a local Prefect server between commands (0: temporary).",
    )
    memory_budget_bytes: Annotated[int | None, BeforeValidator(_blank_is_unset), BeforeValidator(_number)] = (
        Field(
            None,
            gt=0,
            alias="MLOPS_MEMORY_BUDGET_BYTES",
            json_schema_extra={
                "fix": "set it to a number of bytes above 0 (e.g. 2e9), or unset it to use half the free memory"
            },
            description="Memory one run may use (default: half the free).",
        )
    )
    connect_timeout_seconds: Annotated[float, BeforeValidator(_blank_is_unset)] = Field(
        CONNECT_TIMEOUT_SECONDS,
        ge=LEAST_CONNECT_TIMEOUT_SECONDS,
        alias="MLOPS_CONNECT_TIMEOUT_SECONDS",
        json_schema_extra={
            "fix": f"set it to a number of seconds of at least {LEAST_CONNECT_TIMEOUT_SECONDS:g} (libpq's least), "
            f"or unset it for {CONNECT_TIMEOUT_SECONDS:g}"
        },
        description="Seconds each try at reaching a service (MLflow, Prefect, a database, Dask, S3) may take; "
        "3 tries, pauses of 0.4 and 0.6 of it between.",
    )
    dask_address: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="MLOPS_DASK_ADDRESS",
        json_schema_extra={"fix": "set it to the Dask scheduler's address (tcp://host:8786), or unset it"},
        description="Dask scheduler (tcp://host:port) for model.candidates.",
    )
    search_storage: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="MLOPS_SEARCH_STORAGE",
        json_schema_extra={
            "fix": "set it to a database URL (postgresql://user:password@host:5432/db), or unset it for the "
            "SQLite file in MLOPS_HOME"
        },
        description="Database of model.search's trials, so a killed search resumes (default: MLOPS_HOME/search.db).",
    )
    mlflow_tracking_username: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="MLFLOW_TRACKING_USERNAME",
        json_schema_extra={"fix": "correct it or unset it"},
        description="User on an MLflow server with basic auth.",
    )
    mlflow_tracking_password: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="MLFLOW_TRACKING_PASSWORD",
        json_schema_extra={"fix": "correct it or unset it"},
        description="Its password (read by MLflow; never shown).",
    )
    prefect_api_auth_string: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="PREFECT_API_AUTH_STRING",
        json_schema_extra={"fix": "set it to user:password, or unset it"},
        description="user:password of a Prefect server with auth (never shown).",
    )

    aws_access_key_id: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="AWS_ACCESS_KEY_ID",
        json_schema_extra={"fix": "set it to the access key of the S3 store, or unset it"},
        description="S3 access key, for s3:// paths (docs/sources.md).",
    )
    aws_secret_access_key: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="AWS_SECRET_ACCESS_KEY",
        json_schema_extra={"fix": "set it to the secret of AWS_ACCESS_KEY_ID, or unset it"},
        description="Its secret (never shown).",
    )
    aws_session_token: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="AWS_SESSION_TOKEN",
        json_schema_extra={"fix": "set it to the session token of temporary credentials, or unset it"},
        description="Session token of temporary S3 credentials (never shown).",
    )
    aws_region: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="AWS_REGION",
        json_schema_extra={"fix": "set it to the bucket's region (e.g. eu-west-1), or unset it"},
        description="Region of the S3 buckets.",
    )
    aws_endpoint_url: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        alias="AWS_ENDPOINT_URL",
        json_schema_extra={
            "fix": "set it to the S3-compatible store's address (http://127.0.0.1:9000 for MinIO), or unset it "
            "for AWS"
        },
        description="S3-compatible store (MinIO, R2, ...); unset: AWS.",
    )

    _check_urls = field_validator(
        "mlflow_tracking_uri", "prefect_api_url", "mlflow_ui_url_set", "aws_endpoint_url"
    )(_url_with_port)

    @field_validator("home")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        home = value.expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise ValueError("it is a file, not a folder")
        return home

    @field_validator("local_prefect")
    @classmethod
    def _off_or_url(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in OFF:
            return "off"
        if not value.startswith(("http://", "https://")):
            raise ValueError("it is neither an http(s) URL nor off")
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process's environment; SettingsError naming the variable on a bad value."""
        env = os.environ if environ is None else environ
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        try:
            return cls.model_validate({k: v for k, v in env.items() if k in names and v.strip()})
        except ValidationError as exc:
            raise SettingsError(_settings_problem(exc, env)) from None

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def mlflow_ui_url(self) -> str:
        if self.mlflow_ui_url_set:
            return without_credentials(self.mlflow_ui_url_set)
        uri = self.tracking_uri
        return (
            without_credentials(uri.rstrip("/"))
            if uri.startswith(("http://", "https://"))
            else "http://127.0.0.1:5000"
        )

    @property
    def embedded_mlflow(self) -> bool:
        return self.tracking_uri.startswith("sqlite:")

    @property
    def search_storage_url(self) -> str:
        """Where model.search keeps its trials (an SQLAlchemy URL): the shared database when set, else a file."""
        if self.search_storage is not None:
            return self.search_storage.get_secret_value()
        return f"sqlite:///{self.home / 'search.db'}"

    def reports_dir(self, pipeline: str) -> Path:
        return self.home / "reports" / pipeline

    @property
    def tracking_uri_shown(self) -> str:
        """The tracking URI as messages, logs and reports show it: its password masked."""
        return mask_url(self.tracking_uri)

    @property
    def prefect_api_url_shown(self) -> str | None:
        return mask_url(self.prefect_api_url) if self.prefect_api_url else None

    def mlflow_ui_command(self) -> str:
        if not self.embedded_mlflow:
            return f"open {without_credentials(self.mlflow_ui_url)}"
        return (
            f"mlflow ui --backend-store-uri {self.tracking_uri} "
            f"--default-artifact-root {self.artifact_root} --host 127.0.0.1 --port 5000"
        )


OFF = ("off", "0", "false", "no")


def _settings_problem(exc: ValidationError, env: Mapping[str, str]) -> str:
    """One paragraph: each variable, what it holds (masked), what is wrong and what is expected."""
    fields = {f.alias: (name, f) for name, f in Settings.model_fields.items()}
    said = []
    for error in exc.errors():
        alias = str(error["loc"][0]) if error["loc"] else ""
        _, field = fields.get(alias, ("", None))
        held = env.get(alias, "")
        shown = "(set, not shown)" if "PASSWORD" in alias or "AUTH" in alias else f"'{mask_url(held)}'"
        reason = str(error["msg"]).removeprefix("Value error, ")
        extra = field.json_schema_extra if field is not None else None
        fix = extra.get("fix") if isinstance(extra, dict) else None
        said.append(f"{alias} is {shown}, which cannot work ({reason}); {fix or 'correct it or unset it'}")
    return "; ".join(said) + ". Nothing was run."


def get_settings() -> Settings:
    """The settings of this environment, the store being MLOPS_HOME when set, else the project's `.mlops` found from
    the current folder upwards (mlops/project.py: NoProject, exit 2, outside any project)."""
    settings = Settings.from_environment()
    if home_is_set():
        return settings
    return settings.model_copy(update={"home": default_home(Path.cwd(), None)})


def home_is_set() -> bool:
    """MLOPS_HOME names the store (it always wins over the project's `.mlops`)."""
    return bool((os.environ.get("MLOPS_HOME") or "").strip())


LOCAL_PREFECT = "http://127.0.0.1:4200/api"


def find_local_prefect(timeout: float = 0.5) -> str | None:
    """The API URL of a Prefect server already running on this machine (`prefect server start`, `mlops serve`),
    or None. Runs there start ~10 s sooner than on a temporary server, and stay in its UI."""
    url = get_settings().local_prefect
    if url == "off":
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return url if response.status == 200 else None
    except (OSError, ValueError):
        return None


class NoPromotionLock(MlopsError):
    """No lock covers every writer of this tracking store: moving aliases could lose an update."""

    exit_code = 1


def is_loopback(host: str | None) -> bool:
    """`localhost` (and `*.localhost`) or a loopback address literal (127.0.0.0/8, ::1), by the text alone: no name
    is ever resolved."""
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def embedded_store(tracking_uri: str) -> bool:
    """The tracking store is a file on this machine (SQLite, a folder): every writer is here, whatever Prefect says
    (a Windows drive letter parses as a one-letter scheme; MLflow reads the bare word `databricks` as Databricks)."""
    scheme = urlsplit(tracking_uri).scheme.lower()
    local = scheme in ("", "file", "sqlite") or (len(scheme) == 1 and tracking_uri[1:3] in (":\\", ":/"))
    return local and tracking_uri.strip().lower() != "databricks"


def promotion_lock_kind(
    tracking_uri: str, prefect_api_url: str | None, model_name: str = ""
) -> Literal["file", "prefect"]:
    """Which lock serialises "read champion, compare, move aliases" (MLflow has no compare-and-set).

    "file" for a store on this machine (SQLite, a folder, or a server on a loopback address: every writer is
    here, so an OS file lock covers them all) unless a Prefect server is set for a server store; "prefect" (a
    strict concurrency limit on the Prefect server, cross-host) when PREFECT_API_URL is set; else NoPromotionLock:
    a file lock on one host of many would let two promotions interleave silently."""
    if embedded_store(tracking_uri):
        return "file"
    parts = urlsplit(tracking_uri)
    if prefect_api_url:
        return "prefect"
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if is_loopback(host):
        return "file"
    of = f" of '{model_name}'" if model_name else ""
    raise NoPromotionLock(
        f"the MLflow tracking store {mask_url(tracking_uri)} is not on this machine, so other machines may move the same "
        f"aliases and a file lock here cannot serialise promotions{of}; set PREFECT_API_URL to your Prefect server "
        "(e.g. http://prefect.example:4200/api) so its concurrency limit serialises them across hosts, or use a "
        "tracking store on this machine (a loopback server or the embedded SQLite store). Nothing was run or moved."
    )
