"""model.search against a bare Optuna script doing the same trials, each in a fresh process.

Run: python bench/search.py [--rows 100000] [--trials 20] [--parallel 4] [--repeats 3] [--ways ours,bare]
The parent starts the ways in turns (ours, bare, ..., then again), each a child process on the same rows of the
bundled flight data (the spec's own pipeline, its validation part cut from the training rows):
- ours: tasks.search.run_search inside a Prefect flow, each trial a Prefect task run (tasks.steps.fit_trial via
  tasks.parallel.trial_fitter, on threads), its SQLite storage in a fresh MLOPS_HOME; it writes its trials' values.
- ours-window: the same with the draws lagging the told scores by `parallel` only (the sliding window of
  2026-12-06, before the lag of 2 * parallel): the before of the same run.
- bare: optuna.create_study in memory, the same trials' values as the ours of its turn enqueued,
  study.optimize(objective, n_jobs=parallel) calling tasks.train.fit_candidate: the same fits with nothing of ours
  around them.
Each child times its search from just before the first trial to the best value (imports, data loading and the
Prefect test server's start are outside), wall and CPU (user + sys of the child and its descendants over the same
window: ours' Prefect test server included); the parent also takes each child's whole CPU (imports included) and
prints the medians and the median of the per-turn ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPEC = "deployments/flight_delays.yaml"
SPACE = {
    "learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
    "max_leaf_nodes": {"type": "int", "low": 15, "high": 63},
    "l2_regularization": {"type": "categorical", "choices": [0.0, 0.1, 1.0]},
}


def _parts(rows: int) -> Any:
    from mlops.spec import load_spec
    from tasks import data, train

    loaded = load_spec(SPEC)
    parts = data.split(data.load(loaded).head(rows), loaded)
    # the spec's target, seed (7) and promotion metric (roc_auc)
    return loaded, train.FitData.of(data.validation_split(parts, loaded), parts.features, loaded.spec)


def _cpu() -> float:
    """User + sys CPU seconds of this process and its living descendants (ours: the Prefect test server)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def ours(
    rows: int, trials: int, parallel: int, out: Path, dask: bool = False, lag: int | None = None
) -> None:
    """The search as the retrain runs it; with `dask`, on a local Dask cluster of two worker processes (one thread
    each) at MLOPS_DASK_ADDRESS, as a team's cluster would run it (started before the clock)."""
    from contextlib import ExitStack

    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from mlops.settings import get_settings
    from mlops.spec.schema import Search
    from tasks import parallel as fan
    from tasks import search, steps

    loaded, shared = _parts(rows)
    spec = loaded.spec
    model = spec.model.model_copy(
        update={"params": {k: v for k, v in spec.model.params.items() if k not in SPACE}}
    )
    space = Search.model_validate({"space": SPACE, "trials": trials, "parallel": parallel, "seed": 7})

    @flow
    def searching() -> tuple[Any, float, float]:
        start, cpu = time.perf_counter(), _cpu()
        outcome = search.run_search(
            space, name="bench", storage=get_settings().search_storage_url, metric="roc_auc",
            direction="maximize", seed=7,
            fitter=fan.trial_fitter(steps.fit_trial, shared, model, parallel), lag=lag,
        )  # fmt: skip
        return outcome, time.perf_counter() - start, _cpu() - cpu

    with ExitStack() as stack:
        if dask:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            )
            os.environ["MLOPS_DASK_ADDRESS"] = cluster.scheduler_address
        stack.enter_context(prefect_test_harness(server_startup_timeout=180))
        result: tuple[Any, float, float] = searching()  # type: ignore[assignment]
    outcome, seconds, cpu = result
    out.write_text(json.dumps({
        "seconds": seconds, "cpu": cpu, "rows": len(shared.fit), "best": outcome.best.value, "ran_on": outcome.ran_on,
        "trials": [t.params for t in outcome.trials], "model_params": dict(model.params),
        "fit_seconds": sum(t.seconds for t in outcome.trials),
    }))  # fmt: skip


def bare(rows: int, parallel: int, trials_file: Path, out: Path, batched: bool = False) -> None:
    import optuna

    from tasks import train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded, shared = _parts(rows)
    spec = loaded.spec
    given = json.loads(trials_file.read_text())
    model = spec.model.model_copy(update={"params": given["model_params"]})
    with tempfile.TemporaryDirectory() as tmp:
        # Optuna's own threaded loop runs enqueued trials twice on SQLite ("Cannot tell a COMPLETE trial": two
        # threads take one waiting trial), so it keeps them in memory, which only flatters it; the batched loop
        # asks and tells from one thread, on a SQLite file like ours
        storage = f"sqlite:///{tmp}/bare.db" if batched else None
        study = optuna.create_study(storage=storage, direction="maximize")
        for params in given["trials"]:
            study.enqueue_trial(params)

        def objective(trial: optuna.Trial) -> float:
            values = {
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 15, 63),
                "l2_regularization": trial.suggest_categorical("l2_regularization", [0.0, 0.1, 1.0]),
            }
            m = model.model_copy(update={"params": {**model.params, **values}})
            fitted = train.fit_candidate(shared, m)
            fit_seconds.append(fitted.fit_seconds)
            return fitted.value

        fit_seconds: list[float] = []
        start, cpu = time.perf_counter(), _cpu()
        if not batched:  # Optuna's own loop: a new trial starts whenever a thread is free
            study.optimize(objective, n_trials=len(given["trials"]), n_jobs=parallel)
        else:  # batches with a barrier (model.search before the sliding window): ask `parallel`, fit, tell, repeat
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(parallel) as pool:
                for first in range(0, len(given["trials"]), parallel):
                    asked = [study.ask() for _ in given["trials"][first : first + parallel]]
                    for trial, value in zip(asked, pool.map(objective, asked), strict=True):
                        study.tell(trial, value)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    out.write_text(json.dumps(
        {"seconds": seconds, "cpu": cpu, "best": study.best_value, "fit_seconds": sum(fit_seconds)}
    ))  # fmt: skip


WAYS = ("ours", "ours-window", "ours-dask", "bare", "bare-batched")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1, help="turns: each way once a turn, in order")
    parser.add_argument("--child", choices=WAYS)
    parser.add_argument(
        "--ways",
        default="ours,bare,bare-batched,ours-dask",
        help=f"which of {','.join(WAYS)} to run (ours always)",
    )
    parser.add_argument("--trials-file")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child and args.child.startswith("ours"):
        lag = args.parallel if args.child == "ours-window" else None
        ours(args.rows, args.trials, args.parallel, Path(args.out), args.child == "ours-dask", lag)
        return
    if args.child in ("bare", "bare-batched"):
        bare(args.rows, args.parallel, Path(args.trials_file), Path(args.out), args.child == "bare-batched")
        return
    import resource
    import statistics
    from datetime import UTC, datetime

    def children_cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    began, load = datetime.now(UTC), os.getloadavg()
    turns: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLOPS_HOME": f"{tmp}/home", "PREFECT_HOME": f"{tmp}/prefect",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        common = [sys.executable, __file__, "--rows", str(args.rows), "--parallel", str(args.parallel)]
        ways = ["ours", *[w for w in args.ways.split(",") if w and w != "ours"]]
        for turn in range(args.repeats):
            got: dict[str, dict[str, Any]] = {}
            for way in ways:
                out = Path(tmp) / f"{way}-{turn}.json"
                given = (["--trials", str(args.trials)] if way.startswith("ours") else
                         ["--trials-file", str(Path(tmp) / f"ours-{turn}.json")])  # fmt: skip
                home = {"MLOPS_HOME": f"{tmp}/home-{way}-{turn}"}  # a fresh trial store each: nothing resumed
                cpu = children_cpu()
                subprocess.run(
                    [*common, *given, "--child", way, "--out", str(out)], env=env | home, check=True
                )
                got[way] = json.loads(out.read_text()) | {"process_cpu": children_cpu() - cpu}
                print(f"turn {turn + 1} {way}: {got[way]['seconds']:.1f} s wall, {got[way]['cpu']:.1f} s CPU",
                      flush=True)  # fmt: skip
            turns.append(got)
    a = turns[0]["ours"]

    def median(way: str, key: str) -> float:
        return statistics.median(t[way][key] for t in turns)

    def ratio(way: str, key: str) -> float:
        return statistics.median(t["ours"][key] / t[way][key] for t in turns)

    res = {
        "rows": a["rows"], "source_rows": args.rows, "trials": args.trials, "parallel": args.parallel,
        "ran_on": a["ran_on"],
        "repeats": args.repeats, "began": began.strftime("%Y-%m-%d %H:%M UTC"),
        "ended": datetime.now(UTC).strftime("%H:%M UTC"), "load": [load[0], os.getloadavg()[0]],
        "seconds": {w: median(w, "seconds") for w in ways}, "cpu": {w: median(w, "cpu") for w in ways},
        "process_cpu": {w: median(w, "process_cpu") for w in ways},
        "ratio": {w: ratio(w, "seconds") for w in ways}, "cpu_ratio": {w: ratio(w, "cpu") for w in ways},
        "turn_ratios": {w: [[t["ours"][k] / t[w][k] for k in ("seconds", "cpu")] for t in turns] for w in ways},
        "best": {w: turns[0][w]["best"] for w in ways},
        "fit_seconds": {w: median(w, "fit_seconds") for w in ways},
    }  # fmt: skip
    if "ours-dask" in turns[0]:  # the same trials on Dask as on threads, or the search is not reproducible
        res["dask_ran_on"] = turns[0]["ours-dask"]["ran_on"]
        res["dask_same_trials"] = all(
            t["ours-dask"]["trials"] == t["ours"]["trials"] and t["ours-dask"]["best"] == t["ours"]["best"]
            for t in turns
        )
    if args.out:
        Path(args.out).write_text(json.dumps(res))
    print(section(res))


def section(res: dict[str, Any]) -> str:
    """The docs/benchmarks.md section: model.search against bare Optuna doing the same trials."""
    t, best = res["seconds"], res["best"]
    n, k = res["trials"], res["parallel"]
    rows = [
        ("model.search (each trial a Prefect task run, " + res["ran_on"] + ")", "ours"),
        (f"model.search as of 2026-12-06 (draws lagging the told scores by {k}, not {2 * k})", "ours-window"),
        ("model.search on a local Dask cluster of 2 worker processes (MLOPS_DASK_ADDRESS)", "ours-dask"),
        (
            f"bare Optuna, its own loop (`study.optimize(n_jobs={k})`, a new trial whenever a thread is free)",
            "bare",
        ),
        (
            f"bare Optuna, batches with a barrier (ask {k}, fit them on threads, tell them all)",
            "bare-batched",
        ),
    ]
    repeats = res.get("repeats", 1)
    load = res.get("load", [math.nan, math.nan])
    lines = [
        f"## Hyperparameter search: {n} trials of HistGradientBoosting on {res['rows']:,} fitting rows "
        "(bench/search.py)",
        "",
        f"Each a fresh process on the same rows of the flight data (its validation part cut from the training "
        f"rows), {k} at a time; the bare scripts enqueue the {n} trials the ours of their turn drew, on a fresh "
        "in-memory study (on SQLite Optuna's threads take one enqueued trial twice); ours on a fresh SQLite "
        "storage. Timed from the first trial to the best value (imports, data loading and the Prefect test "
        "server's start are outside): `wall s` and `CPU s` (user + sys of the process and its descendants, the "
        "Prefect test server included, over that window); `process CPU s` is the whole child process tree from "
        "fork to exit, imports and start-up included. Ours draws trial n once trials 0..n-2*parallel are told "
        "(docs/models.md): the same trials on threads, on Dask and after a resume. `fit s` is the sum of the "
        "trials' own fit times (threads share 2 cores: each fit is slowed by the others). "
        f"{repeats} turn{'s' if repeats != 1 else ''} (each way once a turn, in the order `--ways` gives); medians, "
        "and the median of the per-turn ratios.",
        "",
        "| way | wall s | CPU s | process CPU s | fit s | best validation roc_auc | ours / this (wall) "
        "| ours / this (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key in rows:
        if key not in t:
            continue
        fit = res.get("fit_seconds", {}).get(key, 0.0)
        lines.append(
            f"| {label} | {t[key]:.1f} | {res['cpu'][key]:.1f} | {res['process_cpu'][key]:.1f} | {fit:.0f} "
            f"| {best[key]:.4f} | {res['ratio'][key]:.2f}x | {res['cpu_ratio'][key]:.2f}x |"
        )
    lines += [
        "",
        f"`python bench/search.py --rows {res.get('source_rows', 100_000)} --trials {n} --parallel {k} --repeats "
        f"{repeats} --ways {','.join(t)}`, {res.get('began', '')} to "
        f"{res.get('ended', '')}, load average (1 min) {load[0]:.1f} at the start and {load[1]:.1f} at the end.",
    ]
    for _label, key in rows:
        if key != "ours" and key in res.get("turn_ratios", {}):
            each = ", ".join(f"{w:.2f}x ({c:.2f}x)" for w, c in res["turn_ratios"][key])
            lines += ["", f"Ours / {key} turn by turn, wall (CPU): {each}."]
    if "dask_same_trials" in res:
        same = "the same" if res["dask_same_trials"] else "NOT the same"
        lines += ["", f"On Dask ({res['dask_ran_on']}): {same} {n} trials and best value as on threads."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
