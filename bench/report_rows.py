"""The rows of the summary table of docs/benchmarks.md, one function per benchmark (bench/run.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median  # noqa: E402
from report_format import (  # noqa: E402
    Config,
    Row,
    by_way,
    gb,
    med,
    ratio_pairs,
    rows_label,
    secs,
    verdict_max,
    verdict_ratio,
)


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
    return rows


def not_refitted(res: dict[str, Any]) -> list[str]:
    """Our retrains (warm-up and timed) that reused a finished training run instead of fitting. Each must fit,
    or its time would leave the fit out: bench/overhead.py::bump_spec gives every run a new idempotency key."""
    runs = [*res.get("warmup", []), *res.get("runs", [])]
    return [f"{r['label']} {r['way']} " + (f"repeat {r['repeat'] + 1}" if "repeat" in r else "warm-up") for r in runs
            if r["label"].startswith("retrain") and r["way"] != "bare" and not r["outcome"].get("refit", True)]  # fmt: skip


def cli_rows(res: dict[str, Any]) -> list[Row]:
    m = res["medians"]
    base = m["python"]
    rows: list[Row] = []
    for name, what, aim in (
        ("help", "`mlops --help`", 0.5),
        ("validate-warm", "`mlops validate deployments/`, **warm** (unchanged inputs: the validate cache hits)",
         0.5),
        ("validate-cold", "`mlops validate deployments/`, cold (empty MLOPS_HOME: the full checks, as after any "
         "change to a spec, suite, data file, the code or the libraries)", None),
        ("status", "`mlops status deployments/flight_delays.yaml` (no versions yet)", None),
        ("status-champion", "`mlops status deployments/diabetes.yaml` (a champion, 1 version)", None),
    ):  # fmt: skip
        value = m.get(name)
        if value is None:
            continue
        verdict = verdict_max(value, aim, "s") if aim else "(info)"
        if name == "validate-warm" and not res.get("validate_warm_hit", True):
            verdict += " (a timed call missed the cache)"
        aim_text = (
            f"< {aim} s"
            if aim
            else "(info; the aim is the warm call's)"
            if name == "validate-cold"
            else "(info)"
        )
        rows.append((f"2. CLI {what}, wall (subprocess, median of {len(res['times'][name])})", secs(value),
                     f"{secs(base)} (`python -c pass`)", f"{value / base:.0f}x" if value else "n/a",
                     aim_text, verdict))  # fmt: skip
    return rows


FIRST_MODES = (
    ("temporary", True, "no server running, a temporary Prefect server: first run ever (new Prefect database, "
     "validate cache cold)"),
    ("temporary", False, "no server running, a temporary Prefect server: later runs (validate cache warm)"),
    ("local", True, "no PREFECT_API_URL, a local `prefect server start` found at MLOPS_LOCAL_PREFECT (the "
     "default look-up): validate cache cold"),
    ("local", False, "the same, validate cache warm (a second run: the pre-flight's checks hit the cache)"),
)  # fmt: skip


def first_rows(res: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for mode, first, what in FIRST_MODES:
        sel = [r for r in res["runs"] if r["mode"] == mode and (r["run"] == 0) == first]
        values = [r["to_first_task_seconds"] for r in sel if r["to_first_task_seconds"] is not None]
        if not values:
            continue
        value = median(values)
        n = f" (median of {len(values)})" if len(values) > 1 else ""
        rows.append((f"3. First run, command -> first task: {what}{n}", secs(value), "—", "—", "< 3 s",
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
                f"4. Scale: `mlops run {what}`, {size} rows, wall (whole command, embedded defaults, no Prefect "
                "server running)",
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


def candidate_rows(res: dict[str, Any]) -> list[Row]:
    """Step 6: the spec's candidate parameter sets fitted one after another vs concurrently."""
    t = res["seconds"]
    base = t["sequential"]
    what = f"{res['candidates']} HistGradientBoosting candidates on {res['rows']:,} rows"
    return [
        (f"6. Parallel challengers: {what}, in threads (Prefect's default task runner, used by `model.candidates`)"
         " vs one after another", secs(t["threads"]), secs(base), f"{base / t['threads']:.2f}x speedup",
         "faster than sequential", "yes" if t["threads"] < base else "**no**"),
        (f"6. Parallel challengers: {what}, in 2 spawned processes vs one after another", secs(t["processes (2)"]),
         secs(base), f"{base / t['processes (2)']:.2f}x speedup", "(info)", "(info)"),
    ]  # fmt: skip


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
        rows.append((f"5. Monitor, {size}: orchestration alone (flow vs `.fn()`)", secs(med(runs["flow"])),
                     secs(med(runs["fn"])), f"{ratio_pairs(runs, 'flow', 'fn'):.2f}x", "(info)", "(info)"))  # fmt: skip
    rows.append((f"5. Monitor, {size}: peak memory of the run (process high-water mark, libraries included)",
                 gb(pf), gb(pb), f"{pf / pb:.2f}x", "< 3 GB", verdict_max(pf / 1024, 3, "GB")))  # fmt: skip
    return rows


def table(rows: list[Row]) -> str:
    head = "| what | ours | bare | ratio | aim | met? |\n|---|---:|---:|---:|---|---|\n"
    return head + "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"


# --- what costs the time --------------------------------------------------------------------------------------
