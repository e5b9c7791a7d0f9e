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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from mlops.errors import MlopsError


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

    def mlflow_ui_command(self) -> str:
        if not self.embedded_mlflow:
            return f"open {self.mlflow_ui_url}"
        return (
            f"mlflow ui --backend-store-uri {self.tracking_uri} "
            f"--default-artifact-root {self.artifact_root} --host 127.0.0.1 --port 5000"
        )


def get_settings() -> Settings:
    home = Path(os.environ.get("MLOPS_HOME", ".mlops")).resolve()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    ui = os.environ.get("MLOPS_MLFLOW_UI_URL") or (
        uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    )
    return Settings(
        home=home,
        tracking_uri=uri,
        artifact_root=home / "mlartifacts",
        mlflow_ui_url=ui,
        prefect_api_url=os.environ.get("PREFECT_API_URL") or None,
    )


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
        f"the MLflow tracking store {tracking_uri} is not on this machine, so other machines may move the same "
        f"aliases and a file lock here cannot serialise promotions{of}; set PREFECT_API_URL to your Prefect server "
        "(e.g. http://prefect.example:4200/api) so its concurrency limit serialises them across hosts, or use a "
        "tracking store on this machine (a loopback server or the embedded SQLite store). Nothing was run or moved."
    )
