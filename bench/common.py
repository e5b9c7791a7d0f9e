"""Shared by the benchmark scripts: seeded synthetic data, a throw-away project around it, quiet environment,
timing helpers and child processes measured for wall time and peak memory.

Nothing here touches the user's `.mlops` or `~/.prefect`: every benchmark gets its own MLOPS_HOME and
PREFECT_HOME under a temporary folder, and nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
MLOPS = str(Path(PYTHON).parent / "mlops")

# Before any library is imported: no analytics or telemetry calls (no network here), no progress bars.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore",
    # libgomp's default wait policy spins; when a core is also busy with anything else (the Prefect server,
    # another job) HistGradientBoosting's many short parallel regions then run 10-20x slower (fit of 100k rows:
    # ~55 s instead of ~4 s here). `mlops` sets it itself (mlops/cli/runtime.py); here both sides of every comparison,
    # the bare scripts and our flows run in-process, get the same setting; see docs/benchmarks.md.
    "OMP_WAIT_POLICY": "PASSIVE",
}

N_NUMERIC, N_COUNTS = 18, 2
CATEGORIES = {"cat_0": 5, "cat_1": 12, "cat_2": 30, "cat_3": 60}  # cardinalities
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)] + [f"count_{i}" for i in range(N_COUNTS)]
CATEGORICAL = list(CATEGORIES)
TARGET = "label"
COLUMNS = [*NUMERIC, *CATEGORICAL, TARGET]  # 25 columns
SPLIT_SEED, HOLDOUT = 7, 0.2
# The estimator and its params, the same for our pipeline (through the spec) and the bare script.
ESTIMATOR = "sklearn.ensemble.HistGradientBoostingClassifier"
PARAMS: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "early_stopping": False,
}
MAX_CATEGORIES = 30
MIN_IMPROVEMENT = 0.002
SAMPLE_ROWS = 50_000  # monitoring.max_sample_rows: the spec's default
SAMPLE_SEED = 0


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment of a child command: the quiet settings, no PREFECT_API_URL or MLFLOW_TRACKING_URI
    inherited, and MLOPS_LOCAL_PREFECT=off unless given: `mlops run` would otherwise use any Prefect server
    running on this machine at 127.0.0.1:4200 (someone else's, too). first_run.py sets it on purpose."""
    env = {**os.environ, **QUIET_ENV, **extra}
    if os.environ.get("BENCH_OMP_DEFAULT") == "1":  # run.py --omp-default: the libraries' own setting
        env.pop("OMP_WAIT_POLICY", None)
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI"):
        if key not in extra:
            env.pop(key, None)
    if "MLOPS_LOCAL_PREFECT" not in extra:
        env["MLOPS_LOCAL_PREFECT"] = "off"
    if "MLOPS_KEEP_SERVER" not in extra:  # a temporary Prefect server per command unless asked (commands.py)
        env["MLOPS_KEEP_SERVER"] = "0"
    return env


def apply_quiet_env() -> None:
    for key, value in QUIET_ENV.items():
        if key == "OMP_WAIT_POLICY" and os.environ.get("BENCH_OMP_DEFAULT") == "1":
            continue
        os.environ.setdefault(key, value)


# --- data -----------------------------------------------------------------------------------------------------


def synthetic_frame(rows: int, seed: int, shift: float = 0.0) -> Any:
    """`rows` x 25 columns: 18 float and 2 count features, 4 string categoricals, a binary label driven by
    a seeded logistic model of them. `shift` moves three numeric columns (a batch with some drift)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(12345).normal(0, 0.6, N_NUMERIC)  # the same truth for every seed
    num = rng.normal(0, 1, (rows, N_NUMERIC)).astype("float64")
    if shift:
        num[:, :3] += shift
    data: dict[str, Any] = {f"num_{i:02d}": num[:, i] for i in range(N_NUMERIC)}
    logit = num @ weights
    for i in range(N_COUNTS):
        counts = rng.poisson(3 + 2 * i, rows).astype("int64")
        data[f"count_{i}"] = counts
        logit += 0.15 * (counts - (3 + 2 * i))
    for name, card in CATEGORIES.items():
        codes = rng.integers(0, card, rows)
        effect = np.random.default_rng(card).normal(0, 0.5, card)
        logit += effect[codes]
        labels = np.array([f"{name}_v{j:02d}" for j in range(card)], dtype=object)
        data[name] = labels[codes]
    for i in (3, 7):  # a little missingness for the imputers
        col = data[f"num_{i:02d}"]
        col[rng.random(rows) < 0.01] = np.nan
    data[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-(logit - 0.5)))).astype("int64")
    return pd.DataFrame(data)[COLUMNS]


def suite_json(name: str = "bench") -> dict[str, Any]:
    """A GX suite of 32 expectations over the 25 columns (row count, column set, ranges, sets, not-null)."""
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000}},
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": COLUMNS, "exact_match": False},
        },
    ]
    for col in NUMERIC:
        exps.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": col, "min_value": -20, "max_value": 100},
            }
        )
    for col, card in CATEGORIES.items():
        exps.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": col}})
        exps.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": col, "value_set": [f"{col}_v{j:02d}" for j in range(card)]},
            }
        )
    exps.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": TARGET}})
    exps.append(
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": TARGET, "value_set": [0, 1]}}
    )
    return {"name": name, "meta": {}, "expectations": exps}


def spec_yaml(name: str, data_path: str) -> str:
    params = json.dumps(PARAMS).replace('"', "")
    return f"""\
name: {name}
description: Synthetic benchmark data, 25 columns (bench/common.py).
data:
  source: {{kind: parquet, path: {data_path}}}
  target: {TARGET}
  features:
    numeric: [{", ".join(NUMERIC)}]
    categorical: [{", ".join(CATEGORICAL)}]
  split: {{strategy: stratified, holdout_fraction: {HOLDOUT}, seed: {SPLIT_SEED}}}
quality:
  suite: expectations/{name}.json
  on_failure: fail
model:
  task: classification
  estimator: {ESTIMATOR}
  params: {params}
  preprocessing:
    categorical: {{encoding: ordinal, max_categories: {MAX_CATEGORIES}}}
registry:
  model_name: {name}
promotion:
  metric: roc_auc
  min_improvement: {MIN_IMPROVEMENT}
  guardrails:
    - {{metric: recall, max_drop: 0.02}}
monitoring:
  drift_share_threshold: 0.5
  on_drift: alert
  max_sample_rows: {SAMPLE_ROWS}
  seed: {SAMPLE_SEED}
"""


def flights_spec(name: str, source: str, strategy: str = "time") -> str:
    """A spec of the bundled flights' delay features read from `source` (a YAML flow mapping), split by
    `strategy`: the data the SQL and row-order benchmarks read, whatever holds it."""
    return f"""\
name: {name}
data:
  source: {source}
  target: delayed
  time_column: time_hour
  features:
    numeric: [hour, day_of_week, distance, temp, dewp, humid, wind_speed, precip, pressure, visib]
    categorical: [carrier, origin, dest]
  split: {{strategy: {strategy}, holdout_fraction: 0.2, seed: 7}}
model:
  task: classification
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
registry: {{model_name: {name}}}
promotion: {{metric: roc_auc}}
"""


@dataclass(frozen=True)
class Project:
    root: Path
    name: str

    @property
    def spec(self) -> Path:
        return self.root / "deployments" / f"{self.name}.yaml"

    @property
    def suite(self) -> Path:
        return self.root / "expectations" / f"{self.name}.json"

    @property
    def data(self) -> Path:
        return self.root / "data" / f"{self.name}.parquet"

    @property
    def batch(self) -> Path:
        return self.root / "data" / f"{self.name}-batch.parquet"


def make_project(root: Path, rows: int, name: str = "bench", batch_rows: int = 0, seed: int = 1) -> Project:
    """A small self-contained project (pyproject marker, spec, GX suite, Parquet data) as tests/conftest.py lays
    one out; with batch_rows, also a drifted batch for the monitor (another seed, three shifted columns)."""
    for sub in ("deployments", "expectations", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'bench-project'\n")
    project = Project(root, name)
    project.suite.write_text(json.dumps(suite_json(name), indent=1))
    project.spec.write_text(spec_yaml(name, f"data/{name}.parquet"))
    synthetic_frame(rows, seed).to_parquet(project.data, index=False)
    if batch_rows:
        synthetic_frame(batch_rows, seed + 100, shift=0.3).to_parquet(project.batch, index=False)
    return project


# --- timing ---------------------------------------------------------------------------------------------------


class Stopwatch:
    """Named laps: `with sw.lap("fit"): ...`; `sw.laps` keeps the seconds of each (summed when repeated)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextmanager
    def lap(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclass(frozen=True)
class ChildResult:
    seconds: float
    peak_rss_mb: float  # the child's own peak resident set (its waited-for descendants included)
    returncode: int
    stdout: str
    stderr: str
    started_at: float  # time.time() just before the child was started


def run_child(args: Sequence[str], env: dict[str, str], cwd: Path | str, timeout: float = 900) -> ChildResult:
    """Run a command through bench/child.py: wall time from just before its fork to its exit, and its own
    peak RSS (wait4; the largest of it and the children it waited for, e.g. a temporary server)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "child.json"
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(
                [PYTHON, str(BENCH / "child.py"), str(report), "--", *args],
                env=env,
                cwd=cwd,
                stdout=fo,
                stderr=fe,
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()  # our launcher; its command is then orphaned only until it ends on its own
                proc.wait()
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
        if not report.is_file():
            return ChildResult(float("nan"), float("nan"), proc.returncode or 1, stdout, stderr, time.time())
        r = json.loads(report.read_text())
    return ChildResult(r["seconds"], r["peak_rss_mb"], r["returncode"], stdout, stderr, r["started_at"])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
