"""Whole commands that import only what they use (lazy11): each command a fresh process, two source trees in turns
(`before`, `after`: e.g. a `git worktree add --detach` of the old commit and this one, put first on PYTHONPATH), CPU
(user + sys of the process and its children) and wall time from the fork to the exit, median of N.

    status SPEC, history SPEC       before any run: no store yet (a new MLOPS_HOME each run)
    promote SPEC --version 1        the version is champion already: refused (exit 2) after taking the promotion lock
    deploy --check                  after `mlops validate` (the specs' checks remembered)

    python bench/command_imports.py BEFORE_TREE AFTER_TREE [--repeats 5]
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, REPO, log, median, quiet_env  # noqa: E402

SPEC = "deployments/diabetes.yaml"


def timed(tree: Path, args: list[str], home: Path, cwd: Path) -> tuple[float, float, int]:
    """(CPU s, wall s, exit code) of `mlops ARGS` from `tree`, a fresh process."""
    env = quiet_env(MLOPS_HOME=str(home), PYTHONPATH=str(tree), PREFECT_HOME=str(home / "prefect-client"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "mlops.cli", *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.returncode


def main(trees: list[Path], repeats: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-imports-"))
    project = work / "project"
    for sub in ("deployments", "expectations"):
        shutil.copytree(REPO / sub, project / sub)
    (project / "pyproject.toml").write_text("[project]\nname = 'bench-imports'\n")
    store = work / "store"  # a champion (v1) to refuse promoting again
    log("a first retrain for the promote case (not timed)")
    timed(trees[-1], ["run", "retrain", SPEC], store, project)
    timed(trees[-1], ["validate"], store, project)  # deploy --check's memo
    timed(trees[-1], ["deploy", "--write"], store, project)
    cases = {
        "status (no store yet)": (["status", SPEC], None),
        "history (no store yet)": (["history", SPEC], None),
        "promote (refused: v1 is champion)": (
            ["promote", SPEC, "--version", "1", "--reason", "bench"],
            store,
        ),
        "deploy --check (after validate)": (["deploy", "--check"], store),
    }
    print(f"load average at the start: {os.getloadavg()}")
    rows: list[str] = []
    for name, (args, home) in cases.items():
        cpu: dict[int, list[float]] = {0: [], 1: []}
        wall: dict[int, list[float]] = {0: [], 1: []}
        for i in range(repeats):
            for side, tree in enumerate(trees):
                c, w, code = timed(tree, args, home or work / f"fresh-{side}-{i}-{len(rows)}", project)
                cpu[side].append(c)
                wall[side].append(w)
                log(f"{name} {['before', 'after'][side]}: {c:.2f} s CPU, {w:.2f} s wall, exit {code}")
        rows.append(
            f"| `mlops {name.split(' (')[0]}` ({name.split(' (')[1]} | "
            f"{median(cpu[0]):.2f} s / {median(wall[0]):.2f} s | {median(cpu[1]):.2f} s / {median(wall[1]):.2f} s | "
            f"{median(cpu[0]) / median(cpu[1]):.1f}x |"
        )
        print(rows[-1], flush=True)  # each row as soon as it is measured: a run stopped early keeps them
    timed(trees[-1], ["server", "stop", "--quiet"], store, project)
    print(f"load average at the end: {os.getloadavg()}")
    print("| command | before: CPU / wall | after: CPU / wall | CPU before/after |\n|---|---:|---:|---:|")
    print("\n".join(rows))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    a = parser.parse_args()
    main([a.before.resolve(), a.after.resolve()], a.repeats)
