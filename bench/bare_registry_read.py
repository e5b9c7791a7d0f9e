"""The bare fresh-process baseline for `mlops status` / `mlops history` (issue 15): what any script needs to answer
"which version is champion, and why?" from the embedded store through MLflow's public client, with nothing of
this project: import MlflowClient, list the model's versions, read its three aliases, read the ledger experiment's
runs. Prints JSON: [[phase, wall seconds, cpu seconds], ...]. Run it as a fresh process beside the command:

    python bench/bare_registry_read.py sqlite:///$PWD/.mlops/mlflow.db flight-delays

`mlops status` reads the same through MLflow only when the store changed since its last read (else from the
snapshot in MLOPS_HOME, tasks/tracking/snapshot.py), so its warm figure is below this baseline by design.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

MARK = [time.perf_counter(), time.process_time()]


def main() -> None:
    phases: list[tuple[str, float, float]] = []

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        phases.append((name, round(wall - MARK[0], 3), round(cpu - MARK[1], 3)))
        MARK[:] = [wall, cpu]

    from mlflow import MlflowClient

    lap("import MlflowClient (imports all of mlflow: pandas, SQLAlchemy, its GenAI modules)")
    uri, name = sys.argv[1], sys.argv[2]
    client = MlflowClient(uri, uri)
    lap("MlflowClient() (the tracking store: SQLAlchemy engine, alembic schema check)")
    versions = client.search_model_versions(f"name = '{name}'")
    lap("search_model_versions (the registry store: its own schema check)")
    for alias in ("champion", "challenger", "previous"):
        with contextlib.suppress(Exception):  # an alias nobody holds
            client.get_model_version_by_alias(name, alias)
    lap("three aliases")
    exp = client.get_experiment_by_name(f"mlops-ledger-{name}")
    runs = client.search_runs([exp.experiment_id], max_results=10_000) if exp else []
    lap("the ledger's runs")
    print(json.dumps({"versions": len(versions), "ledger": len(runs), "phases": phases}))


if __name__ == "__main__":
    main()
