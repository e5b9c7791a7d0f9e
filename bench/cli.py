"""CLI latency (issue 7, item 2): `mlops --help`, `mlops validate deployments/` (cold and warm), `mlops status
SPEC` in child processes from the project folder (median of N), and where a cold `mlops validate` spends its
time: its steps timed one by one (bench/validate_phases.py) and its imports (`python -X importtime`), by
top-level package, cold and warm.

`mlops validate` remembers each part that passed in $MLOPS_HOME/cache/check-parts.json (mlops/cli/check_memo.py):
  validate-cold  every call in a new, empty MLOPS_HOME: the full checks (Great Expectations, scikit-learn, the
                 data heads), as on a first validate or after any change to a spec, suite, data file, the
                 project's code or the checking libraries;
  validate-warm  every call in one MLOPS_HOME whose cache an untimed call filled: unchanged inputs, the checks
                 skipped. The cache file is only rewritten on a miss: its unchanged mtime shows every timed call
                 hit it.

The baseline ("bare") is the interpreter doing nothing: `python -c pass`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import BENCH, MLOPS, PYTHON, REPO, log, median, quiet_env, run_child

VALIDATE = [MLOPS, "validate", "deployments/"]
COMMANDS = {
    "help": [MLOPS, "--help"],
    "validate-cold": VALIDATE,
    "validate-warm": VALIDATE,
    "status": [MLOPS, "status", "deployments/flight_delays.yaml"],
    "status-champion": [MLOPS, "status", "deployments/diabetes.yaml"],
}
CACHE = Path("cache") / "check-parts.json"  # mlops/cli/check_memo.py: FILE, under MLOPS_HOME


def import_profile(env: dict[str, str]) -> list[tuple[str, float]]:
    """Seconds of import per top-level package, as `python -X importtime -m mlops.cli validate` reports them
    (cumulative time of each import made at the top of the import stack, grouped by its first name)."""
    child = run_child([PYTHON, "-X", "importtime", "-m", "mlops.cli", *VALIDATE[1:]], env=env, cwd=REPO)
    if child.returncode != 0:
        raise RuntimeError(f"mlops validate failed ({child.returncode}):\n{child.stdout[-2000:]}")
    totals: dict[str, float] = defaultdict(float)
    pattern = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
    for line in child.stderr.splitlines():
        m = pattern.match(line)
        if m and len(m.group(3)) == 1:  # one space: an import made at the top of the stack
            totals[m.group(4).split(".")[0]] += int(m.group(2)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])


def measure(work: Path, repeats: int, home: str | None) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)

    def env_for(mlops_home: Path | str) -> dict[str, str]:
        return quiet_env(MLOPS_HOME=str(mlops_home), PREFECT_HOME=str(work / "prefect-home"))

    env = env_for(home or work / "mlops-home")
    warm_home = work / "mlops-home-validate-warm"
    fresh = iter(range(1_000_000))
    out: dict[str, Any] = {"times": {}, "returncodes": {}}
    out["times"]["python"] = [
        run_child([PYTHON, "-c", "pass"], env=env, cwd=REPO).seconds for _ in range(repeats)
    ]
    run_child(COMMANDS["status"], env=env, cwd=REPO)  # untimed: creates the MLflow store if there is none
    warm_env = env_for(warm_home)
    filled = run_child(VALIDATE, env=warm_env, cwd=REPO)  # untimed: fills the warm home's validate cache
    if filled.returncode != 0 or not (warm_home / CACHE).is_file():
        raise RuntimeError(
            f"mlops validate did not pass or cache ({filled.returncode}):\n{filled.stdout[-2000:]}"
        )
    cache_mtime = (warm_home / CACHE).stat().st_mtime_ns
    for name, args in COMMANDS.items():
        n = repeats if name in ("help", "validate-warm", "status") else max(1, repeats - 2)
        log(f"cli: {name} x{n}")
        times = []
        for _ in range(n):
            if name == "validate-cold":
                run_env = env_for(work / f"mlops-home-validate-cold-{next(fresh)}")
            elif name == "validate-warm":
                run_env = warm_env
            else:
                run_env = env
            child = run_child(args, env=run_env, cwd=REPO)
            if child.returncode != 0:  # a failed command's time is no figure
                raise RuntimeError(f"{' '.join(args)} failed ({child.returncode}):\n{child.stdout[-2000:]}")
            out["returncodes"][name] = child.returncode
            times.append(child.seconds)
        out["times"][name] = times
    out["validate_warm_hit"] = (warm_home / CACHE).stat().st_mtime_ns == cache_mtime
    out["medians"] = {k: median(v) for k, v in out["times"].items()}
    log("cli: validate phases and imports")
    cold_env = env_for(work / "mlops-home-validate-phases")
    phases = run_child([PYTHON, str(BENCH / "validate_phases.py"), *VALIDATE[2:]], env=cold_env, cwd=REPO)
    if phases.returncode != 0:  # a broken phase script fails the bench, never an empty table
        raise RuntimeError(
            f"bench/validate_phases.py failed ({phases.returncode}):\n{(phases.stdout + phases.stderr)[-2000:]}"
        )
    out["validate_phases"] = json.loads(phases.stdout.strip().splitlines()[-1])
    out["validate_imports"] = import_profile(env_for(work / "mlops-home-validate-imports"))[:12]
    out["validate_imports_warm"] = import_profile(warm_env)[:12]
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
