"""Overhead ratio of the retrain pipeline (issue 7, item 1), and of the monitor pipeline (issue 3), in ONE process.

Three ways to do the same work on the same data, interleaved repeat by repeat (the order rotates):

- `bare`: bench/bare.py, the libraries called directly;
- `fn`:   our flow's body with every task called as a plain function (`Task.__call__` -> `task.fn`): our code,
          no Prefect at all; each task is timed, so the table can say where our time goes;
- `flow`: our flow as users run it, under one Prefect test harness (a real temporary Prefect API server,
          started once before anything is timed), the heartbeat thread off as `mlops run` does in embedded mode.

Each way has its own MLflow store (SQLite, under a temporary MLOPS_HOME), created and given a champion by an
untimed warm-up run, so every timed run scores a champion and a challenger. Each of our retrains has a spec
with a new description (`bump_spec`), hence a new idempotency key: it fits, as the bare script does, instead of
reusing an earlier identical training run. Peak memory per run is the process's resident high-water mark, reset
before each run (/proc/self/clear_refs), so it includes the libraries already loaded. Writes a JSON file of
every run.

    python bench/overhead.py --warmup DIR --project DIR:ROWS [--project DIR:ROWS] --repeats 3,1
                             [--monitor DIR --home MLOPS_HOME --monitor-repeats 2] --work DIR --out FILE
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Project, Stopwatch, apply_quiet_env, log  # noqa: E402


def reset_peak() -> None:
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def use_store(home: Path) -> None:
    """Point our code at this MLOPS_HOME. mlflow.set_tracking_uri() also exports MLFLOW_TRACKING_URI, which
    mlops.settings reads first: without dropping it, the first store used would stay for the whole process."""
    os.environ["MLOPS_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


@contextmanager
def plain_tasks(sw: Stopwatch) -> Iterator[None]:
    """Call every Prefect task as its plain function (no task run, no API), timing each by its task name.
    The publish-* tasks only create Prefect artifacts: without Prefect they are skipped."""
    from prefect.tasks import Task

    original = Task.__call__

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name.startswith("publish-"):
            return None
        with sw.lap(f"task {self.name}"):
            return self.fn(*args, **kwargs)

    Task.__call__ = call  # type: ignore[method-assign]
    try:
        yield
    finally:
        Task.__call__ = original  # type: ignore[method-assign,assignment]


@contextmanager
def harness(storage: Path) -> Iterator[float]:
    """One Prefect test harness for the whole process; yields its start-up time (not part of any figure)."""
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(storage)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    start = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        stack.enter_context(temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        yield time.perf_counter() - start


def measure(fn: Callable[[Stopwatch], Any]) -> dict[str, Any]:
    gc.collect()
    reset_peak()
    sw = Stopwatch()
    start = time.perf_counter()
    outcome = fn(sw)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": peak_mb(), "laps": sw.laps, "outcome": outcome}


# --- retrain ---------------------------------------------------------------------------------------------------


def bump_spec(project: Project) -> None:
    """A new description for each of our runs. The description is part of the parsed spec, so the spec's hash,
    hence the run's idempotency key (spec, data, code, library versions), is new every time: the run trains,
    logs and registers a new version as the bare script does. With the same key, the flow would reuse the
    finished training run instead of fitting (tasks/tracking/runs.py::finished_training) and register nothing new.
    Every outcome records `refit`; run.py reports a timed run that did not fit."""
    lines = project.spec.read_text().splitlines()
    lines = [f"description: bench run {time.time_ns()}" if x.startswith("description:") else x for x in lines]
    project.spec.write_text("\n".join(lines) + "\n")


def retrain_ways(project: Project, homes: dict[str, Path]) -> dict[str, Callable[[Stopwatch], Any]]:
    import bare

    from flows.retrain import retrain

    def ours(way: str, sw: Stopwatch) -> Any:
        use_store(homes[way])
        bump_spec(project)
        if way == "fn":
            with plain_tasks(sw):
                r = retrain.fn(str(project.spec))
        else:
            r = retrain(str(project.spec))
        return {
            "version": r.version,
            "promoted": r.decision.promote,
            "roc_auc": round(r.challenger_metrics["roc_auc"], 6),
            "refit": not r.reused_run,
            "fit_seconds": round(r.fit_seconds, 2),
        }

    return {
        "bare": lambda sw: bare.retrain(project, homes["bare"], sw),
        "fn": lambda sw: ours("fn", sw),
        "flow": lambda sw: ours("flow", sw),
    }


def monitor_ways(
    project: Project, homes: dict[str, Path], work: Path
) -> dict[str, Callable[[Stopwatch], Any]]:
    import bare

    from flows.monitor import monitor

    counter = iter(range(1_000_000))

    def ours(way: str, sw: Stopwatch) -> Any:
        use_store(homes[way])
        if way == "fn":
            with plain_tasks(sw):
                r = monitor.fn(str(project.spec), batch=str(project.batch))
        else:
            r = monitor(str(project.spec), batch=str(project.batch))
        return {
            "drifted_share": r.drift.drifted_share,
            "rows_current": r.drift.rows_current,
            "action": r.verdict.action,
        }

    return {
        "bare": lambda sw: bare.monitor(project, homes["bare"], sw, work / f"bare-report-{next(counter)}"),
        "fn": lambda sw: ours("fn", sw),
        "flow": lambda sw: ours("flow", sw),
    }


def one_round(
    ways: dict[str, Callable[[Stopwatch], Any]], r: int, repeats: int, label: str
) -> list[dict[str, Any]]:
    """Repeat `r` of every way, the order rotated by `r` so that no way always goes first."""
    names = list(ways)
    out = []
    for way in names[r % len(names) :] + names[: r % len(names)]:
        log(f"{label}: repeat {r + 1}/{repeats}, {way}")
        result = measure(ways[way])
        out.append({"label": label, "repeat": r, "way": way, **result})
        log(f"{label}: {way} {result['seconds']:.2f} s, peak {result['peak_mb']:.0f} MB")
    return out


def schedule(
    groups: list[tuple[str, dict[str, Callable[[Stopwatch], Any]], int]], deadline: float | None
) -> list[dict[str, Any]]:
    """Every repeat of the first (cheapest) group, then the first repeat of every other group, then their
    further repeats while the time budget allows: a further repeat is skipped when the group's last one, plus
    10%, says it would end after `deadline` (epoch seconds). `make bench` must end in time."""
    out: list[dict[str, Any]] = []
    took: dict[str, float] = {}
    plan = [(0, r) for r in range(groups[0][2])]
    plan += [(g, 0) for g in range(1, len(groups))]
    plan += [
        (g, r)
        for r in range(1, max(n for _, _, n in groups))
        for g in range(1, len(groups))
        if r < groups[g][2]
    ]
    for g, r in plan:
        label, ways, repeats = groups[g]
        if r and deadline is not None and time.time() + 1.1 * took[label] > deadline:
            log(f"{label}: repeat {r + 1} skipped, it would end after the time budget")
            continue
        start = time.perf_counter()
        out += one_round(ways, r, repeats, label)
        took[label] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", action="append", default=[], help="DIR:ROWS, smallest first")
    parser.add_argument("--monitor", help="a project DIR with a batch file; --home holds its champion")
    parser.add_argument("--home", help="MLOPS_HOME with the champion (monitor)")
    parser.add_argument("--repeats", default="3,1", help="repeats per project, comma-separated")
    parser.add_argument("--monitor-repeats", type=int, default=2)
    parser.add_argument("--warmup", help="a small project DIR for the untimed warm-up")
    parser.add_argument(
        "--deadline", type=float, help="epoch seconds: skip extra repeats that would end later"
    )
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    apply_quiet_env()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(work / "prefect-home")
    repeats = [int(x) for x in args.repeats.split(",")]
    result: dict[str, Any] = {"runs": [], "warmup": []}
    with harness(work / "prefect-storage") as startup:
        result["harness_startup_seconds"] = startup
        log(f"Prefect test harness up in {startup:.1f} s")
        names = ["bare", "fn", "flow"]
        homes = {way: work / f"home-{way}" for way in names}
        if args.warmup:  # stores created, champions registered, imports and first calls done: not timed
            ways = retrain_ways(Project(Path(args.warmup), "bench"), homes)
            for way in names:
                log(f"retrain warm-up: {way}")
                result["warmup"].append({"label": "retrain 10000", "way": way, **measure(ways[way])})
        groups = []
        for i, item in enumerate(args.project):
            folder, rows = item.rsplit(":", 1)
            ways = retrain_ways(Project(Path(folder), "bench"), homes)
            groups.append((f"retrain {rows}", {n: ways[n] for n in names}, repeats[min(i, len(repeats) - 1)]))
        if args.monitor:
            import shutil

            import bare

            project = Project(Path(args.monitor), "bench")
            mhomes = {}
            for way in names:  # each way gets its own copy of the registry with the champion
                mhomes[way] = work / f"home-monitor-{way}"
                shutil.rmtree(mhomes[way], ignore_errors=True)
                shutil.copytree(args.home, mhomes[way])
            mways = monitor_ways(project, mhomes, work)
            log("monitor warm-up: Evidently imported and run once on 2,000 rows")
            result["warmup"].append({"label": "monitor", "way": "evidently", **measure(bare.warm_evidently)})
            groups.append(("monitor", mways, args.monitor_repeats))
        result["runs"] = schedule(groups, args.deadline)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
