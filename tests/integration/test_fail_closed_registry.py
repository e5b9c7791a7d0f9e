"""Issue #12 item 1: a registry error is not "no champion". Only MLflow's own "does not exist" answer reads as none;
any other failure to read (here: a real SQLite store whose aliases table is gone, as after a botched migration)
stops the run with RegistryError (exit 1), nothing registered, no alias moved."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from flows.retrain import retrain
from mlops.settings import get_settings
from tasks.tracking import champion, state, store
from tasks.tracking.registry import _version_with_key
from tests.conftest import edit_spec

pytestmark = pytest.mark.integration


def db_path() -> Path:
    uri = get_settings().tracking_uri
    assert uri.startswith("sqlite:///"), uri
    return Path(uri[len("sqlite:///") :])


@contextmanager
def table_gone(table: str) -> Iterator[None]:
    """The store without `table` (renamed away, as a half-applied migration leaves it), then put back."""
    with sqlite3.connect(db_path()) as con:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")
    try:
        yield
    finally:
        with sqlite3.connect(db_path()) as con:
            con.execute(f"ALTER TABLE {table}_gone RENAME TO {table}")


def raised(call) -> BaseException:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as info:
        call()
    return info.value


def test_only_mlflows_own_not_found_answer_is_not_found() -> None:
    c = store.client()
    c.create_registered_model("m")
    assert store.is_not_found(raised(lambda: c.get_model_version_by_alias("m", "champion")))  # no such alias
    assert store.is_not_found(
        raised(lambda: c.get_model_version_by_alias("nope", "champion"))
    )  # no such model
    assert store.is_not_found(raised(lambda: c.get_registered_model("nope")))
    assert store.is_not_found(raised(lambda: c.get_model_version("m", "3")))
    exists = raised(lambda: c.create_registered_model("m"))
    assert store.is_already_exists(exists) and not store.is_not_found(exists)
    assert not store.is_not_found(ValueError("alias champion not found"))  # not MLflow's answer
    with table_gone("registered_model_aliases"):
        broken = raised(lambda: c.get_model_version_by_alias("m", "champion"))
    assert isinstance(broken, MlflowException) and "no such table" in str(broken)
    assert not store.is_not_found(broken) and not store.is_transient(broken)
    assert store.read_or_none(lambda: c.get_model_version_by_alias("m", "champion"), "read") is None


@pytest.mark.usefixtures("prefect_harness")
def test_a_broken_alias_table_stops_the_retrain_instead_of_promoting_a_first_model(project: Path) -> None:
    spec = project / "deployments" / "cancer.yaml"
    assert retrain(str(spec)).decision.rule == "first-model"  # v1 champion
    edit_spec(project, "{C: 1.0, max_iter: 500}", "{C: 0.5, max_iter: 500}")
    with table_gone("registered_model_aliases"), pytest.raises(store.RegistryError) as info:
        retrain(str(spec))
    message = str(info.value)
    assert get_settings().tracking_uri in message and "no such table: registered_model_aliases" in message
    # the first registry read of the run (the model's owner) already stops it; each read fails closed on its own:
    assert "of 'cancer-model' in the MLflow registry at" in message and "\n" not in message
    with table_gone("registered_model_aliases"), pytest.raises(store.RegistryError) as direct:
        champion.load_champion("cancer-model")
    assert "'champion' alias of 'cancer-model'" in str(direct.value)
    c = MlflowClient(get_settings().tracking_uri, get_settings().tracking_uri)
    assert [str(v.version) for v in c.search_model_versions("name = 'cancer-model'")] == [
        "1"
    ]  # nothing registered
    for alias in ("champion", "challenger"):
        assert str(c.get_model_version_by_alias("cancer-model", alias).version) == "1"  # nothing moved
    ledger = c.get_experiment_by_name("mlops-ledger-cancer-model")
    assert [r.data.tags["mlops.ledger.action"] for r in c.search_runs([ledger.experiment_id])] == ["promote"]


def test_a_failed_idempotency_lookup_is_not_a_miss() -> None:
    c = store.client()
    c.create_registered_model("m")
    assert _version_with_key(c, "m", "k" * 64) is None  # a real miss
    with table_gone("model_version_tags"), pytest.raises(store.RegistryError, match="idempotency key kkkk"):
        _version_with_key(c, "m", "k" * 64)  # a miss here would register a duplicate


def test_a_failed_read_of_the_drift_cooldown_does_not_bypass_it() -> None:
    c = store.client()
    assert state.read_drift_episode("m") == {}  # no model yet: never retrained by drift
    c.create_registered_model("m")
    state.record_drift_episode("m", {"last_drift_promotion": "2013-07-01T00:00:00"})
    assert state.read_drift_episode("m")["last_drift_promotion"] == "2013-07-01T00:00:00"
    with (
        table_gone("registered_model_aliases"),
        pytest.raises(store.RegistryError, match="drift episode"),
    ):
        state.read_drift_episode("m")


def test_the_cli_says_what_failed_and_exits_1(project: Path) -> None:
    from mlops.cli import app

    store.client().create_registered_model("cancer-model")
    with table_gone("registered_model_aliases"):
        result = CliRunner().invoke(app, ["status", str(project / "deployments" / "cancer.yaml")])
    assert result.exit_code == 1, result.output
    assert "no such table: registered_model_aliases" in result.output and "Traceback" not in result.output
