"""The retry policy for reaching a dependency (mlops/reach.py): bounded tries with the policy's pauses for a
service that is down, none for one that refused the credentials, and a message that names the variable, the
address without its password, what happened and how many tries over how long."""

from __future__ import annotations

import pytest

from mlops.reach import (
    CONNECT_TIMEOUT_SECONDS,
    PAUSES_SECONDS,
    TRIES,
    Kind,
    ServiceDown,
    ServiceRefused,
    Unreached,
    masked,
    reach,
    socket_failure,
    unreached_error,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def failing(exc: BaseException, clock: Clock, cost: float = 0.0, succeed_on: int | None = None):  # type: ignore[no-untyped-def]
    calls: list[float] = []

    def attempt(timeout: float) -> None:
        calls.append(timeout)
        clock.now += cost
        if succeed_on is not None and len(calls) == succeed_on:
            return
        raise exc

    return attempt, calls


def kinds(exc: BaseException) -> tuple[Kind, str]:
    if isinstance(exc, PermissionError):
        return "denied", 'password authentication failed for user "mlflow"'
    found = socket_failure(exc)
    assert found is not None
    return found


def test_a_refused_port_is_tried_the_policys_times_with_its_pauses() -> None:
    clock = Clock()
    attempt, calls = failing(ConnectionRefusedError(111, "Connection refused"), clock)
    unreached = reach(attempt, kinds, sleep=clock.sleep, clock=clock)
    assert unreached == Unreached("refused", "", TRIES, sum(PAUSES_SECONDS[: TRIES - 1]))
    assert calls == [CONNECT_TIMEOUT_SECONDS] * TRIES
    assert clock.slept == list(PAUSES_SECONDS[: TRIES - 1])
    assert unreached.exit_code == 1


def test_a_silent_port_costs_its_timeouts_and_pauses_then_says_so() -> None:
    clock = Clock()
    attempt, calls = failing(TimeoutError("timed out"), clock, cost=CONNECT_TIMEOUT_SECONDS)
    unreached = reach(attempt, kinds, sleep=clock.sleep, clock=clock)
    assert unreached is not None and unreached.kind == "silent" and unreached.tries == TRIES
    assert unreached.seconds == TRIES * CONNECT_TIMEOUT_SECONDS + sum(PAUSES_SECONDS[: TRIES - 1])
    assert unreached.seconds <= 30  # the policy keeps the user's wait in seconds, not minutes


def test_the_connect_timeout_is_a_setting_and_the_pauses_follow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLOPS_CONNECT_TIMEOUT_SECONDS: a slow network waits longer, each pause in proportion; the message says the
    timeout that was waited (the default stays 5 s, 2 s then 3 s between tries)."""
    assert (CONNECT_TIMEOUT_SECONDS, PAUSES_SECONDS) == (5.0, (2.0, 3.0))
    monkeypatch.setenv("MLOPS_CONNECT_TIMEOUT_SECONDS", "10")
    clock = Clock()
    attempt, calls = failing(TimeoutError("timed out"), clock, cost=10.0)
    unreached = reach(attempt, kinds, sleep=clock.sleep, clock=clock)
    assert calls == [10.0] * TRIES and clock.slept == [4.0, 6.0]
    assert unreached is not None and unreached.seconds == 3 * 10.0 + 4.0 + 6.0
    text = str(
        unreached_error("Prefect server", "PREFECT_API_URL", "http://h:4200/api", unreached, "start it")
    )
    assert "did not answer within 10 s (tried 3 times over 40 s)" in text


def test_a_refused_password_is_not_retried_and_is_a_setting_to_correct() -> None:
    clock = Clock()
    attempt, calls = failing(PermissionError("FATAL"), clock)
    unreached = reach(attempt, kinds, sleep=clock.sleep, clock=clock)
    assert unreached is not None and unreached.kind == "denied"
    assert len(calls) == 1 and clock.slept == []
    assert unreached.exit_code == 2


def test_a_service_back_on_the_second_try_is_reached() -> None:
    clock = Clock()
    attempt, calls = failing(ConnectionRefusedError(), clock, succeed_on=2)
    assert reach(attempt, kinds, sleep=clock.sleep, clock=clock) is None
    assert len(calls) == 2 and clock.slept == [PAUSES_SECONDS[0]]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://mlflow:s3cret@db.example:5432/mlflow",
            "postgresql://mlflow:***@db.example:5432/mlflow",
        ),
        ("postgresql://:s3cret@db.example/mlflow", "postgresql://:***@db.example/mlflow"),
        ("http://u:p%40ss@127.0.0.1:5000", "http://u:***@127.0.0.1:5000"),
        (
            "postgresql://db/x?password=s3cret&sslmode=require",
            "postgresql://db/x?password=***&sslmode=require",
        ),
        ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
    ],
)
def test_masked_never_shows_a_password(url: str, shown: str) -> None:
    assert masked(url) == shown
    assert "s3cret" not in masked(url) and "p%40ss" not in masked(url)


def test_the_message_names_the_variable_the_masked_address_what_happened_and_the_tries() -> None:
    down = unreached_error(
        "MLflow tracking store's database",
        "MLFLOW_TRACKING_URI",
        "postgresql://mlflow:s3cret@127.0.0.1:5999/mlflow",
        Unreached("silent", "", 3, 20.4),
        "start the database, then rerun",
        "correct the password",
    )
    text = str(down)
    assert isinstance(down, ServiceDown) and down.exit_code == 1
    assert (
        "MLFLOW_TRACKING_URI=postgresql://mlflow:***@127.0.0.1:5999/mlflow" in text and "s3cret" not in text
    )
    assert f"accepted the connection but did not answer within {CONNECT_TIMEOUT_SECONDS:g} s" in text
    assert "tried 3 times over 20 s" in text and "start the database" in text and "\n" not in text
    assert "connection refused" not in text.lower()  # would read as transient to the tasks' retry condition

    refused = unreached_error(
        "MLflow tracking store's database",
        "MLFLOW_TRACKING_URI",
        "postgresql://mlflow:s3cret@127.0.0.1:5999/mlflow",
        Unreached("denied", 'password authentication failed for user "mlflow"', 1, 0.1),
        "start the database, then rerun",
        "correct the password in MLFLOW_TRACKING_URI",
    )
    assert isinstance(refused, ServiceRefused) and refused.exit_code == 2
    assert "refused the credentials (password authentication failed" in str(refused)
    assert "not retried" in str(refused) and "correct the password" in str(refused)


def test_a_service_down_is_ridden_out_by_the_tasks_retries_a_refused_password_is_not() -> None:
    """Inside a deployment's task the first reach of the store may find it restarting: the task retries (with its
    backoff); the CLI reaches the store in its pre-flight, outside any task, and says so at once."""
    from tasks.tracking.store import is_transient

    down = unreached_error("x", "V", "tcp://h:1", Unreached("refused", "", 3, 5.0), "start it")
    refused = unreached_error("x", "V", "tcp://h:1", Unreached("denied", "no", 1, 0.1), "start it", "fix it")
    assert is_transient(down) and not is_transient(refused)


def test_a_psycopg2_connection_is_bounded_by_the_policy_and_other_drivers_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlops.reach import CONNECT_TIMEOUT_SECONDS, pg_connect_args

    bounded = pg_connect_args("postgresql://u:pw@db:5432/x")
    assert bounded["connect_timeout"] == round(CONNECT_TIMEOUT_SECONDS) and bounded["keepalives"] == 1
    assert pg_connect_args("postgresql+psycopg2://db/x") == bounded
    monkeypatch.setenv("MLOPS_CONNECT_TIMEOUT_SECONDS", "2.5")
    assert pg_connect_args("postgresql://u:pw@db:5432/x")["connect_timeout"] == 3  # libpq: whole seconds
    assert pg_connect_args("postgresql+asyncpg://db/x") == {}  # asyncpg takes no libpq options
    assert pg_connect_args("sqlite:///x.db") == {} and pg_connect_args("mysql://db/x") == {}
