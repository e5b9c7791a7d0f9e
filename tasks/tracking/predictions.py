"""Batch predictions in MLflow: the model a batch is scored with (the champion, or a version pinned by number or
alias for shadow scoring) and the `predict` run that records a seeded sample of the predictions, tagged with the
model version that made them, so the monitor can read them instead of predicting again."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError
from tasks.tracking.champion import Champion
from tasks.tracking.store import CHAMPION, TAG, client, experiment_id, read_or_none, run_url, start_run

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ARTIFACT = "predictions/sample.parquet"


class NoSuchModelVersion(MlopsError):
    """A pinned version or alias names nothing in the registry: a usage error, fixed by naming one that exists."""

    exit_code = 2


def load_model(model_name: str, version: str | None = None, alias: str | None = None) -> Champion | None:
    """The model to score with: version `version`, else the holder of `alias` (default: the champion). None when
    the champion alias is unset; a pinned version or alias that does not exist raises NoSuchModelVersion."""
    import mlflow

    c = client()
    pinned = version is not None or (alias is not None and alias != CHAMPION)
    if version is not None:
        mv = read_or_none(
            lambda: c.get_model_version(model_name, str(version)), f"read version {version} of '{model_name}'"
        )
        what, uri = f"version {version}", f"models:/{model_name}/{version}"
    else:
        name = alias or CHAMPION
        mv = read_or_none(
            lambda: c.get_model_version_by_alias(model_name, name),
            f"read the '{name}' alias of '{model_name}'",
        )
        what, uri = f"alias '{name}'", f"models:/{model_name}@{name}"
    if mv is None:
        if not pinned:
            return None
        raise NoSuchModelVersion(
            f"'{model_name}' has no {what}; `mlops status SPEC` lists its versions and aliases. Pin one that "
            "exists with --version N or --alias NAME, or leave both out to score with the champion."
        )
    model = mlflow.sklearn.load_model(uri)
    prefix = f"{TAG}metric."
    metrics = {k[len(prefix) :]: float(v) for k, v in (mv.tags or {}).items() if k.startswith(prefix) and v}
    features = [str(x) for x in getattr(model, "feature_names_in_", [])]
    return Champion(str(mv.version), mv.run_id, model, features, metrics)


def log_predict_run(
    *,
    pipeline: str,
    model_name: str,
    model_version: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    sample: pd.DataFrame,
) -> tuple[str, str]:
    """A `predict` MLflow run: the counts, and the seeded sample of scored rows as Parquet, tagged with the model
    version that scored them (and linked from that version as its last predict run). Returns (run id, URL)."""
    import mlflow

    exp = experiment_id(pipeline)
    with start_run(exp, f"predict-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags(
            {f"{TAG}{k}": v for k, v in tags.items()}
            | {f"{TAG}kind": "predict", f"{TAG}model_name": model_name, f"{TAG}model_version": model_version,
               f"{TAG}model_uri": f"models:/{model_name}/{model_version}"}
        )  # fmt: skip
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(SAMPLE_ARTIFACT).name
            sample.to_parquet(path, index=True)  # the index is the row's position in the batch
            mlflow.log_artifact(str(path), artifact_path=str(Path(SAMPLE_ARTIFACT).parent))
    client().set_model_version_tag(model_name, model_version, f"{TAG}last_predict_run", run.info.run_id)
    return run.info.run_id, run_url(exp, run.info.run_id)


def load_predictions_sample(run_id: str) -> Any:
    """The sample of predictions a `predict` run logged (index: the rows' positions in their batch)."""
    import mlflow
    import pandas as pd

    client()
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=SAMPLE_ARTIFACT, dst_path=tmp
        )
        return pd.read_parquet(local)
