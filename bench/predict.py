"""Batch predictions at scale (issue 16): `mlops run predict` on a batch of N rows against bare scikit-learn doing
the scoring itself, each a fresh process measured for wall time and peak RSS (bench/child.py), in the same run.

- `ours`:        `mlops run predict SPEC --batch B --out F` (load the batch, GX quality gate, load the champion,
                 chunked scoring with rejects, atomic Parquet with lineage, the MLflow predict run; a temporary
                 Prefect server is started by the command itself, as for a user with none running);
- `ours-score`:  only our scoring step (tasks.predict.score_batch: chunks, rejects, lineage, atomic Parquet),
                 called as a plain function on the same model and batch: no Prefect, GX or MLflow run;
- `bare-loop`:   read the batch, load the same model from MLflow, `model.predict` + `predict_proba` in a loop of
                 chunks of the same size, predictions written with `DataFrame.to_parquet`;
- `bare-whole`:  the same in one call on the whole frame (what a script usually does; its memory grows with N);
- `bare-stream`: the floor for bounded memory: the batch read chunk by chunk with pyarrow (`iter_batches`), each
                 chunk scored and appended with a `ParquetWriter`, nothing else (no gate, no rejects, no lineage).

`ours` reads the batch twice, chunk by chunk (the quality gate, then the scoring), so its peak is bounded by the
chunk size and compares with `bare-stream`; `bare-loop` holds the whole frame.

The model is trained first (untimed) with `mlops run retrain` on a small synthetic set (bench/common.py), and
the batch is another seed of the same data.

    python bench/predict.py [--rows 1000000] [--train-rows 20000] [--chunk-rows 100000] [--work DIR] [--out JSON]

`make bench` runs it (bench/run.py, step `predict`) and writes `section()` into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
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


STREAM = """
import sys, pandas as pd, mlflow, pyarrow as pa, pyarrow.parquet as pq
from mlops.settings import get_settings
batch, out, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
uri = get_settings().tracking_uri
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
model = mlflow.sklearn.load_model("models:/bench@champion")
cols = list(model.feature_names_in_)
writer = None
for part in pq.ParquetFile(batch).iter_batches(batch_size=chunk):
    x = part.to_pandas()
    x["prediction"] = model.predict(x[cols])
    x["prediction_proba"] = model.predict_proba(x[cols])[:, 1]
    table = pa.Table.from_pandas(x, preserve_index=False)
    writer = writer or pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
writer.close()
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
    ap.add_argument("--out", type=Path, default=None, help="write the figures here as JSON (bench/run.py)")
    ap.add_argument(
        "--ways", default="ours,ours-score,bare-loop,bare-whole,bare-stream", help="comma-separated"
    )
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
            "bare-stream": [PYTHON, "-c", STREAM, batch, str(work / "stream.parquet"), str(args.chunk_rows)],
        }  # fmt: skip
        results = {}
        failed: list[str] = []
        wanted = args.ways.split(",")
        for name, command in [(k, v) for k, v in commands.items() if k in wanted]:
            log(f"{name}: scoring {args.rows:,} rows")
            r = run_child(command, env=env, cwd=root)
            if r.returncode != 0:
                log(f"{name} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
                failed.append(name)
                continue
            results[name] = r
        if failed:  # a way that failed fails the bench: no table without it
            raise SystemExit(f"bench/predict.py: {', '.join(failed)} failed (see above)")
        base = results.get("bare-loop") or next(iter(results.values()))
        print(
            f"batch predictions: {args.rows:,} rows x 25 columns, chunks of {args.chunk_rows:,} (fresh processes)"
        )
        print(f"{'':12} {'seconds':>9} {'peak RSS MB':>12} {'x time':>7} {'x RSS':>6}")
        for name, r in results.items():
            print(f"{name:12} {r.seconds:9.1f} {r.peak_rss_mb:12.0f} {r.seconds / base.seconds:7.2f} "
                  f"{r.peak_rss_mb / base.peak_rss_mb:6.2f}")  # fmt: skip
        if args.out:
            figures = {k: {"seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb} for k, r in results.items()}
            args.out.write_text(
                json.dumps({"rows": args.rows, "chunk_rows": args.chunk_rows, "ways": figures})
            )


def section(res: dict[str, object]) -> str:
    """The docs/benchmarks.md section: each way's time and peak RSS, against the bare chunked loop."""
    ways: dict[str, dict[str, float]] = res["ways"]  # type: ignore[assignment]
    base = ways.get("bare-loop") or next(iter(ways.values()))
    lines = [
        f"## Batch predictions: {int(res['rows']):,} rows x 25 columns, chunks of {int(res['chunk_rows']):,} "  # type: ignore[call-overload]
        "(bench/predict.py)",
        "",
        "Each way a fresh process (wall time, peak RSS). `ours` is the whole `mlops run predict` command (a "
        "temporary Prefect server, the quality gate and the scoring each reading the batch chunk by chunk, the "
        "MLflow run); `bare-stream` the floor for bounded memory (pyarrow batches, `model.predict`, a "
        "ParquetWriter); `bare-loop` reads the whole batch, then predicts in chunks; `bare-whole` in one call.",
        "",
        "| way | seconds | peak RSS MB | x time vs bare-loop | x RSS vs bare-loop |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in ways.items():
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['seconds'] / base['seconds']:.2f} | "
            f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
