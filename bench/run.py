"""`make bench`: every benchmark of issues 7 and 3, one Markdown table of medians and ratios against the bare
libraries, printed and written to docs/benchmarks.md (with the details it rests on).

    python bench/run.py            # the full run: 100k and 1M rows (under 10 minutes on 2 cores, see --budget)
    python bench/run.py --quick    # 10k and 100k rows, one repeat each (a few minutes)

Everything runs in a temporary folder (its own MLOPS_HOME and PREFECT_HOME per benchmark), removed at the end
unless --keep; nothing is downloaded; the project's .mlops and ~/.prefect are never touched, and no Prefect
server already running on this machine is used (MLOPS_LOCAL_PREFECT is set for every command). Benchmarks are
not tests: nothing here fails on a slow figure, the table says which aims are met and by how much others are
missed.

Order: first run, CLI, scale, then the in-process overhead benchmark (retrain at both sizes, monitor). The last
one gets what is left of the time budget: a repeat after the first of a group is skipped when the group's
previous repeat says it would end after the budget (see 'Every run' in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import commands  # noqa: E402
import first_run  # noqa: E402
import scale  # noqa: E402
from common import BENCH, PYTHON, REPO, log, make_project, quiet_env  # noqa: E402
from report_document import document, versions  # noqa: E402
from report_format import BUDGET, FULL, QUICK, QUICK_BUDGET, Row  # noqa: E402
from report_rows import (  # noqa: E402
    candidate_rows,
    cli_rows,
    first_rows,
    monitor_rows,
    not_refitted,
    retrain_rows,
    scale_rows,
    table,
)


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --- steps ----------------------------------------------------------------------------------------------------


def worker(args: list[str], log_path: Path) -> dict[str, Any]:
    """A bench script in its own process (output to a log file); returns the JSON it wrote."""
    out = log_path.with_suffix(".json")
    with log_path.open("wb") as fh:
        rc = subprocess.call(
            [PYTHON, *args, "--out", str(out)], env=quiet_env(), cwd=REPO, stdout=fh, stderr=fh
        )
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{args[0]} exited with {rc}; the end of {log_path}:\n{tail}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10k/100k rows, one repeat: a few minutes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, stores)")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--budget",
        type=float,
        help=f"seconds for the whole run (default {BUDGET}, --quick {QUICK_BUDGET}): further repeats of the "
        "overhead benchmark are skipped when they would end later",
    )
    parser.add_argument(
        "--omp-default",
        action="store_true",
        help="keep libgomp's default (spinning) wait policy in the bench's own processes, not PASSIVE",
    )
    parser.add_argument(
        "--only",
        default="first_run,cli,commands,scale,overhead,monitor,candidates,search,dask_parquet,predict,sql_read",
        help="comma-separated steps",
    )
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    steps = set(args.only.split(","))
    started = time.perf_counter()
    budget = args.budget or (QUICK_BUDGET if args.quick else BUDGET)
    deadline = time.time() + budget - 15  # the end: the document written, the temporary folder removed
    if args.omp_default:
        os.environ["BENCH_OMP_DEFAULT"] = "1"
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, Python {platform.python_version()}",
        "load_start": loadavg(),
        "versions": versions(),
        "budget": budget,
        "errors": {},
    }
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    log(f"working in {work}; load average {meta['load_start']}; budget {budget:.0f} s")
    results: dict[str, Any] = {}
    try:
        warm, small, large = work / "project-warmup", work / "project-small", work / "project-large"
        log(f"data: {cfg.small:,} and {cfg.large:,} rows x 25 columns, a {cfg.batch:,}-row batch")
        make_project(warm, 10_000, seed=3)
        make_project(small, cfg.small)
        large_project = make_project(large, cfg.large, batch_rows=cfg.batch)

        def step(name: str, fn: Any) -> None:
            if name not in steps:
                return
            t0 = time.perf_counter()
            try:
                results[name] = fn()
            except Exception:  # noqa: BLE001 - a failed bench is recorded with its traceback and fails the run at the end
                meta["errors"][name] = traceback.format_exc()
                log(f"{name} FAILED:\n{meta['errors'][name]}")
            log(
                f"{name}: {time.perf_counter() - t0:.0f} s; {time.perf_counter() - started:.0f} s since the start"
            )

        step("first_run", lambda: first_run.measure(work / "first", cfg.first_runs))
        home = results.get("first_run", {}).get("mlops_home")
        step("cli", lambda: cli.measure(work / "cli", cfg.cli_repeats, home))
        step("commands", lambda: commands.measure(
            work / "commands", min(3, cfg.cli_repeats), 20_000 if args.quick else 300_000, 1 if args.quick else 2))  # fmt: skip
        step("scale", lambda: scale.measure(large_project, work / "scale"))
        # before the overhead step, whose further repeats take whatever time is left
        if "candidates" in steps and time.time() + 60 < deadline:
            step("candidates", lambda: worker(
                [str(BENCH / "candidates.py"), "--rows", str(min(cfg.small, 50_000)), "--candidates", "4",
                 "--repeats", "1"], work / "candidates.log"))  # fmt: skip
        elif "candidates" in steps:
            log("candidates: skipped, it would end after the time budget (run bench/candidates.py alone)")
        if "search" in steps and time.time() + 600 < deadline:
            step("search", lambda: worker(
                [str(BENCH / "search.py"), "--rows", str(20_000 if args.quick else 100_000), "--trials",
                 str(8 if args.quick else 20)], work / "search.log"))  # fmt: skip
        elif "search" in steps:
            log("search: skipped, it would end after the time budget (run bench/search.py alone)")
        if "dask_parquet" in steps and time.time() + 240 < deadline:
            step("dask_parquet", lambda: worker(
                [str(BENCH / "dask_parquet.py"), "--rows", str(1_000_000 if args.quick else 10_000_000),
                 "--repeats", "1"], work / "dask_parquet.log"))  # fmt: skip
        elif "dask_parquet" in steps:
            log("dask_parquet: skipped, it would end after the time budget (run bench/dask_parquet.py alone)")
        if "predict" in steps and time.time() + 300 < deadline:
            step("predict", lambda: worker(
                [str(BENCH / "predict.py"), "--rows", str(100_000 if args.quick else 1_000_000),
                 "--chunk-rows", str(10_000 if args.quick else 100_000)], work / "predict.log"))  # fmt: skip
        elif "predict" in steps:
            log("predict: skipped, it would end after the time budget (run bench/predict.py alone)")
        if "sql_read" in steps and time.time() + 240 < deadline:  # starts its own PostgreSQL, or says skipped
            step("sql_read", lambda: worker(
                [str(BENCH / "sql_read.py"), "1" if args.quick else "3"], work / "sql_read.log"))  # fmt: skip
            if "skipped" in results.get("sql_read", {}):
                log(f"sql_read: skipped: {results['sql_read']['skipped']}")
        elif "sql_read" in steps:
            log("sql_read: skipped, it would end after the time budget (run bench/sql_read.py alone)")
        monitor = (
            [
                "--monitor",
                str(large),
                "--home",
                results["scale"]["mlops_home"],
                "--monitor-repeats",
                str(cfg.repeats_monitor),
            ]
            if "scale" in results and "monitor" in steps
            else []
        )
        step(
            "overhead",
            lambda: worker(
                [
                    str(BENCH / "overhead.py"),
                    "--warmup",
                    str(warm),
                    "--project",
                    f"{small}:{cfg.small}",
                    "--project",
                    f"{large}:{cfg.large}",
                    "--work",
                    str(work / "overhead"),
                    "--repeats",
                    f"{cfg.repeats_small},{cfg.repeats_large}",
                    "--deadline",
                    str(deadline),
                    *monitor,
                ],
                work / "overhead.log",
            ),
        )
        if "overhead" in results:
            missed = not_refitted(results["overhead"])
            if missed:
                meta["errors"]["overhead"] = (
                    "these retrains reused a finished training run instead of fitting (their times leave the "
                    f"fit out): {', '.join(missed)}"
                )
                log(meta["errors"]["overhead"])
        if monitor and "overhead" in results:
            results["monitor"] = {
                "runs": [r for r in results["overhead"]["runs"] if r["label"] == "monitor"],
                "warmup": [r for r in results["overhead"]["warmup"] if r["label"] == "monitor"],
            }
            for key in ("runs", "warmup"):
                results["overhead"][key] = [r for r in results["overhead"][key] if r["label"] != "monitor"]
        rows: list[Row] = []
        if "overhead" in results:
            rows += retrain_rows(results["overhead"], cfg)
        if "cli" in results:
            rows += cli_rows(results["cli"])
        if "first_run" in results:
            rows += first_rows(results["first_run"])
        if "scale" in results:
            rows += scale_rows(results["scale"], cfg)
        if "monitor" in results:
            rows += monitor_rows(results["monitor"], cfg)
        if "candidates" in results:
            rows += candidate_rows(results["candidates"])
        meta["load_end"] = loadavg()
        meta["seconds"] = time.perf_counter() - started
        (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
        flags = "".join(f" --{k}" for k in ("quick", "omp_default") if getattr(args, k)).replace("_", "-")
        text = document(results, rows, cfg, flags, meta)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(table(rows))
        log(f"written {out} in {meta['seconds'] / 60:.1f} min (budget {budget / 60:.1f} min)")
        if meta["errors"]:  # the document names them too; a failed step never passes as a short table
            raise SystemExit(f"bench: {len(meta['errors'])} step(s) failed: {', '.join(meta['errors'])}")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
