"""`make bench`: every benchmark of issues 7 and 3, one Markdown table of medians and ratios against the bare
libraries, printed and written to docs/benchmarks.md (with the details it rests on).

    python bench/run.py            # the full run: 100k and 1M rows (about 10 minutes on 2 cores)
    python bench/run.py --quick    # 10k and 100k rows, one repeat each (about 4 minutes)

Everything runs in a temporary folder (its own MLOPS_HOME and PREFECT_HOME per benchmark), removed at the end
unless --keep; nothing is downloaded; the project's .mlops and ~/.prefect are never touched. Benchmarks are not
tests: nothing here fails on a slow figure, the table says which aims are met and by how much others are missed.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import first_run  # noqa: E402
import scale  # noqa: E402
from common import BENCH, PYTHON, REPO, SAMPLE_ROWS, log, make_project, median, quiet_env  # noqa: E402


@dataclass(frozen=True)
class Config:
    small: int
    large: int
    batch: int
    repeats_small: int
    repeats_large: int
    repeats_monitor: int
    cli_repeats: int
    first_runs: int


FULL = Config(100_000, 1_000_000, 1_000_000, 3, 2, 2, 5, 2)
QUICK = Config(10_000, 100_000, 100_000, 1, 1, 1, 3, 1)


def rows_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def secs(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def gb(mb: float | None) -> str:
    return "n/a" if mb is None else f"{mb / 1024:.2f} GB"


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


def by_way(runs: list[dict[str, Any]], label: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r["label"] == label:
            out.setdefault(r["way"], []).append(r)
    return out


def med(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return median([r[key] for r in runs])


def ratio_pairs(runs: dict[str, list[dict[str, Any]]], a: str, b: str) -> float:
    """Median of the per-repeat ratios a/b (each pair measured side by side), a steadier figure than a ratio
    of medians when the machine's load changes during the run."""
    pairs = {r["repeat"]: r["seconds"] for r in runs.get(b, [])}
    ratios = [r["seconds"] / pairs[r["repeat"]] for r in runs.get(a, []) if r["repeat"] in pairs]
    return median(ratios)


def laps_median(runs: list[dict[str, Any]]) -> dict[str, float]:
    names: list[str] = []
    for r in runs:
        names += [n for n in r["laps"] if n not in names]
    out = {n: median([r["laps"].get(n, 0.0) for r in runs]) for n in names}
    out["(outside the timed steps)"] = median([r["seconds"] - sum(r["laps"].values()) for r in runs])
    return out


# --- the table ------------------------------------------------------------------------------------------------

Row = tuple[str, str, str, str, str, str]


def verdict_ratio(ratio: float, aim: float) -> str:
    if ratio != ratio:
        return "n/a"
    return "yes" if ratio <= aim else f"**no**: {ratio:.2f}x, {(ratio / aim - 1) * 100:.0f}% over"


def verdict_max(value: float | None, aim: float, unit: str) -> str:
    if value is None or value != value:
        return "n/a"
    if value < aim:
        return "yes"
    return f"**no**: {value - aim:+.1f} {unit} over ({value / aim:.1f}x the aim)"


def retrain_rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    rows: list[Row] = []
    for n in (cfg.small, cfg.large):
        label = f"retrain {n}"
        runs = by_way(res["runs"], label)
        if not runs:
            continue
        size = rows_label(n)
        is_large = n == cfg.large
        flow, fn, bare = med(runs["flow"]), med(runs["fn"]), med(runs["bare"])
        aim = "≤ 1.15x" if is_large else "(1.15x at 1M)"
        r_flow, r_fn, r_orch = (
            ratio_pairs(runs, "flow", "bare"),
            ratio_pairs(runs, "fn", "bare"),
            ratio_pairs(runs, "flow", "fn"),
        )
        rows.append(
            (
                f"1. Retrain pipeline, {size} rows x 25 cols: **flow** (Prefect test harness) vs bare script "
                f"(median of {len(runs['flow'])})",
                secs(flow),
                secs(bare),
                f"{r_flow:.2f}x",
                aim,
                verdict_ratio(r_flow, 1.15) if is_large else "(info)",
            )
        )
        rows.append(
            (
                f"1. Retrain, {size}: our task functions via `.fn()`, no Prefect, vs bare",
                secs(fn),
                secs(bare),
                f"{r_fn:.2f}x",
                "(info)",
                "(info)",
            )
        )
        rows.append((f"1. Retrain, {size}: orchestration alone (flow vs `.fn()`)",
                     secs(flow), secs(fn), f"{r_orch:.2f}x", "(info)", "(info)"))  # fmt: skip
        if "flow+fixes" in runs:
            r_fix = ratio_pairs(runs, "flow+fixes", "bare")
            rows.append((f"1. Retrain, {size}: flow **with the proposed fixes** (applied from outside) vs bare",
                         secs(med(runs["flow+fixes"])), secs(bare), f"{r_fix:.2f}x", aim,
                         verdict_ratio(r_fix, 1.15) if is_large else "(info)"))  # fmt: skip
    return rows


def cli_rows(res: dict[str, Any]) -> list[Row]:
    m = res["medians"]
    base = m["python"]
    rows: list[Row] = []
    for name, what, aim in (
        ("help", "`mlops --help`", 0.5),
        ("validate", "`mlops validate deployments/`", 0.5),
        ("status", "`mlops status deployments/flight_delays.yaml` (no versions yet)", None),
        ("status-champion", "`mlops status deployments/diabetes.yaml` (a champion, 1 version)", None),
    ):
        value = m.get(name)
        if value is None:
            continue
        rows.append((f"2. CLI {what}, wall (subprocess, median of {len(res['times'][name])})", secs(value),
                     f"{secs(base)} (`python -c pass`)", f"{value / base:.0f}x" if value else "n/a",
                     f"< {aim} s" if aim else "(info)",
                     verdict_max(value, aim, "s") if aim else "(info)"))  # fmt: skip
    return rows


def first_rows(res: dict[str, Any]) -> list[Row]:
    runs = res["runs"]

    def pick(mode: str, first: bool | None) -> list[float]:
        sel = [r for r in runs if r["mode"] == mode and (first is None or (r["run"] == 0) == first)]
        return [r["to_first_task_seconds"] for r in sel if r["to_first_task_seconds"] is not None]

    rows: list[Row] = []
    for mode, first, what in (
        ("temporary", True, "no PREFECT_API_URL, temporary server (today's default), first run ever"),
        ("temporary", False, "no PREFECT_API_URL, temporary server (today's default), later runs"),
        ("server", None, "PREFECT_API_URL set, a local `prefect server start` running"),
        (
            "prestart",
            None,
            "prototype: temporary server's process started first, in parallel with the checks",
        ),
        ("prestart+light", None, "prototype: the same + a pre-flight without GX / scikit-learn imports"),
        ("server+light", None, "prototype: a running local server + the lighter pre-flight"),
    ):
        values = pick(mode, first)
        if not values:
            continue
        value = median(values)
        rows.append((f"3. First run, command -> first task: {what}", secs(value), "—", "—", "< 3 s",
                     verdict_max(value, 3.0, "s")))  # fmt: skip
    return rows


def scale_rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    rows: list[Row] = []
    size = rows_label(cfg.large)
    for name, what in (("retrain", "retrain"), ("monitor", f"monitor ({rows_label(cfg.batch)}-row batch)")):
        r = res.get(name)
        if not r:
            continue
        rows.append(
            (
                f"4. Scale: `mlops run {what}`, {size} rows, wall (whole command, embedded defaults)",
                secs(r["seconds"]),
                "—",
                "—",
                "< 60 s",
                verdict_max(r["seconds"], 60, "s"),
            )
        )
        rows.append((f"4. Scale: `mlops run {what}`, {size} rows, peak memory (RSS)", gb(r["peak_rss_mb"]),
                     "—", "—", "< 3 GB", verdict_max(r["peak_rss_mb"] / 1024, 3, "GB")))  # fmt: skip
    return rows


def monitor_rows(res: dict[str, Any], cfg: Config) -> list[Row]:
    runs = by_way(res["runs"], "monitor")
    if not runs:
        return []
    size = rows_label(cfg.batch)
    bare = med(runs["bare"])
    r_flow = ratio_pairs(runs, "flow", "bare")
    pf, pb = med(runs["flow"], "peak_mb"), med(runs["bare"], "peak_mb")
    rows: list[Row] = [
        (f"5. Monitor, {size}-row batch: **flow** (Prefect test harness) vs bare GX + Evidently "
         f"(median of {len(runs['flow'])})",
         secs(med(runs["flow"])), secs(bare), f"{r_flow:.2f}x", "≤ 1.3x", verdict_ratio(r_flow, 1.3)),
    ]  # fmt: skip
    if "fn" in runs:
        rows.append((f"5. Monitor, {size}: our task functions via `.fn()` vs bare", secs(med(runs["fn"])),
                     secs(bare), f"{ratio_pairs(runs, 'fn', 'bare'):.2f}x", "(info)", "(info)"))  # fmt: skip
    if "flow+fixes" in runs:
        r_fix = ratio_pairs(runs, "flow+fixes", "bare")
        rows.append((f"5. Monitor, {size}: flow **with the proposed fixes** (applied from outside) vs bare",
                     secs(med(runs["flow+fixes"])), secs(bare), f"{r_fix:.2f}x", "≤ 1.3x",
                     verdict_ratio(r_fix, 1.3)))  # fmt: skip
    rows.append((f"5. Monitor, {size}: peak memory of the run (process high-water mark, libraries included)",
                 gb(pf), gb(pb), f"{pf / pb:.2f}x", "< 3 GB", verdict_max(pf / 1024, 3, "GB")))  # fmt: skip
    return rows


def table(rows: list[Row]) -> str:
    head = "| what | ours | bare | ratio | aim | met? |\n|---|---:|---:|---:|---|---|\n"
    return head + "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"


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
    if "flow+fixes" in runs:
        lines.append(f"| **ours, flow with the proposed fixes: total** | **{med(runs['flow+fixes']):.2f}** |")
    return "\n".join(lines) + "\n"


def outcomes(res: dict[str, Any]) -> str:
    lines = ["| run | way | repeat | seconds | peak RSS | outcome |", "|---|---|---:|---:|---:|---|"]
    for r in res.get("warmup", []):
        lines.append(f"| {r['label']} (warm-up) | {r['way']} | - | {r['seconds']:.2f} | {r['peak_mb']:.0f} MB | "
                     f"`{json.dumps(r['outcome'], default=str)[:120]}` |")  # fmt: skip
    for r in res.get("runs", []):
        lines.append(f"| {r['label']} | {r['way']} | {r['repeat'] + 1} | {r['seconds']:.2f} | {r['peak_mb']:.0f} MB | "
                     f"`{json.dumps(r['outcome'], default=str)[:120]}` |")  # fmt: skip
    return "\n".join(lines) + "\n"


def versions() -> str:
    from importlib.metadata import version

    names = ["prefect", "mlflow", "great-expectations", "evidently", "scikit-learn", "pandas", "pyarrow"]
    return ", ".join(f"{n} {version(n)}" for n in names)


def document(results: dict[str, Any], rows: list[Row], cfg: Config, flags: str, meta: dict[str, Any]) -> str:
    fixes = "--fixes" in flags
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
        f"Whole run: {meta['seconds'] / 60:.1f} min.",
        "",
        f"Versions: {meta['versions']}.",
        "",
        (
            "OpenMP: every process of this run kept libgomp's default wait policy (`--omp-default`)."
            if os.environ.get("BENCH_OMP_DEFAULT") == "1"
            else "OpenMP: every process of this run (ours and bare alike) had `OMP_WAIT_POLICY=PASSIVE`: with "
            "libgomp's default spinning policy, HistGradientBoosting's fit becomes 10-20x slower as soon as "
            "anything else wants a core on this 2-core machine (see below), which would measure the machine's "
            "other load, not our code. `python bench/run.py --omp-default` keeps the default."
        ),
        "",
        f"Data: synthetic and seeded (`bench/common.py`): 25 columns (18 float, 2 count, 4 string categorical "
        f"features, a binary label from a logistic model of them, 1% missing in two columns); the retrain at "
        f"{rows_label(cfg.small)} ({cfg.repeats_small} repeats) and {rows_label(cfg.large)} rows "
        f"({cfg.repeats_large} repeats; a repeat after the first is skipped when it would overrun the time "
        f"budget, see 'Every run') after an untimed warm-up on 10k rows (stores created, a champion registered, "
        f"imports done); the monitor batch has {rows_label(cfg.batch)} rows "
        f"with three shifted columns ({cfg.repeats_monitor} repeats), compared on seeded samples of "
        f"{SAMPLE_ROWS:,} rows per side. Model: HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, "
        "early_stopping=False) behind median / constant imputation and an ordinal encoder; a GX suite of 32 "
        "expectations; stratified 80/20 split.",
        "",
        *(
            [
                "Rows marked **with the proposed fixes** run our unchanged flow with the project changes proposed "
                "below applied from the outside for that run only (`proposed_fixes` in `bench/overhead.py`): "
                "`cache_policy=NO_CACHE` on every task; MLflow dataset lineage with our own digest and a "
                "vectorised schema; each model's holdout predictions computed once; the monitor scoring only "
                "the sampled rows. They are measurements of proposals, not of the project's code.",
                "",
            ]
            if fixes
            else []
        ),
        "## Results",
        "",
        table(rows),
    ]
    errors = meta.get("errors") or {}
    if errors:
        parts += ["**Some benchmarks failed in this run:**", ""]
        parts += [f"- {k}: `{v.splitlines()[-1][:300] if v else ''}`" for k, v in errors.items()]
        parts.append("")
    analysis = BENCH / "analysis.md"
    if analysis.is_file():
        parts += [analysis.read_text().rstrip(), ""]
    parts += ["## Details", ""]
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
            "Prefect artifacts, are skipped); the `task ...` rows are those functions, timed.",
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
            f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in c["times"].items()) + ".", "",
            "`mlops validate deployments/` step by step (`bench/validate_phases.py`, a fresh interpreter, the "
            "same calls as `mlops.checks`):", "", "| step | seconds |", "|---|---:|"]  # fmt: skip
        parts += [f"| {name} | {value:.2f} |" for name, value in c["validate_phases"]]
        parts += ["", "Its imports by top-level package (`python -X importtime -m mlops.cli validate deployments/`, "
                  "cumulative, the first importer pays):", "", "| package | seconds |", "|---|---:|"]  # fmt: skip
        parts += [f"| {name} | {value:.2f} |" for name, value in c["validate_imports"]]
        parts.append("")
    f = results.get("first_run")
    if f:
        parts += ["### 3. First run", "",
                  f"`mlops run retrain deployments/diabetes.yaml` (442 rows: start-up, not work). Times from the "
                  f"fork, flow and first task start read from the Prefect database. The local server took "
                  f"{f.get('server_start_seconds', 0):.1f} s to answer /api/health on a new database (not counted).",
                  "", "| mode | run | to flow start | to first task | whole command | peak RSS |",
                  "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        parts += [f"| {r['mode']} | {r['run'] + 1} | {secs(r['to_flow_seconds'])} | {secs(r['to_first_task_seconds'])} | "
                  f"{secs(r['total_seconds'])} | {gb(r['peak_rss_mb'])} |" for r in f["runs"]]  # fmt: skip
        parts.append("")
    s = results.get("scale")
    if s:
        parts += ["### 4. Scale", "", "`mlops run retrain` then `mlops run monitor --batch` on the large project, "
                  "each a child process on embedded defaults (temporary Prefect server, new SQLite MLflow store), "
                  "peak RSS from wait4 (the process, or a child it waited for, whichever was larger).", ""]  # fmt: skip
        for name in ("retrain", "monitor"):
            if name in s:
                parts.append(f"- {name}: {secs(s[name]['seconds'])}, peak {gb(s[name]['peak_rss_mb'])}, "
                             f"exit code {s[name]['returncode']}")  # fmt: skip
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10k/100k rows, one repeat: a few minutes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, stores)")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--fixes",
        action="store_true",
        help="also measure our flows with the proposed project fixes applied from outside, and the first-run "
        "prototypes (bench/prestart_cli.py); about 2 more minutes",
    )
    parser.add_argument("--budget", type=float, help="seconds for the whole run (default 570, --quick 300)")
    parser.add_argument(
        "--omp-default",
        action="store_true",
        help="keep libgomp's default (spinning) wait policy, not PASSIVE",
    )
    parser.add_argument(
        "--only", default="first_run,cli,scale,overhead,monitor", help="comma-separated steps"
    )
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    steps = set(args.only.split(","))
    started = time.perf_counter()
    budget = args.budget or (300 if args.quick else 570) + (120 if args.fixes else 0)
    deadline = time.time() + budget - 15
    if args.omp_default:
        os.environ["BENCH_OMP_DEFAULT"] = "1"
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, Python {platform.python_version()}",
        "load_start": loadavg(),
        "versions": versions(),
        "errors": {},
    }
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    log(f"working in {work}; load average {meta['load_start']}")
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
            try:
                results[name] = fn()
            except Exception:
                meta["errors"][name] = traceback.format_exc()
                log(f"{name} FAILED:\n{meta['errors'][name]}")

        step("first_run", lambda: first_run.measure(work / "first", cfg.first_runs, args.fixes))
        home = results.get("first_run", {}).get("mlops_home")
        step("cli", lambda: cli.measure(work / "cli", cfg.cli_repeats, home, args.fixes))
        step("scale", lambda: scale.measure(large_project, work / "scale"))
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
                    *(["--fixes"] if args.fixes else []),
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
        meta["load_end"] = loadavg()
        meta["seconds"] = time.perf_counter() - started
        (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
        flags = "".join(f" --{k}" for k in ("quick", "fixes", "omp_default") if getattr(args, k)).replace(
            "_", "-"
        )
        text = document(results, rows, cfg, flags, meta)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(table(rows))
        log(f"written {out} in {meta['seconds'] / 60:.1f} min")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
