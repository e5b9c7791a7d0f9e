"""What a SQL driver's error means for the retry policy (tasks/tracking/preflight.py): the words PostgreSQL and
MySQL drivers use for a refused password, a missing database, a closed or silent port, and a missing driver.
The real servers are in tests/integration/test_reach_services.py; these are the drivers' texts we cannot start here
(MySQL) or that depend on the network (a name that does not resolve)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import NoSuchModuleError, OperationalError

from tasks.tracking.preflight import _sql_failure


def driver_error(text: str) -> OperationalError:
    return OperationalError("connect", None, Exception(text))


@pytest.mark.parametrize(
    ("base", "text", "kind", "said"),
    [
        (
            "postgresql",
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for '
            'user "mlflow"\n',
            "denied",
            'password authentication failed for user "mlflow"',
        ),
        (
            "postgresql",
            'connection to server at "127.0.0.1", port 5432 failed: fe_sendauth: no password supplied\n',
            "denied",
            'connection to server at "127.0.0.1", port 5432 failed: fe_sendauth: no password supplied',
        ),
        ("mysql", "(1045, \"Access denied for user 'mlflow'@'10.0.0.7' (using password: YES)\")", "denied", None),
        ("postgresql", 'connection to server at "db", port 5432 failed: FATAL:  database "mlfow" does not exist',
         "setting", 'database "mlfow" does not exist'),
        ("mysql", "(1049, \"Unknown database 'mlfow'\")", "setting", None),
        ("postgresql", 'could not translate host name "db.nowhere" to address: Name or service not known',
         "setting", None),
        ("postgresql", 'connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server '
         "running on that host and accepting TCP/IP connections?", "refused", ""),
        ("postgresql", 'connection to server at "127.0.0.1", port 5999 failed: timeout expired', "silent", ""),
        ("mysql", "(2003, \"Can't connect to MySQL server on '127.0.0.1' (timed out)\")", "silent", ""),
    ],
)  # fmt: skip
def test_driver_errors_are_classified(base: str, text: str, kind: str, said: str | None) -> None:
    found_kind, found_said = _sql_failure(base)(driver_error(text))
    assert found_kind == kind
    if said is not None:
        assert found_said == said
    assert "\n" not in found_said


def test_a_missing_driver_is_a_setting_not_a_server_down() -> None:
    kind, said = _sql_failure("postgresql")(ModuleNotFoundError("No module named 'psycopg2'"))
    assert kind == "setting" and "driver is not installed" in said and "psycopg2" in said
    kind, _ = _sql_failure("mssql")(
        NoSuchModuleError("Can't load plugin: sqlalchemy.dialects:mssql.nodriver")
    )
    assert kind == "setting"
