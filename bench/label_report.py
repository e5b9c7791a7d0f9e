"""The monitor's label report as kept prediction periods pile up (docs/labels.md): every run joins the labels
that arrived to every kept batch. Synthetic periods of ROWS predictions each (binary, one model version), each
with its labels in a Parquet file; the report is timed at 10, 40 and 160 periods, in one process.

    .venv/bin/python bench/label_report.py [ROWS]      # default: 5000

Prints one line per size: the seconds of one `tasks.labels.label_report` call.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

SPEC = """name: b
data: {source: {kind: csv, path: data.csv}, target: y, id_column: id}
model: {task: classification, estimator: sklearn.linear_model.LogisticRegression}
registry: {model_name: b}
promotion: {metric: roc_auc}
labels: {source: {kind: parquet, path: labels/}}
"""


def main(rows: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-labels-"))
    os.environ["MLOPS_HOME"] = str(tmp / "home")
    root = tmp / "proj"
    (root / "deployments").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname='b'\n")
    (root / "data.csv").write_text("id,x,y\n1,1,0\n")
    (root / "deployments" / "b.yaml").write_text(SPEC)

    import numpy as np
    import pandas as pd

    from mlops.spec import load_spec
    from tasks.labels import keep_predictions, label_report

    loaded = load_spec(root / "deployments" / "b.yaml")
    rng = np.random.default_rng(0)
    done = 0
    for target in (10, 40, 160):
        while done < target:
            ids = np.arange(done * rows, (done + 1) * rows)
            p = rng.random(rows)
            predictions = pd.DataFrame({
                "id": ids, "prediction": (p > 0.5).astype(int), "prediction_proba": p, "model_name": "b",
                "model_version": "1", "model_run_id": "r",
            })  # fmt: skip
            staged = tmp / "predictions.parquet"
            predictions.to_parquet(staged)
            keep_predictions(
                str(staged), pipeline="b", id_column="id", time_column=None, batch_id=f"b{done:04d}",
                batch=f"batch {done}", model_version="1", classes=[0, 1],
            )  # fmt: skip
            labels = pd.DataFrame({"id": ids, "y": (rng.random(rows) < p).astype(int)})
            labels.to_parquet(root / "labels" / f"{done}.parquet")
            done += 1
        t = time.perf_counter()
        report = label_report(
            loaded, champion_version="1", reference=0.8, floor=None, batch_id=None, estimated=None
        )
        took = time.perf_counter() - t
        assert report is not None
        print(f"{target} periods x {rows:,} rows: label_report {took:.2f} s ({len(report.periods)} periods)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
