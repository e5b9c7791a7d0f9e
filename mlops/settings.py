"""Where things live. Embedded defaults unless the environment says otherwise; nothing happens at import time.

- MLflow: `MLFLOW_TRACKING_URI` if set, else a SQLite store in `<MLOPS_HOME>/mlflow.db` with artifacts beside it.
- Prefect: `PREFECT_API_URL` if set; else a Prefect server already running at `MLOPS_LOCAL_PREFECT` (default
  http://127.0.0.1:4200/api, "off" to never look); else Prefect starts its own temporary local server for the run.
- Reports (quality gate, summaries): `<MLOPS_HOME>/reports/<pipeline>/`.
`MLOPS_HOME` defaults to `.mlops` in the current folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
