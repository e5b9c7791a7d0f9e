"""The local Prefect server's cost as a user meets it (issue 25): `mlops run retrain` on the small example in a new
MLOPS_HOME (the first run: the server starts) and again in the same one (a later run: the server is reused), each a
fresh process timed from the fork to the exit, then `mlops server stop`. Given several source trees (e.g. an
export of main before a change, and this checkout), the trees take turns run by run, so that a machine's changing
load falls on all of them alike. Each tree runs with this interpreter and its own folder first on PYTHONPATH.

    python bench/first_later.py [--repeats 3] [--first-only] TREE [TREE ...]    # prints one JSON line per run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(tree: Path, first_only: bool) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="first-later-"))
    project = work / "project"
    for sub in ("deployments", "expectations"):
        (project / sub).mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'bench-first-later'\n")
    shutil.copy(tree / "expectations" / "diabetes.json", project / "expectations" / "diabetes.json")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env.update(
        MLOPS_HOME=str(work / "home"), PREFECT_HOME=str(work / "client"), MLOPS_KEEP_SERVER="1",
        MLOPS_LOCAL_PREFECT="off", PYTHONPATH=str(tree), PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="true", GX_ANALYTICS_ENABLED="false", MLFLOW_DISABLE_TELEMETRY="true", TQDM_DISABLE="1",
    )  # fmt: skip
    row: dict[str, float] = {}
    try:
        for kind in ("first",) if first_only else ("first", "later"):
            spec = (
                tree / "deployments" / "diabetes.yaml"
            ).read_text()  # a new description: every retrain fits
            spec = spec.replace("\ndescription: ", f"\ndescription: ({kind} {time.time()}) ", 1)
            (project / "deployments" / "diabetes.yaml").write_text(spec)
            start = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "mlops.cli", "run", "retrain", "deployments/diabetes.yaml"],
                cwd=project, env=env, capture_output=True, text=True,
            )  # fmt: skip
            row[kind] = round(time.monotonic() - start, 2)
            row[f"{kind}_load"] = round(os.getloadavg()[0], 1)
            if done.returncode != 0:
                raise RuntimeError(
                    f"{tree}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                )
    finally:
        subprocess.run(
            [sys.executable, "-m", "mlops.cli", "server", "stop"], cwd=project, env=env, capture_output=True
        )
        shutil.rmtree(work, ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--first-only", action="store_true")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {str(t): [] for t in args.trees}
    for _ in range(args.repeats):
        for tree in args.trees:
            runs[str(tree)].append(row := one(tree.resolve(), args.first_only))
            print(json.dumps({"tree": str(tree), **row}), flush=True)
    for tree, rows in runs.items():
        medians = {k: statistics.median(r[k] for r in rows) for k in ("first", "later") if k in rows[0]}
        print(json.dumps({"tree": tree, "median": medians, "n": len(rows)}), flush=True)


if __name__ == "__main__":
    main()
