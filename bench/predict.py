"""Batch predictions at scale (issue 16): `mlops run predict` on a batch of N rows against bare scikit-learn doing
the scoring itself, each a fresh process measured for wall time and peak RSS (bench/child.py), in the same run.

- `ours`:        `mlops run predict SPEC --batch B --out F` (load the batch, GX quality gate, load the champion,
                 chunked scoring with rejects, atomic Parquet with lineage, the MLflow predict run; a temporary
                 Prefect server is started by the command itself, as for a user with none running);
- `ours-score`:  only our scoring step (tasks.predict.score_batch: chunks, rejects, lineage, atomic Parquet),
                 called as a plain function on the same model and batch: no Prefect, GX or MLflow run;
- `bare-loop`:   read the batch, load the same model from MLflow, `model.predict` + `predict_proba` in a loop of
                 chunks of the same size, predictions written with `DataFrame.to_parquet`;
- `bare-whole`:  the same in one call on the whole frame (what a script usually does; its memory grows with N).

The model is trained first (untimed) with `mlops run retrain` on a small synthetic set (bench/common.py), and
the batch is another seed of the same data.

    python bench/predict.py [--rows 1000000] [--train-rows 20000] [--chunk-rows 100000] [--work DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MLOPS, PYTHON, REPO, log, make_project, quiet_env, run_child, synthetic_frame  # noqa: E402

BARE = """
import sys, pandas as pd, mlflow
from mlops.settings import get_settings
batch, out, chunk, whole = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "whole"
uri = get_settings().tracking_uri
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
model = mlflow.sklearn.load_model("models:/bench@champion")
frame = pd.read_parquet(batch)
cols = list(model.feature_names_in_)
if whole:
    parts = [pd.DataFrame({"prediction": model.predict(frame[cols]),
                           "prediction_proba": model.predict_proba(frame[cols])[:, 1]})]
else:
    parts = []
    for start in range(0, len(frame), chunk):
        x = frame.iloc[start:start + chunk][cols]
        parts.append(pd.DataFrame({"prediction": model.predict(x), "prediction_proba": model.predict_proba(x)[:, 1]},
                                  index=x.index))
pd.concat([frame, pd.concat(parts)], axis=1).to_parquet(out, index=False)
"""


SCORE_ONLY = """
import sys, pandas as pd, mlflow
from mlops.settings import get_settings
from tasks.data import Features
from tasks.predict import ModelRef, score_batch
sys.path.insert(0, sys.argv[4])
from common import CATEGORICAL, NUMERIC
batch, out, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
uri = get_settings().tracking_uri
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
model = mlflow.sklearn.load_model("models:/bench@champion")
frame = pd.read_parquet(batch)
score_batch(model, frame, Features(NUMERIC, CATEGORICAL), "classification", ModelRef("bench", "1", "-"), out,
            chunk_rows=chunk)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        root = work / "project"
        project = make_project(root, args.train_rows)
        synthetic_frame(args.rows, 101).to_parquet(root / "data" / "batch.parquet", index=False)
        env = quiet_env(MLOPS_HOME=str(work / "home"), PYTHONPATH=str(REPO))
        log(f"training the champion on {args.train_rows:,} rows (untimed)")
        trained = run_child([MLOPS, "run", "retrain", str(project.spec)], env=env, cwd=root)
        if trained.returncode != 0:
            raise SystemExit(f"retrain failed:\n{trained.stdout[-2000:]}\n{trained.stderr[-2000:]}")
        spec, batch = str(project.spec), str(root / "data" / "batch.parquet")
        commands = {
            "ours": [MLOPS, "run", "predict", spec, "--batch", batch, "--out", str(work / "ours.parquet"),
                     "--chunk-rows", str(args.chunk_rows)],
            "ours-score": [PYTHON, "-c", SCORE_ONLY, batch, str(work / "score.parquet"), str(args.chunk_rows),
                           str(Path(__file__).resolve().parent)],
            "bare-loop": [PYTHON, "-c", BARE, batch, str(work / "bare.parquet"), str(args.chunk_rows), "loop"],
            "bare-whole": [PYTHON, "-c", BARE, batch, str(work / "whole.parquet"), str(args.chunk_rows), "whole"],
        }  # fmt: skip
        results = {}
        for name, command in commands.items():
            log(f"{name}: scoring {args.rows:,} rows")
            r = run_child(command, env=env, cwd=root)
            if r.returncode != 0:
                log(f"{name} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
                continue
            results[name] = r
        base = results["bare-loop"]
        print(
            f"batch predictions: {args.rows:,} rows x 25 columns, chunks of {args.chunk_rows:,} (fresh processes)"
        )
        print(f"{'':12} {'seconds':>9} {'peak RSS MB':>12} {'x time':>7} {'x RSS':>6}")
        for name, r in results.items():
            print(f"{name:12} {r.seconds:9.1f} {r.peak_rss_mb:12.0f} {r.seconds / base.seconds:7.2f} "
                  f"{r.peak_rss_mb / base.peak_rss_mb:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
