"""Scale (issue 7, item 4): `mlops run retrain` then `mlops run monitor --batch` on the large synthetic project,
each in a child process on embedded defaults with no Prefect server running (MLOPS_LOCAL_PREFECT=off, so a
temporary Prefect server; SQLite MLflow store in a new MLOPS_HOME), timed from the fork to the exit, with the
child's peak resident memory (wait4; the largest of the process and the children it waited for, e.g. the
temporary server, not their sum). The retrain is the store's first: it fits (checked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import MLOPS, Project, log, quiet_env, run_child


def measure(project: Project, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    home = work / "mlops-home-scale"
    env = quiet_env(MLOPS_HOME=str(home), PREFECT_HOME=str(work / "prefect-home-scale"))
    out: dict[str, Any] = {"mlops_home": str(home)}
    for name, args in (
        ("retrain", [MLOPS, "run", "retrain", str(project.spec)]),
        ("monitor", [MLOPS, "run", "monitor", str(project.spec), "--batch", str(project.batch)]),
    ):
        log(f"scale: mlops run {name}")
        child = run_child(args, env=env, cwd=project.root, timeout=900)
        if child.returncode not in (0, 3):  # 3: the monitor found drift
            raise RuntimeError(
                f"mlops run {name} failed ({child.returncode}):\n{child.stdout[-2000:]}\n{child.stderr[-3000:]}"
            )
        if name == "retrain" and "not refitted" in " ".join(child.stdout.split()):
            raise RuntimeError(
                f"mlops run retrain reused a training run, it did not fit:\n{child.stdout[-2000:]}"
            )
        out[name] = {
            "seconds": child.seconds,
            "peak_rss_mb": child.peak_rss_mb,
            "returncode": child.returncode,
        }
        log(f"scale: {name} {child.seconds:.1f} s, peak {child.peak_rss_mb:.0f} MB")
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--project", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    Path(a.out).write_text(json.dumps(measure(Project(Path(a.project), "bench"), Path(a.work)), indent=1))
