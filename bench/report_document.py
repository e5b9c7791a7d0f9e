"""docs/benchmarks.md: the table, then what each figure rests on (bench/run.py runs the steps)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import commands  # noqa: E402
import dask_parquet  # noqa: E402
import predict as predict_bench  # noqa: E402
import search as search_bench  # noqa: E402
import sql_read  # noqa: E402
from common import SAMPLE_ROWS, median  # noqa: E402
from report_format import (  # noqa: E402
    Config,
    Row,
    by_way,
    gb,
    laps_median,
    med,
    plural,
    ratio_pairs,
    rows_label,
    secs,
)
from report_rows import table  # noqa: E402

OUTSIDE = "(outside the timed steps)"
# (what, our task laps, the bare script's laps): the same work side by side
RETRAIN_STEPS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("read the data", ["task load-data"], ["read"]),
    ("Great Expectations validation", ["task validate-data"], ["validate (GX)"]),
    ("split (ours: + the holdout's hash)", ["task split"], ["split"]),
    ("fit, then score the challenger on the holdout", ["task train"], ["fit", "score challenger"]),
    ("MLflow run: params, metrics, model (ours: + dataset lineage, reference sample, spec, quality report)",
     ["task track-training-run"], ["track (MLflow run, log_model)"]),
    ("load + score the champion", ["task load-champion", "task score-champion"], ["load + score champion"]),
    ("register, decide, aliases (ours: + bootstrap and slice evidence, ledger, tags)",
     ["task gather-evidence", "task decide-promotion", "task register-and-promote"], ["register", "decide + aliases"]),
    ("resume checks (ours only: an identical finished training run? a half-done promotion?)",
     ["task find-finished-training", "task undo-unpublished"], []),
    ("outside the tasks (ours: spec, data hash, tags)", [OUTSIDE], [OUTSIDE]),
)  # fmt: skip
MONITOR_STEPS = (
    ("read the batch", ["task load-batch"], ["read"]),
    ("Great Expectations validation", ["task validate-data"], ["validate (GX)"]),
    ("load the champion and its reference sample", ["task load-champion", "task load-reference"],
     ["load champion + reference"]),
    ("predict on the seeded samples (ours: + batch checks)", ["task check-batch", "task predict"],
     ["sample + predict"]),
    ("Evidently report, HTML and snapshot saved", ["task drift-report"], ["Evidently report", "save HTML + snapshot"]),
    ("MLflow run", ["task track-monitor-run"], ["track (MLflow run)"]),
    ("outside the tasks (ours: the seeded sample drawn, verdict, tags)", [OUTSIDE], [OUTSIDE]),
)  # fmt: skip


def side_by_side(runs: dict[str, list[dict[str, Any]]], steps: tuple[Any, ...]) -> str:
    """Our task functions (.fn()) against the bare script's steps, medians; then Prefect's own share."""
    if not {"fn", "bare", "flow"} <= set(runs):
        return ""
    ours, bare = laps_median(runs["fn"]), laps_median(runs["bare"])
    lines = ["| step | ours (`.fn()`) | bare | difference |", "|---|---:|---:|---:|"]
    used: set[str] = set()
    for what, mine, theirs in steps:
        a, b = sum(ours.get(n, 0.0) for n in mine), sum(bare.get(n, 0.0) for n in theirs)
        used |= set(mine)
        lines.append(f"| {what} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
    rest = [n for n in ours if n not in used]
    if rest:
        a = sum(ours[n] for n in rest)
        lines.append(f"| other tasks ({', '.join(n.removeprefix('task ') for n in rest)}) | {a:.2f} | 0.00 | "
                     f"{a:+.2f} |")  # fmt: skip
    fn, flow, total = med(runs["fn"]), med(runs["flow"]), med(runs["bare"])
    lines.append(f"| **total** | **{fn:.2f}** | **{total:.2f}** | **{fn - total:+.2f}** |")
    lines.append(f"| Prefect's own share: the flow minus `.fn()` (task runs, states, logs through the API) | "
                 f"{flow - fn:+.2f} | | |")  # fmt: skip
    return "\n".join(lines) + "\n"


def phase_text(phases: list[list[Any]], top: int = 4) -> str:
    costly = sorted(((str(n), float(v)) for n, v in phases), key=lambda kv: -kv[1])[:top]
    return "; ".join(f"{name} {value:.2f} s" for name, value in costly) or "n/a"


def what_costs(results: dict[str, Any], cfg: Config) -> str:
    """The explanation of the figures, with this run's numbers."""
    parts = [
        "## What costs the time",
        "",
        "From this run's figures. Since issue 7 the project itself: runs every Prefect task with "
        "`cache_policy=NO_CACHE` (Prefect's default policy hashed every task's inputs, data frames included, for "
        "a cache key nothing used: ~1 s per task per million rows); logs MLflow dataset lineage with its own "
        "content digest and a schema typed from 1,000 rows with vectorised nullability "
        "(`tasks/tracking/lineage.py::dataset`; MLflow's defaults tested every cell in Python, ~27 s for a 1M-row "
        "retrain); predicts each model on the holdout once, for the metrics and the evidence "
        "(`tasks/train.py::evaluate_on`); scores only the monitor's seeded sample (`flows/monitor.py`); caches "
        "the inputs `mlops validate` and the pre-flight of `mlops run` passed (`mlops/cli/checks.py`); uses a Prefect "
        "server already running at `MLOPS_LOCAL_PREFECT` when PREFECT_API_URL is unset (`mlops/settings.py`); "
        "sets `OMP_WAIT_POLICY=PASSIVE`; and reuses a finished training run whose idempotency key (spec, data, "
        "code, library versions) matches instead of fitting again. That last one is not what the retrain rows "
        "measure: each of our timed retrains has a spec with a new description, hence a new key, and fits "
        "(`refit` in 'Every run'). The ~ figures in this section are from earlier profiles on this machine.",
        "",
    ]
    over = results.get("overhead")
    if over:
        for n in (cfg.large, cfg.small):
            runs = by_way(over["runs"], f"retrain {n}")
            if not runs or "fn" not in runs:
                continue
            ratio = ratio_pairs(runs, "flow", "bare")
            parts += [
                f"**Retrain at {rows_label(n)} rows: {ratio:.2f}x the bare script** (aim ≤ 1.15x at 1M rows; "
                f"Prefect's share {ratio_pairs(runs, 'flow', 'fn'):.2f}x). Step by step, medians in seconds:",
                "",
                side_by_side(runs, RETRAIN_STEPS),
            ]
            if n == cfg.large:
                parts += [
                    "The libraries' own work (GX, the fit, scoring) is the same on both sides. What remains ours is "
                    "mostly the MLflow run's extras (dataset lineage still hashes both frames and checks their "
                    "nulls; the reference sample, the spec and the GX report are logged as artifacts), the data "
                    "and holdout hashes that make the idempotency key, the resume checks, the promotion evidence "
                    "(bootstrap interval, slices) and the ledger. The bare script logs no lineage, evidence or "
                    "ledger. At the smaller size the fixed costs weigh more.",
                    "",
                ]
    mon = results.get("monitor")
    if mon:
        runs = by_way(mon["runs"], "monitor")
        if "fn" in runs:
            parts += [
                f"**Monitor, {rows_label(cfg.batch)}-row batch: {ratio_pairs(runs, 'flow', 'bare'):.2f}x the bare "
                f"script** (aim ≤ 1.3x; Prefect's share {ratio_pairs(runs, 'flow', 'fn'):.2f}x). Both validate "
                f"the whole batch with GX and compare seeded samples of {SAMPLE_ROWS:,} rows with Evidently; the "
                "champion now scores only the sampled rows on both sides:",
                "",
                side_by_side(runs, MONITOR_STEPS),
            ]
    s = results.get("scale")
    if s and over:
        runs = by_way(over["runs"], f"retrain {cfg.large}")
        text = []
        if "retrain" in s and "flow" in runs:
            flow = med(runs["flow"])
            text.append(f"`mlops run retrain` on {rows_label(cfg.large)} rows took {secs(s['retrain']['seconds'])}: "
                        f"the in-process flow's {secs(flow)} at the same size plus "
                        f"{s['retrain']['seconds'] - flow:.0f} s around it. With no Prefect server running that is "
                        "the pre-flight checks (cold: a new MLOPS_HOME) and the imports, the temporary server's "
                        "boot and, after the flow, its stop (~2 s), and inside the flow the first imports of GX and "
                        "MLflow and the creation of the SQLite MLflow store, which the in-process figure had "
                        "done in its warm-up")  # fmt: skip
        if "monitor" in s:
            text.append(f"`mlops run monitor` took {secs(s['monitor']['seconds'])}")
        if text:
            parts += ["**Scale (aim 60 s).** " + "; ".join(text) + ". With a local Prefect server running, "
                      "the temporary server's boot and stop are saved (see the first run).", ""]  # fmt: skip
    c = results.get("cli")
    if c:
        m = c["medians"]
        parts += [
            f"**`mlops validate deployments/`: {secs(m.get('validate-warm'))} warm, "
            f"{secs(m.get('validate-cold'))} cold (aim 0.5 s, for the warm call).** A warm call parses the specs, "
            "hashes what each deep check reads (the spec fields it uses, the suite file, the data files' names, "
            "sizes and modification times, the project's code, the checking libraries' versions) and finds each "
            "part in `$MLOPS_HOME/cache/check-parts.json`: no Great Expectations, scikit-learn or data read. A "
            "cold call (a "
            "new MLOPS_HOME, or any of those inputs changed) runs every check; its costliest steps here: "
            f"{phase_text(c.get('validate_phases', []))}. `mlops status` "
            f"({secs(m.get('status'))}) imports MLflow and Prefect (`tasks/tracking/`) and opens the SQLite "
            f"store; `mlops --help` {secs(m.get('help'))}.",
            "",
        ]
    f = results.get("first_run")
    if f:

        def first(mode: str, run0: bool) -> float | None:
            values = [r["to_first_task_seconds"] for r in f["runs"]
                      if r["mode"] == mode and (r["run"] == 0) == run0 and r["to_first_task_seconds"] is not None]  # fmt: skip
            return median(values) if values else None

        temp, local = first("temporary", False), first("local", False)
        saved = (
            f" ({temp - local:.1f} s here: the later runs of each, validate cache warm in both)"
            if temp is not None and local is not None
            else ""
        )
        parts += [
            f"**First run (aim: under 3 s to the first task).** With no Prefect server running, `mlops run` "
            f"starts a temporary one: {secs(first('temporary', True))} to the first task on a first ever run "
            f"(Prefect creates its database, the validate cache is empty), {secs(temp)} on later runs. With a "
            "local `prefect server start` (or `mlops serve`) running, `mlops run` finds it at `MLOPS_LOCAL_PREFECT` "
            f"(default http://127.0.0.1:4200/api) and skips the temporary server's boot{saved}: "
            f"{secs(first('local', True))} with the validate cache cold (the pre-flight imports Great Expectations "
            f"and scikit-learn and reads the data's head), {secs(local)} when the pre-flight's checks hit the "
            "cache. What remains is importing Prefect, pandas and our tasks, and creating the flow run.",
            "",
        ]
    parts += [
        "**OpenMP.** With libgomp's default (spinning) wait policy, HistGradientBoosting's fit of 100k rows took "
        "50-64 s instead of 4 s while other jobs ran on this 2-core machine (load ~4); with "
        "`OMP_WAIT_POLICY=PASSIVE` 4.0 s, with one thread 2.6 s; on the idle machine both policies take 2.1 s. "
        "`mlops` sets `OMP_WAIT_POLICY=PASSIVE` unless it is set (mlops/cli/runtime.py), and the deployments' job "
        "variables do too (prefect.yaml).",
        "",
    ]
    return "\n".join(parts)


# --- the details ----------------------------------------------------------------------------------------------


def breakdown(runs: dict[str, list[dict[str, Any]]], title: str) -> str:
    lines = [f"#### {title}", "", "| step | seconds (median) |", "|---|---:|"]
    for way in ("bare", "fn"):
        if way not in runs:
            continue
        laps = laps_median(runs[way])
        lines.append(f"| **{'bare script' if way == 'bare' else 'ours, tasks via .fn()'}: total** | "
                     f"**{med(runs[way]):.2f}** |")  # fmt: skip
        lines += [f"| {name} | {value:.2f} |" for name, value in laps.items()]
    if "flow" in runs:
        lines.append(f"| **ours, flow: total** | **{med(runs['flow']):.2f}** |")
    return "\n".join(lines) + "\n"


def outcomes(res: dict[str, Any]) -> str:
    lines = ["| run | way | repeat | seconds | peak RSS | outcome |", "|---|---|---:|---:|---:|---|"]
    for r in res.get("warmup", []):
        lines.append(f"| {r['label']} (warm-up) | {r['way']} | - | {r['seconds']:.2f} | {r['peak_mb']:.0f} MB | "
                     f"`{json.dumps(r['outcome'], default=str)[:140]}` |")  # fmt: skip
    for r in res.get("runs", []):
        lines.append(f"| {r['label']} | {r['way']} | {r['repeat'] + 1} | {r['seconds']:.2f} | {r['peak_mb']:.0f} MB | "
                     f"`{json.dumps(r['outcome'], default=str)[:140]}` |")  # fmt: skip
    return "\n".join(lines) + "\n"


def versions() -> str:
    from importlib.metadata import version

    names = ["prefect", "mlflow", "great-expectations", "evidently", "scikit-learn", "pandas", "pyarrow"]
    return ", ".join(f"{n} {version(n)}" for n in names)


def document(results: dict[str, Any], rows: list[Row], cfg: Config, flags: str, meta: dict[str, Any]) -> str:
    parts = [
        "# Benchmarks",
        "",
        f"Written by `python bench/run.py{flags}` (`make bench` runs it without options) on {meta['date']}. "
        "Ratios are against the bare libraries doing the same work on the same data, measured side by side in "
        "the same run (per-repeat ratios, median). Nothing here is a test: a missed aim is reported, not failed. "
        "The scripts and what exactly each baseline does are in `bench/` (start with `bench/run.py`).",
        "",
        f"Machine: {meta['machine']}. Load average (1/5/15 min) at the start {meta['load_start']}, at the end "
        f"{meta['load_end']}: other work on the machine slows both sides alike but adds noise. "
        f"Whole run: {meta['seconds'] / 60:.1f} min (budget {meta['budget'] / 60:.1f} min).",
        "",
        f"Versions: {meta['versions']}.",
        "",
        (
            "OpenMP: the bench's own processes (the bare scripts, our flows run in-process) kept libgomp's "
            "default wait policy (`--omp-default`); `mlops` commands set `OMP_WAIT_POLICY=PASSIVE` themselves."
            if os.environ.get("BENCH_OMP_DEFAULT") == "1"
            else "OpenMP: every process of this run (ours and bare alike) had `OMP_WAIT_POLICY=PASSIVE`, which "
            "`mlops` also sets itself: with libgomp's default spinning policy, HistGradientBoosting's fit "
            "becomes 10-20x slower as soon as anything else wants a core on this 2-core machine (see below), "
            "which would measure the machine's other load, not our code. `python bench/run.py --omp-default` "
            "keeps the default in the bench's own processes."
        ),
        "",
        f"Data: synthetic and seeded (`bench/common.py`): 25 columns (18 float, 2 count, 4 string categorical "
        f"features, a binary label from a logistic model of them, 1% missing in two columns); the retrain at "
        f"{rows_label(cfg.small)} ({plural(cfg.repeats_small, 'repeat')}) and {rows_label(cfg.large)} rows "
        f"({plural(cfg.repeats_large, 'repeat')}; a repeat after the first is skipped when it would overrun the time "
        f"budget, see 'Every run') after an untimed warm-up on 10k rows (stores created, a champion registered, "
        f"imports done); the monitor batch has {rows_label(cfg.batch)} rows "
        f"with three shifted columns ({plural(cfg.repeats_monitor, 'repeat')}), compared on seeded samples of "
        f"{SAMPLE_ROWS:,} rows per side. Model: HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, "
        "early_stopping=False) behind median / constant imputation and an ordinal encoder; a GX suite of 32 "
        "expectations; stratified 80/20 split. Every one of our timed retrains fits: its spec has a new "
        "description, hence a new idempotency key (an identical retrain reuses the finished run's model instead).",
        "",
        "No `mlops` command of this run used a Prefect server already running on the machine: each had "
        "`MLOPS_LOCAL_PREFECT` set, to `off` or, for the first-run rows, to a server the benchmark started or a "
        "port where nothing listens.",
        "",
        "## Results",
        "",
        table(rows),
    ]
    errors = meta.get("errors") or {}
    if errors:
        parts += ["**Some benchmarks failed or measured the wrong thing in this run:**", ""]
        parts += [
            f"- {k}: `{v.strip().splitlines()[-1][:300] if v.strip() else ''}`" for k, v in errors.items()
        ]
        parts.append("")
    if "commands" in results:  # bench/commands.py: whole commands, fresh processes, vs bare fresh processes
        parts.append(commands.section(results["commands"]))
    if "dask_parquet" in results:  # bench/dask_parquet.py: Dask candidates, a month of a Parquet dataset
        parts.append(dask_parquet.section(results["dask_parquet"]))
    if "search" in results:  # bench/search.py: model.search vs bare Optuna doing the same trials
        parts.append(search_bench.section(results["search"]))
    if "predict" in results:  # bench/predict.py: `mlops run predict` on a large batch vs bare scoring loops
        parts.append(predict_bench.section(results["predict"]))
    if "sql_read" in results:  # bench/sql_read.py: reads from PostgreSQL (or why they were skipped)
        parts.append(sql_read.section(results["sql_read"]))
    parts += [what_costs(results, cfg), "## Details", ""]
    over = results.get("overhead")
    if over:
        parts += [
            "### 1. Retrain: where the time goes",
            "",
            f"One process, the three ways interleaved (order rotated each repeat). The flow runs under one "
            f"`prefect_test_harness` (a real temporary Prefect API server in a subprocess, started once in "
            f"{over['harness_startup_seconds']:.1f} s before anything is timed), with the heartbeat thread off as "
            "`mlops run` does in embedded mode. Each way has its own SQLite MLflow store with a champion from the "
            "warm-up, so every timed run scores champion and challenger on the same holdout. `.fn()`: the flow "
            "body with each Prefect task called as its plain function (the `publish-*` tasks, which only create "
            "Prefect artifacts, are skipped); the `task ...` rows are those functions, timed. In 'Every run', "
            "`refit` false would mean a run reused an earlier training run instead of fitting.",
            "",
        ]
        for n in (cfg.small, cfg.large):
            runs = by_way(over["runs"], f"retrain {n}")
            if runs:
                parts += [breakdown(runs, f"Retrain, {rows_label(n)} rows"), ""]
        parts += ["#### Every run", "", outcomes(over), ""]
    mon = results.get("monitor")
    if mon:
        parts += ["### 5. Monitor: where the time goes", "",
                  "Same method, on a copy of the registry left by the scale benchmark's retrain (its champion).", "",
                  breakdown(by_way(mon["runs"], "monitor"), f"Monitor, {rows_label(cfg.batch)}-row batch"), "",
                  "#### Every run", "", outcomes(mon), ""]  # fmt: skip
    c = results.get("cli")
    if c:
        parts += ["### 2. CLI", "", "Every call, seconds: " + "; ".join(
            f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in c["times"].items()) + ". "
            "validate-cold: each call in a new, empty MLOPS_HOME; validate-warm: each call in one MLOPS_HOME whose "
            "validate cache an untimed call filled (the cache file, rewritten only on a miss, "
            f"{'was not rewritten: every call hit it' if c.get('validate_warm_hit') else 'was rewritten: a call missed'}).",
            "",
            "A cold `mlops validate deployments/` step by step (`bench/validate_phases.py`, a fresh interpreter, "
            "an empty MLOPS_HOME, the same calls as `mlops.cli.checks`):", "", "| step | seconds |", "|---|---:|"]  # fmt: skip
        parts += [f"| {name} | {value:.2f} |" for name, value in c["validate_phases"]]
        cold, warm = dict(c.get("validate_imports", [])), dict(c.get("validate_imports_warm", []))
        parts += ["", "Its imports by top-level package (`python -X importtime -m mlops.cli validate deployments/`, "
                  "cumulative, the first importer pays), cold and warm:", "",
                  "| package | cold, seconds | warm, seconds |", "|---|---:|---:|"]  # fmt: skip
        for name in sorted(set(cold) | set(warm), key=lambda k: -max(cold.get(k, 0.0), warm.get(k, 0.0))):
            parts.append(f"| {name} | {cold[name]:.2f} | " if name in cold else f"| {name} | - | ")
            parts[-1] += f"{warm[name]:.2f} |" if name in warm else "- |"
        parts.append("")
    f = results.get("first_run")
    if f:
        parts += ["### 3. First run", "",
                  "`mlops run retrain deployments/diabetes.yaml` (442 rows: start-up, not work), no PREFECT_API_URL. "
                  "Times from the fork; flow and first task start read from the Prefect database. `temporary`: "
                  "MLOPS_LOCAL_PREFECT at a port where nothing listens, so a temporary server; run 1 with a new "
                  "PREFECT_HOME and MLOPS_HOME, the next ones reusing both. `local`: a `prefect server start` the "
                  f"benchmark started (it took {f.get('server_start_seconds', 0):.1f} s to answer /api/health on a "
                  "new database, not counted) at the address MLOPS_LOCAL_PREFECT gives; run 1 with a new "
                  "MLOPS_HOME, run 2 reusing it. 'validate cache': the pre-flight's (cold: no cache yet; hit: "
                  "the cache file was not rewritten). 'fit': a later run in the same MLOPS_HOME reuses the first "
                  "run's finished training (same spec and data), which shortens the whole command, not the time "
                  "to the first task.", "",
                  "| mode | run | validate cache | fit | to flow start | to first task | whole command | peak RSS |",
                  "|---|---:|---|---|---:|---:|---:|---:|"]  # fmt: skip
        parts += [f"| {r['mode']} | {r['run'] + 1} | {r['validate_cache']} | {'fitted' if r['refit'] else 'reused'} | "
                  f"{secs(r['to_flow_seconds'])} | {secs(r['to_first_task_seconds'])} | {secs(r['total_seconds'])} | "
                  f"{gb(r['peak_rss_mb'])} |" for r in f["runs"]]  # fmt: skip
        parts.append("")
    s = results.get("scale")
    if s:
        parts += ["### 4. Scale", "", "`mlops run retrain` then `mlops run monitor --batch` on the large project, "
                  "each a child process on embedded defaults with no Prefect server running (a temporary server; "
                  "a new SQLite MLflow store, so the retrain fits), peak RSS from wait4 (the process, or a child it "
                  "waited for, whichever was larger).", ""]  # fmt: skip
        for name in ("retrain", "monitor"):
            if name in s:
                parts.append(f"- {name}: {secs(s[name]['seconds'])}, peak {gb(s[name]['peak_rss_mb'])}, "
                             f"exit code {s[name]['returncode']}")  # fmt: skip
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
