"""CLI latency (issue 7, item 2): `mlops --help`, `mlops validate deployments/`, `mlops status SPEC` in child
processes from the project folder (median of N), and where `mlops validate` spends its time: its steps timed
one by one (bench/validate_phases.py) and its imports (`python -X importtime`), by top-level package.

The baseline ("bare") is the interpreter doing nothing: `python -c pass`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import BENCH, MLOPS, PYTHON, REPO, log, median, quiet_env, run_child

COMMANDS = {
    "help": [MLOPS, "--help"],
    "validate": [MLOPS, "validate", "deployments/"],
    "status": [MLOPS, "status", "deployments/flight_delays.yaml"],
    "status-champion": [MLOPS, "status", "deployments/diabetes.yaml"],
}


def import_profile(env: dict[str, str]) -> list[tuple[str, float]]:
    """Seconds of import per top-level package, as `python -X importtime -m mlops.cli validate` reports them
    (cumulative time of each import made at the top of the import stack, grouped by its first name)."""
    child = run_child(
        [PYTHON, "-X", "importtime", "-m", "mlops.cli", "validate", "deployments/"], env=env, cwd=REPO
    )
    totals: dict[str, float] = defaultdict(float)
    pattern = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
    for line in child.stderr.splitlines():
        m = pattern.match(line)
        if m and len(m.group(3)) == 1:  # one space: an import made at the top of the stack
            totals[m.group(4).split(".")[0]] += int(m.group(2)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])


def measure(work: Path, repeats: int, home: str | None, more: bool = False) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    env = quiet_env(MLOPS_HOME=home or str(work / "mlops-home"), PREFECT_HOME=str(work / "prefect-home"))
    out: dict[str, Any] = {"times": {}, "returncodes": {}}
    baseline = [run_child([PYTHON, "-c", "pass"], env=env, cwd=REPO).seconds for _ in range(repeats)]
    out["times"]["python"] = baseline
    run_child(COMMANDS["status"], env=env, cwd=REPO)  # untimed: creates the MLflow store if there is none
    for name, args in COMMANDS.items():
        if name == "status-champion" and not more:
            continue
        n = repeats if name != "status-champion" else max(1, repeats - 2)
        log(f"cli: {name} x{n}")
        times = []
        for _ in range(n):
            child = run_child(args, env=env, cwd=REPO)
            out["returncodes"][name] = child.returncode
            times.append(child.seconds)
        out["times"][name] = times
    out["medians"] = {k: median(v) for k, v in out["times"].items()}
    log("cli: validate phases and imports")
    phases = run_child([PYTHON, str(BENCH / "validate_phases.py"), "deployments/"], env=env, cwd=REPO)
    out["validate_phases"] = (
        json.loads(phases.stdout.strip().splitlines()[-1]) if phases.returncode == 0 else []
    )
    out["validate_imports"] = import_profile(env)[:12]
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--home")
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    Path(a.out).write_text(json.dumps(measure(Path(a.work), a.repeats, a.home), indent=1))
