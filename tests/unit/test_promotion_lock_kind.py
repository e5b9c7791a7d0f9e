"""Issue #12 item 6: which lock serialises promotions, from the tracking URI and the Prefect API URL alone (no name
is resolved, nothing is contacted); a remote store with no cross-host lock is refused."""

from __future__ import annotations

import pytest

from mlops.errors import MlopsError
from mlops.settings import NoPromotionLock, is_loopback, promotion_lock_kind

PREFECT = "http://prefect.team.example:4200/api"


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:////home/ana/.mlops/mlflow.db",
        "file:///home/ana/mlruns",
        "/home/ana/mlruns",
        "http://127.0.0.1:5000",
        "http://127.8.9.10:5000",
        "https://localhost:5000",
        "http://LOCALHOST.:5000",
        "http://[::1]:5000",
        "postgresql://mlflow@127.0.0.1:5432/mlflow",
    ],
)
def test_a_store_on_this_machine_takes_the_file_lock(uri: str) -> None:
    assert promotion_lock_kind(uri, None) == "file"


@pytest.mark.parametrize(
    "uri", ["http://mlflow.team.example:5000", "https://10.0.0.7", "http://[2001:db8::1]:5000", "databricks"]
)
def test_a_remote_store_takes_the_prefect_limit_or_is_refused(uri: str) -> None:
    assert promotion_lock_kind(uri, PREFECT) == "prefect"
    with pytest.raises(NoPromotionLock) as info:
        promotion_lock_kind(uri, None, "churn-model")
    assert isinstance(info.value, MlopsError) and info.value.exit_code == 1
    message = str(info.value)
    assert uri in message and "PREFECT_API_URL" in message and "'churn-model'" in message


def test_the_embedded_store_keeps_the_file_lock_even_with_a_prefect_server() -> None:
    assert promotion_lock_kind("sqlite:///x.db", PREFECT) == "file"
    assert promotion_lock_kind("http://127.0.0.1:5000", PREFECT) == "prefect"  # as before: the server's limit


def test_loopback_is_read_from_the_text_only() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("app.localhost")
    assert not is_loopback("localhost.example.com") and not is_loopback("128.0.0.1") and not is_loopback(None)
