"""Where things live. Embedded defaults unless the environment says otherwise; nothing happens at import time.

- MLflow: `MLFLOW_TRACKING_URI` if set, else a SQLite store in `<MLOPS_HOME>/mlflow.db` with artifacts beside it.
- Prefect: `PREFECT_API_URL` if set; else a Prefect server already running at `MLOPS_LOCAL_PREFECT` (default
  http://127.0.0.1:4200/api, "off" to never look); else Prefect starts its own temporary local server for the run.
- Reports (quality gate, summaries): `<MLOPS_HOME>/reports/<pipeline>/`.
`MLOPS_HOME` defaults to `.mlops` in the current folder.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from mlops.errors import MlopsError
from mlops.text import mask_secrets, mask_url, without_credentials


@dataclass(frozen=True)
class Settings:
    home: Path
    tracking_uri: str
    artifact_root: Path
    mlflow_ui_url: str
    prefect_api_url: str | None

    @property
    def embedded_mlflow(self) -> bool:
        return self.tracking_uri.startswith("sqlite:")

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


def get_settings() -> Settings:
    home = Path(os.environ.get("MLOPS_HOME", ".mlops")).resolve()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    ui = os.environ.get("MLOPS_MLFLOW_UI_URL") or (
        without_credentials(uri.rstrip("/"))
        if uri.startswith(("http://", "https://"))
        else "http://127.0.0.1:5000"
    )
    return Settings(
        home=home,
        tracking_uri=uri,
        artifact_root=home / "mlartifacts",
        mlflow_ui_url=ui,
        prefect_api_url=os.environ.get("PREFECT_API_URL") or None,
    )


# Variables whose value is a credential by their name alone (MLFLOW_TRACKING_PASSWORD, PREFECT_API_KEY,
# PREFECT_API_AUTH_STRING, AWS_SECRET_ACCESS_KEY, DATABASE_PASSWORD, ...)
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|ACCESS_KEY|AUTH_STRING|CREDENTIALS?)$|_SECRET_"
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


LOCAL_PREFECT = "http://127.0.0.1:4200/api"


def find_local_prefect(timeout: float = 0.5) -> str | None:
    """The API URL of a Prefect server already running on this machine (`prefect server start`, `mlops serve`),
    or None. Runs there start ~10 s sooner than on a temporary server, and stay in its UI."""
    url = os.environ.get("MLOPS_LOCAL_PREFECT", LOCAL_PREFECT).strip()
    if not url or url.lower() in ("off", "0", "false", "no"):
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


def promotion_lock_kind(
    tracking_uri: str, prefect_api_url: str | None, model_name: str = ""
) -> Literal["file", "prefect"]:
    """Which lock serialises "read champion, compare, move aliases" (MLflow has no compare-and-set).

    "file" for a store on this machine (SQLite, a folder, or a server on a loopback address: every writer is
    here, so an OS file lock covers them all) unless a Prefect server is set for a server store; "prefect" (a
    strict concurrency limit on the Prefect server, cross-host) when PREFECT_API_URL is set; else NoPromotionLock:
    a file lock on one host of many would let two promotions interleave silently."""
    parts = urlsplit(tracking_uri)
    scheme = parts.scheme.lower()
    local = scheme in ("", "file", "sqlite") or (len(scheme) == 1 and tracking_uri[1:3] in (":\\", ":/"))
    if local and tracking_uri.strip().lower() != "databricks":  # MLflow reads the bare word as Databricks
        return "file"  # an embedded store (a Windows drive letter parses as a one-letter scheme)
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
