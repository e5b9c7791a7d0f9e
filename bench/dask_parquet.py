"""Issue 17: candidates on Dask vs threads vs sequential; a month of a 10M-row partitioned Parquet dataset vs the
whole file.

    python bench/dask_parquet.py                    # both parts, printed as Markdown (a few minutes)
    python bench/dask_parquet.py --only candidates  # or --only parquet; --rows 2_000_000 for a smaller dataset

Candidates: the project's own `tasks.parallel.fit_candidates` inside a Prefect flow, as `model.candidates` runs
them: on the flow's threads, then on a Dask LocalCluster of 2 worker processes (1 thread each) through
prefect-dask's DaskTaskRunner (MLOPS_DASK_ADDRESS), and the same fits one after another without Prefect; the
scores must be identical. The Dask cluster's first fits pay the workers' imports (shown apart, as "warm-up").

Parquet: a deterministic synthetic dataset of --rows rows (hourly-ish timestamps over 2015-2024, 6 features, a
target, 4 columns the spec does not need) is written once as a hive-partitioned dataset (year=/month=) and once as
a single file, in a temporary folder. Each read is a fresh process running what a monitor of one month reads first
(`tasks.data.load_batch` for --start/--end of the spec's source): wall time and peak RSS of that process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, REPO, log, median, peak_rss_mb, quiet_env  # noqa: E402

SPEC = """name: events
data:
  source: {{kind: parquet, path: {path}}}
  target: label
  time_column: ts
  features: {{numeric: [f0, f1, f2, f3], categorical: [site, kind]}}
  split: {{strategy: time, holdout_fraction: 0.2, seed: 7}}
model:
  task: classification
  estimator: sklearn.linear_model.LogisticRegression
registry: {{model_name: events}}
promotion: {{metric: roc_auc}}
"""
MONTH = ("2020-06-01", "2020-07-01")


# --- candidates -------------------------------------------------------------------------------------------------


def candidates(rows: int, repeats: int, work: Path) -> dict[str, Any]:
    # a temporary Prefect server of its own, in a temporary PREFECT_HOME (never ~/.prefect), patient on a busy machine
    os.environ.update(quiet_env(PREFECT_HOME=str(work / "prefect"), MLOPS_HOME=str(work / "mlops")))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.pop("MLOPS_DASK_ADDRESS", None)
    from distributed import LocalCluster
    from prefect import flow

    from mlops.spec import load_spec
    from tasks import data, parallel, steps, train

    loaded = load_spec(REPO / "deployments" / "flight_delays.yaml")
    frame = data.load(loaded).head(rows)
    parts = data.split(frame, loaded)
    fit, validation = data.validation_split(parts, loaded)
    base = loaded.spec.model
    models = [
        base.model_copy(update={"params": {**base.params, "learning_rate": r}}) for r in (0.05, 0.1, 0.2, 0.3)
    ]
    shared = train.FitData(fit, validation, parts.features, loaded.spec.data.target, loaded.spec.data.split.seed,
                           "roc_auc")  # fmt: skip

    @flow(name="bench-candidates")
    def fan_out() -> Any:
        return parallel.fit_candidates(steps.fit_candidate, shared, models)

    def sequential() -> list[float]:
        return [train.fit_candidate(shared, m).value for m in models]

    from prefect.testing.utilities import prefect_test_harness

    # a real Prefect API server (PREFECT_API_URL set): the Dask workers report the fits' task runs to it
    harness = prefect_test_harness(server_startup_timeout=180)
    harness.__enter__()
    fan_out()  # outside the timings
    timings: dict[str, list[float]] = {"sequential": [], "threads": [], "dask (2 worker processes)": []}
    scores: dict[str, list[float]] = {}
    where: dict[str, str] = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        start = time.perf_counter()
        os.environ["MLOPS_DASK_ADDRESS"] = address
        fan_out()
        warmup = time.perf_counter() - start
        for _ in range(repeats):
            for name in timings:
                if name.startswith("dask"):
                    os.environ["MLOPS_DASK_ADDRESS"] = address
                else:
                    os.environ.pop("MLOPS_DASK_ADDRESS", None)
                start = time.perf_counter()
                if name == "sequential":
                    values = sequential()
                else:
                    outcome: Any = fan_out()
                    values, where[name] = [r.value for r in outcome.results], outcome.where
                timings[name].append(time.perf_counter() - start)
                scores[name] = values
        os.environ.pop("MLOPS_DASK_ADDRESS", None)
    harness.__exit__(None, None, None)
    return {
        "rows": len(fit),
        "candidates": len(models),
        "repeats": repeats,
        "seconds": {k: median(v) for k, v in timings.items()},
        "dask_warmup_seconds": warmup,
        "where": where,
        "same_scores": all(v == scores["sequential"] for v in scores.values()),
        "scores": scores["sequential"],
    }


# --- parquet ----------------------------------------------------------------------------------------------------


def write_data(folder: Path, rows: int) -> tuple[Path, Path]:
    """The same rows as a hive dataset (year=/month=) and as one file, written month by month (deterministic)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    dataset, single = folder / "dataset", folder / "whole.parquet"
    months = pd.date_range("2015-01-01", "2025-01-01", freq="MS", tz="UTC")
    per_month = rows // (len(months) - 1)
    writer = None
    try:
        for i, (start, end) in enumerate(zip(months[:-1], months[1:], strict=True)):
            rng = np.random.default_rng(i)
            span = (end - start).value
            ts = pd.to_datetime(start.value + np.sort(rng.integers(0, span, per_month)), utc=True)
            f = rng.normal(size=(4, per_month)).astype("float64")
            frame = pd.DataFrame(
                {
                    "ts": ts,
                    **{f"f{j}": f[j] for j in range(4)},
                    "site": pd.Categorical(rng.choice(["a", "b", "c", "d", "e"], per_month)),
                    "kind": pd.Categorical(rng.choice(["x", "y", "z"], per_month)),
                    **{f"extra{j}": rng.normal(size=per_month) for j in range(4)},
                    "label": (f[0] + 0.5 * f[1] + rng.normal(size=per_month) > 0).astype("int8"),
                }
            )
            table = pa.Table.from_pandas(frame, preserve_index=False)
            out = dataset / f"year={start.year}" / f"month={start.month}"
            out.mkdir(parents=True)
            pq.write_table(table, out / "part-0.parquet")
            writer = writer or pq.ParquetWriter(single, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return dataset, single


def read_child(spec: str, start: str, end: str, out: str) -> None:
    """One fresh process: the monitor's first step for a window of the spec's source."""
    began = time.perf_counter()
    from mlops.spec import load_spec
    from tasks.data import load_batch

    frame = load_batch(load_spec(spec), start=start, end=end)
    Path(out).write_text(
        json.dumps(
            {
                "seconds": time.perf_counter() - began,
                "peak_rss_mb": peak_rss_mb(),
                "rows": len(frame),
                "columns": list(frame.columns),
            }
        )
    )


def parquet(rows: int, repeats: int, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    dataset, single = write_data(work, rows)
    log(f"parquet: {rows:,} rows written twice in {time.perf_counter() - started:.0f} s")
    for sub in ("deployments",):
        (work / sub).mkdir(exist_ok=True)
    (work / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    specs = {"dataset (folder, pushed down)": dataset, "whole file": single}
    out: dict[str, Any] = {"rows": rows, "window": list(MONTH), "ways": {}}
    for name, path in specs.items():
        spec = work / "deployments" / f"{path.stem}.yaml"
        spec.write_text(SPEC.format(path=path))
        runs = []
        for i in range(repeats):
            result = work / f"{path.stem}-{i}.json"
            cmd = [PYTHON, __file__, "--child", str(spec), "--out", str(result)]
            subprocess.run(cmd, env=quiet_env(), cwd=REPO, check=True, capture_output=True)
            runs.append(json.loads(result.read_text()))
        out["ways"][name] = {
            "seconds": median([r["seconds"] for r in runs]),
            "peak_rss_mb": median([r["peak_rss_mb"] for r in runs]),
            "rows": runs[0]["rows"],
            "columns": runs[0]["columns"],
        }
    out["on_disk_mb"] = {
        "dataset": sum(p.stat().st_size for p in dataset.rglob("*.parquet")) / 1e6,
        "whole file": single.stat().st_size / 1e6,
    }
    return out


# --- the section ------------------------------------------------------------------------------------------------


def section(results: dict[str, Any]) -> str:
    """The Markdown section for docs/benchmarks.md."""
    lines = ["## Dask and large Parquet datasets (issue 17)", ""]
    c = results.get("candidates")
    if c:
        base = c["seconds"]["sequential"]
        lines += [
            f"{c['candidates']} HistGradientBoosting candidates (`model.candidates`) on {c['rows']:,} rows of the "
            f"flight data, median of {c['repeats']}; the same scores everywhere: **{c['same_scores']}**.",
            "",
            "| where | wall | vs sequential |",
            "|---|---|---|",
            *[f"| {k} | {v:.2f} s | {base / v:.2f}x |" for k, v in c["seconds"].items()],
            "",
            f"The Dask cluster's first fits also load the libraries in each worker process: "
            f"{c['dask_warmup_seconds']:.1f} s once (a long-lived cluster pays it once).",
            "",
        ]
    p = results.get("parquet")
    if p:
        lines += [
            f"The monitor's read of one month ({p['window'][0]} to {p['window'][1]}) of a {p['rows']:,}-row "
            f"dataset, each in a fresh process (dataset {p['on_disk_mb']['dataset']:.0f} MB on disk in "
            f"year=/month= folders, the whole file {p['on_disk_mb']['whole file']:.0f} MB):",
            "",
            "| source | wall | peak RSS | rows | columns |",
            "|---|---|---|---|---|",
            *[
                f"| {k} | {v['seconds']:.2f} s | {v['peak_rss_mb']:.0f} MB | {v['rows']:,} | {len(v['columns'])} |"
                for k, v in p["ways"].items()
            ],
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="candidates,parquet")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the Parquet dataset")
    parser.add_argument(
        "--fit-rows", type=int, default=50_000, help="rows of the flight data for the candidates"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        read_child(args.child, *MONTH, args.out)
        return
    results: dict[str, Any] = {}
    steps = args.only.split(",")
    if "candidates" in steps:
        log("candidates: sequential, threads, Dask LocalCluster (2 worker processes)")
        with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
            results["candidates"] = candidates(args.fit_rows, args.repeats, Path(tmp))
    if "parquet" in steps:
        with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
            results["parquet"] = parquet(args.rows, args.repeats, Path(tmp))
    print(section(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
