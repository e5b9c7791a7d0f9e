"""Issue #12 item 6: with a remote MLflow and no Prefect server, nothing can serialise promotions across hosts, so
the retrain is refused at its start (before any data or MLflow call) and `mlops rollback` before it takes a lock;
no connection to the remote host is ever attempted (a guard fails the test on any non-loopback lookup)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops.settings import NoPromotionLock, is_loopback

pytestmark = pytest.mark.integration
REMOTE = "http://mlflow.team.example:5000"


@pytest.fixture
def remote_store_no_prefect(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """MLFLOW_TRACKING_URI on another host, no PREFECT_API_URL (also not the test harness's), and every lookup of
    a non-loopback name refused and recorded."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    attempts: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(str(host)):
            attempts.append(str(host))
            raise OSError(f"test guard: no traffic to {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", REMOTE)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(updates={PREFECT_API_URL: None}):
        yield attempts


def test_the_retrain_is_refused_before_loading_anything(
    project: Path, remote_store_no_prefect: list[str]
) -> None:
    from flows.retrain import retrain

    with pytest.raises(NoPromotionLock) as info:
        retrain.fn(str(project / "deployments" / "cancer.yaml"))  # the flow's body, in its order
    assert REMOTE in str(info.value) and "PREFECT_API_URL" in str(info.value)
    assert remote_store_no_prefect == []  # no connection attempted


def test_the_promotion_lock_refuses_too(remote_store_no_prefect: list[str]) -> None:
    from tasks.locking import promotion_lock

    with pytest.raises(NoPromotionLock), promotion_lock("cancer-model", timeout=1):
        pytest.fail("the lock was taken")
    assert remote_store_no_prefect == []


def test_mlops_rollback_refuses_with_exit_1(project: Path, remote_store_no_prefect: list[str]) -> None:
    from mlops.cli import app

    spec = str(project / "deployments" / "cancer.yaml")
    result = CliRunner().invoke(app, ["rollback", spec, "--reason", "v2 misbehaves"])
    assert result.exit_code == 1, result.output
    assert "PREFECT_API_URL" in result.output and "Traceback" not in result.output
    assert remote_store_no_prefect == []


def test_a_loopback_tracking_server_keeps_the_file_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.locking import promotion_lock

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    with (
        temporary_settings(updates={PREFECT_API_URL: None}),
        promotion_lock("cancer-model", timeout=1) as where,
    ):
        assert where.endswith("promote-cancer-model.lock")
