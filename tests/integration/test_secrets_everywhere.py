"""A database password never shows, on every newer surface and in its failure paths: the sql source's URL, the
labels' URL, `--out table:NAME@ENV`'s URL and MLOPS_SEARCH_STORAGE, with a wrong password, a server that is down
and an SQL error. Scanned: the CLI's output, every file under MLOPS_HOME, and what the Prefect API keeps of the
runs (flow and task run state messages, parameters, logs, artifacts), read back through Prefect's client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import free_port
from tests.integration.test_sql_postgres import PASSWORD, _url, trips_db  # noqa: F401 - the module's database
from tests.integration.test_sql_source import _sql_project

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def api_text() -> str:
    """Everything the Prefect API holds about the runs: state names and messages, parameters, logs, artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort, LogSort, TaskRunSort

    # newest first: the server is shared with the other tests of this worker, whose runs may outnumber the limit
    with get_client(sync_client=True) as client:
        parts: list[str] = []
        for run in client.read_flow_runs(limit=200, sort=FlowRunSort.EXPECTED_START_TIME_DESC):
            parts += [run.name, str(run.parameters), str(run.state and run.state.message)]
            parts += [str(s.message) for s in client.read_flow_run_states(run.id)]
        for task_run in client.read_task_runs(limit=200, sort=TaskRunSort.EXPECTED_START_TIME_DESC):
            parts += [task_run.name, str(task_run.state and task_run.state.message)]
        parts += [log.message for log in client.read_logs(limit=200, sort=LogSort.TIMESTAMP_DESC)]
        artifacts = client.read_artifacts(limit=200, sort=ArtifactSort.CREATED_DESC)
        parts += [f"{a.key} {a.description} {a.data}" for a in artifacts]
    return "\n".join(parts)


def test_a_failed_state_message_carries_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect makes a failed task's and flow's state message of the error's text, and its API shows it to
    whoever reads the run: a library error that repeats a URL reaches the API masked (tasks/steps.py, flows/)."""
    from prefect import flow

    from tasks.steps import step

    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/flights"
    monkeypatch.setenv("LEAKY_DB_URL", url)

    def connect() -> None:
        raise ConnectionError(f"could not connect to {url}: connection refused")

    connect_task = step(connect, "connect-leaky")

    @flow(name="leaky")
    def leaky() -> None:
        connect_task()

    with pytest.raises(ConnectionError) as caught:
        leaky()
    assert PASSWORD not in str(caught.value) and "postgres:***@127.0.0.1:1" in str(caught.value)
    seen = api_text()
    assert "connect-leaky" in seen and "could not connect to postgresql://postgres:***@127.0.0.1:1" in seen
    assert PASSWORD not in seen


@pytest.fixture
def trips(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trips_db: tuple[int, pd.DataFrame],  # noqa: F811 - the fixture imported above
) -> Iterator[Path]:
    port, frame = trips_db
    monkeypatch.setenv("TRIPS_DB_URL", _url(port))
    root = _sql_project(tmp_path, "table: trips")
    spec = root / "deployments" / "trips.yaml"
    spec.write_text(spec.read_text().replace("  target: late\n", "  target: late\n  id_column: notes\n"))
    frame[frame["ts"] >= "2014-11-01"].drop(columns=["late"]).to_parquet(root / "data" / "batch.parquet")
    yield root


def test_no_password_of_a_database_url_is_shown_in_any_failure(
    trips: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    trips_db: tuple[int, pd.DataFrame],  # noqa: F811
) -> None:
    from mlops.cli import app

    port, _ = trips_db
    spec = str(trips / "deployments" / "trips.yaml")
    wrong = _url(
        port, "wrong-Pw-4x9"
    )  # a wrong password is a secret too: it may be a near miss of the right one
    down = _url(free_port())
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str, code: int | None = None, **env: str) -> None:
        with monkeypatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            result = runner.invoke(app, list(args))
        outputs.append(result.output)
        assert (result.exit_code == code) if code is not None else result.exit_code != 0, (
            result.output + repr(result.exception)
        )

    run("run", "retrain", spec, code=0)  # a champion, so predict and monitor reach their outputs and labels
    run("run", "retrain", spec, TRIPS_DB_URL=wrong)  # wrong password
    run("run", "retrain", spec, TRIPS_DB_URL=down)  # server down
    with monkeypatch.context() as mp:  # an SQL error: a table that is not there
        mp.setenv("TRIPS_DB_URL", _url(port))
        (trips / "deployments" / "trips.yaml").write_text(
            (trips / "deployments" / "trips.yaml").read_text().replace("table: trips", "table: nowhere")
        )
        run("run", "retrain", spec)
        (trips / "deployments" / "trips.yaml").write_text(
            (trips / "deployments" / "trips.yaml").read_text().replace("table: nowhere", "table: trips")
        )
    batch = str(trips / "data" / "batch.parquet")
    for url in (wrong, down):
        run("run", "predict", spec, "--batch", batch, "--out", "table:preds@OUT_DB_URL", OUT_DB_URL=url)
    search = "  search: {trials: 2, seed: 1, space: {C: {type: float, low: 0.01, high: 10, log: true}}}\n"
    searching = trips / "deployments" / "search.yaml"
    searching.write_text(
        (trips / "deployments" / "trips.yaml")
        .read_text()
        .replace("params: {max_iter: 300}", f"params: {{max_iter: 300}}\n{search.rstrip()}")
    )
    for url in (wrong, down):
        run("run", "retrain", str(searching), MLOPS_SEARCH_STORAGE=url)
    labelled = trips / "deployments" / "labelled.yaml"
    labelled.write_text(
        (trips / "deployments" / "trips.yaml").read_text()
        + "labels:\n  source: {kind: sql, url_env: LABELS_DB_URL, table: arrived}\n  known_at_column: known_at\n"
    )
    for url in (wrong, down):
        run("run", "monitor", str(labelled), "--batch", batch, LABELS_DB_URL=url)

    said = "\n".join(outputs)
    assert "postgres:***@127.0.0.1" in said  # the databases are still named: host, port, user
    for secret in (PASSWORD, "wrong-Pw-4x9"):
        assert secret not in said
        for path in isolated_home.rglob("*"):  # the MLflow store, the reports, the ledgers, the search trials
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
        assert secret not in api_text()
