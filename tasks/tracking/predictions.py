"""Batch predictions in MLflow: the model a batch is scored with (the champion, or a version pinned by number or
alias for shadow scoring) and the `predict` run that records a seeded sample of the predictions, tagged with the
model version that made them, so the monitor can read them instead of predicting again."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError
from tasks.tracking.champion import Champion
from tasks.tracking.runs import log_kind_run
from tasks.tracking.store import (
    CHAMPION,
    TAG,
    client,
    experiment_id,
    read_or_none,
    version_by_alias,
)

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ARTIFACT = "predictions/sample.parquet"
log = logging.getLogger(__name__)


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
        mv = version_by_alias(c, model_name, name)
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

    def artifacts() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(SAMPLE_ARTIFACT).name
            sample.to_parquet(path, index=True)  # the index is the row's position in the batch
            mlflow.log_artifact(str(path), artifact_path=str(Path(SAMPLE_ARTIFACT).parent))

    model_tags = {"model_version": model_version, "model_uri": f"models:/{model_name}/{model_version}"}
    return log_kind_run(
        pipeline, "predict", tags | model_tags, metrics, (model_name, model_version), artifacts
    )


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


def logged_predictions(
    pipeline: str, model_name: str, version: str, fingerprint: str, seed: int, max_rows: int
) -> tuple[str, Any] | None:
    """(run id, logged sample) of the latest finished `predict` run that scored the batch with this fingerprint with
    model `version`, its sample drawn with this seed and size (so its rows are the monitor's sample of the batch);
    None when there is none, or the sample cannot be read (the monitor then predicts, as without one)."""
    filters = [
        f"tags.`{TAG}kind` = 'predict'", f"tags.`{TAG}model_name` = '{model_name}'",
        f"tags.`{TAG}model_version` = '{version}'", f"tags.`{TAG}batch_fingerprint` = '{fingerprint}'",
        f"tags.`{TAG}sample_seed` = '{seed}'", f"tags.`{TAG}sample_max_rows` = '{max_rows}'",
        "attributes.status = 'FINISHED'",
    ]  # fmt: skip
    if not fingerprint:
        return None
    runs = client().search_runs(
        [experiment_id(pipeline)],
        " and ".join(filters),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run_id = runs[0].info.run_id
    try:
        return run_id, load_predictions_sample(run_id)
    except Exception as exc:  # noqa: BLE001 - an artifact store that lost the file: predicting again is the honest fallback
        log.warning("the predictions of predict run %s cannot be read (%s); predicting again", run_id, exc)
        return None
