"""model.search against a bare Optuna script doing the same trials, each in a fresh process.

Run: python bench/search.py [--rows 100000] [--trials 20] [--parallel 4]
The parent starts two children on the same rows of the bundled flight data (the spec's own pipeline, its
validation part cut from the training rows):
- ours: tasks.search.run_search inside a Prefect flow, each trial a Prefect task run (tasks.steps.fit_trial via
  tasks.parallel.trial_fitter, on threads), its SQLite storage in a fresh MLOPS_HOME; it writes its trials' values.
- bare: optuna.create_study on a fresh SQLite file, the same trials' values enqueued, study.optimize(objective,
  n_jobs=parallel) calling tasks.train.fit_candidate: the same fits with nothing of ours around them.
Each child times its search from just before the first trial to the best value (imports, data loading and the
Prefect test server's start are outside), and the parent prints both and the ratio.
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


def ours(rows: int, trials: int, parallel: int, out: Path, dask: bool = False) -> None:
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
    def searching() -> tuple[Any, float]:
        start = time.perf_counter()
        outcome = search.run_search(
            space, name="bench", storage=get_settings().search_storage_url, metric="roc_auc",
            direction="maximize", seed=7,
            fitter=fan.trial_fitter(steps.fit_trial, shared, model, parallel),
        )  # fmt: skip
        return outcome, time.perf_counter() - start

    with ExitStack() as stack:
        if dask:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            )
            os.environ["MLOPS_DASK_ADDRESS"] = cluster.scheduler_address
        stack.enter_context(prefect_test_harness(server_startup_timeout=180))
        result: tuple[Any, float] = searching()  # type: ignore[assignment]
    outcome, seconds = result
    out.write_text(json.dumps({
        "seconds": seconds, "rows": len(shared.fit), "best": outcome.best.value, "ran_on": outcome.ran_on,
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
        start = time.perf_counter()
        if not batched:  # Optuna's own loop: a new trial starts whenever a thread is free
            study.optimize(objective, n_trials=len(given["trials"]), n_jobs=parallel)
        else:  # batches with a barrier (model.search before the sliding window): ask `parallel`, fit, tell, repeat
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(parallel) as pool:
                for first in range(0, len(given["trials"]), parallel):
                    asked = [study.ask() for _ in given["trials"][first : first + parallel]]
                    for trial, value in zip(asked, pool.map(objective, asked), strict=True):
                        study.tell(trial, value)
        seconds = time.perf_counter() - start
    out.write_text(
        json.dumps({"seconds": seconds, "best": study.best_value, "fit_seconds": sum(fit_seconds)})
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--child", choices=["ours", "ours-dask", "bare", "bare-batched"])
    parser.add_argument(
        "--ways", default="ours,bare,bare-batched,ours-dask", help="which to run (ours always)"
    )
    parser.add_argument("--trials-file")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child in ("ours", "ours-dask"):
        ours(args.rows, args.trials, args.parallel, Path(args.out), dask=args.child == "ours-dask")
        return
    if args.child in ("bare", "bare-batched"):
        bare(args.rows, args.parallel, Path(args.trials_file), Path(args.out), args.child == "bare-batched")
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLOPS_HOME": f"{tmp}/home", "PREFECT_HOME": f"{tmp}/prefect",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        common = [sys.executable, __file__, "--rows", str(args.rows), "--parallel", str(args.parallel)]
        ways = ["ours", *[w for w in args.ways.split(",") if w and w != "ours"]]
        got: dict[str, dict[str, Any]] = {}
        for way in ways:
            out = Path(tmp) / f"{way}.json"
            given = (["--trials", str(args.trials)] if way.startswith("ours") else
                     ["--trials-file", str(Path(tmp) / "ours.json")])  # fmt: skip
            home = {
                "MLOPS_HOME": f"{tmp}/home-{way}"
            }  # a fresh trial store each: nothing resumed from another
            subprocess.run([*common, *given, "--child", way, "--out", str(out)], env=env | home, check=True)
            got[way] = json.loads(out.read_text())
    a = got["ours"]
    res = {
        "rows": a["rows"],
        "trials": args.trials,
        "parallel": args.parallel,
        "ran_on": a["ran_on"],
        "seconds": {w: r["seconds"] for w, r in got.items()},
        "best": {w: r["best"] for w, r in got.items()},
        "fit_seconds": {w: r.get("fit_seconds", 0.0) for w, r in got.items()},
    }
    if "ours-dask" in got:  # the same trials on Dask as on threads, or the search is not reproducible
        res["dask_ran_on"] = got["ours-dask"]["ran_on"]
        res["dask_same_trials"] = (
            got["ours-dask"]["trials"] == a["trials"] and got["ours-dask"]["best"] == a["best"]
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
    lines = [
        f"## Hyperparameter search: {n} trials of HistGradientBoosting on {res['rows']:,} fitting rows "
        "(bench/search.py)",
        "",
        f"Each a fresh process on the same rows of the flight data (its validation part cut from the training "
        f"rows), the same {n} trials (ours drew them; the bare scripts enqueue them), {k} at a time, each on a "
        "fresh SQLite storage (Optuna's own loop in memory: on SQLite its threads take one enqueued trial twice); "
        "timed from the first trial to the best value (imports, data loading and the Prefect test server's start "
        "are outside). Ours draws trial n once trials 0..n-parallel are told, and no later one (a sliding window; "
        "docs/models.md): that is what makes the trials the same on threads, on Dask and after a resume, and a "
        "slow fit holds back the trial `parallel` places after it. `fit s` is the sum of the trials' own fit "
        "times (threads share 2 cores: each fit is slowed by the others).",
        "",
        "| way | seconds | fit s | best validation roc_auc | ours / this |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in rows:
        if key not in t:
            continue
        fit = res.get("fit_seconds", {}).get(key, 0.0)
        lines.append(f"| {label} | {t[key]:.1f} | {fit:.0f} | {best[key]:.4f} | {t['ours'] / t[key]:.2f}x |")
    if "dask_same_trials" in res:
        same = "the same" if res["dask_same_trials"] else "NOT the same"
        lines += ["", f"On Dask ({res['dask_ran_on']}): {same} {n} trials and best value as on threads."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
