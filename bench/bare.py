"""The baselines: the same work as our retrain and monitor pipelines, written as a plain script against the
libraries (pandas, Great Expectations, scikit-learn, MLflow, skops, Evidently), with the same settings, on the
same data. No Prefect, no mlops code: what a careful engineer would write by hand.

retrain: read Parquet -> GX ephemeral validation of the same suite JSON -> the same stratified split -> the
same scikit-learn pipeline fit -> holdout metrics -> MLflow run (params, metrics, log_model with signature,
input example, pip_requirements and skops trusted types) -> register_model -> load the champion by alias and
score it on the same holdout -> the same promotion rule -> set the aliases.

monitor: read Parquet -> GX validation of the batch -> the same seeded samples (batch and the champion's
reference sample, downloaded from its run) -> the champion's predictions on the sampled rows -> one Evidently
report with the same metrics and data definition -> HTML and snapshot saved -> an MLflow run with both files.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from common import (
    CATEGORICAL,
    HOLDOUT,
    MAX_CATEGORIES,
    MIN_IMPROVEMENT,
    NUMERIC,
    PARAMS,
    SAMPLE_ROWS,
    SAMPLE_SEED,
    SPLIT_SEED,
    TARGET,
    Project,
    Stopwatch,
)

FEATURES = [*NUMERIC, *CATEGORICAL]
PIP_REQUIREMENTS = ["scikit-learn>=1.9,<2", "pandas>=2.2,<3", "numpy", "skops"]


def _gx_validate(frame: Any, suite_path: Path) -> Any:
    import great_expectations as gx

    raw = json.loads(suite_path.read_text())
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(name=raw["name"], expectations=raw["expectations"]))
    batch = (
        context.data_sources.add_pandas("bare")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(suite, result_format="SUMMARY")
    if not result.success:
        raise RuntimeError("bare: the batch failed its suite")
    return result


def _pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                      encoded_missing_value=-1, max_categories=MAX_CATEGORIES)),
        ]
    )  # fmt: skip
    preprocess = ColumnTransformer(
        [("numeric", Pipeline([("impute", SimpleImputer(strategy="median"))]), NUMERIC),
         ("categorical", categorical, CATEGORICAL)],
        verbose_feature_names_out=False,
    )  # fmt: skip
    model = HistGradientBoostingClassifier(**PARAMS, random_state=SPLIT_SEED)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def _metrics(model: Any, holdout: Any) -> dict[str, float]:
    """The same eight holdout metrics as the project, from one predict and one predict_proba."""
    from sklearn import metrics as m

    x, y = holdout[FEATURES], holdout[TARGET]
    pred = model.predict(x)
    proba = model.predict_proba(x)[:, 1]
    pos = model.classes_[1]
    return {
        "roc_auc": float(m.roc_auc_score(y == pos, proba)),
        "average_precision": float(m.average_precision_score(y == pos, proba)),
        "accuracy": float(m.accuracy_score(y, pred)),
        "balanced_accuracy": float(m.balanced_accuracy_score(y, pred)),
        "f1": float(m.f1_score(y, pred, pos_label=pos, zero_division=0)),
        "precision": float(m.precision_score(y, pred, pos_label=pos, zero_division=0)),
        "recall": float(m.recall_score(y, pred, pos_label=pos, zero_division=0)),
        "log_loss": float(m.log_loss(y, proba, labels=model.classes_)),
    }


def _client(home: Path) -> Any:
    import mlflow
    from mlflow import MlflowClient

    home.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def _experiment(client: Any, name: str, home: Path) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(client.create_experiment(name, artifact_location=(home / "mlartifacts" / name).as_uri()))


def retrain(project: Project, home: Path, sw: Stopwatch) -> dict[str, Any]:
    """One bare retrain; returns what it decided (for the sanity check against our pipeline)."""
    import mlflow
    import pandas as pd
    import skops.io
    from mlflow.models import infer_signature
    from sklearn.model_selection import train_test_split

    name = project.name
    with sw.lap("read"):
        frame = pd.read_parquet(project.data)
    with sw.lap("validate (GX)"):
        _gx_validate(frame, project.suite)
    with sw.lap("split"):
        frame = frame.dropna(subset=[TARGET])
        train, holdout = train_test_split(
            frame, test_size=HOLDOUT, random_state=SPLIT_SEED, stratify=frame[TARGET]
        )
    with sw.lap("fit"):
        model = _pipeline().fit(train[FEATURES], train[TARGET])
    with sw.lap("score challenger"):
        metrics = _metrics(model, holdout)
    with sw.lap("track (MLflow run, log_model)"):
        client = _client(home)
        exp = _experiment(client, name, home)
        with mlflow.start_run(experiment_id=exp) as run:
            params = {f"model.{k}": v for k, v in model.named_steps["model"].get_params().items()}
            params |= {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "task": "classification",
                       "features.numeric": NUMERIC, "features.categorical": CATEGORICAL}  # fmt: skip
            mlflow.log_params(
                {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in params.items()}
            )
            mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if not math.isnan(v)})
            example = train[FEATURES].head(5)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(example, model.predict(example)),
                input_example=example,
                pip_requirements=PIP_REQUIREMENTS,
                skops_trusted_types=list(skops.io.get_untrusted_types(data=skops.io.dumps(model))),
            )
    with sw.lap("register"):
        version = str(mlflow.register_model(info.model_uri, name).version)
    with sw.lap("load + score champion"):
        try:
            champion = client.get_model_version_by_alias(name, "champion")
        except mlflow.exceptions.MlflowException:  # no champion yet
            champion = None
        old = None
        if champion is not None:
            old = _metrics(mlflow.sklearn.load_model(f"models:/{name}@champion"), holdout)
    with sw.lap("decide + aliases"):
        promote = old is None or (
            metrics["roc_auc"] - old["roc_auc"] > 0
            and metrics["roc_auc"] - old["roc_auc"] >= MIN_IMPROVEMENT
            and old["recall"] - metrics["recall"] <= 0.02
        )
        client.set_registered_model_alias(name, "challenger", version)
        if promote:
            if champion is not None:
                client.set_registered_model_alias(name, "previous", str(champion.version))
            client.set_registered_model_alias(name, "champion", version)
    return {"version": version, "promoted": promote, "roc_auc": metrics["roc_auc"], "run_id": run.info.run_id}


def sample(frame: Any, rows: int, seed: int) -> Any:
    return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed).sort_index(kind="stable")


def monitor(project: Project, home: Path, sw: Stopwatch, out_dir: Path) -> dict[str, Any]:
    """One bare monitor run of the batch file against the champion of `home`'s registry."""
    import warnings

    import mlflow
    import pandas as pd
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import Accuracy, DriftedColumnsCount, F1Score, RocAuc, ValueDrift

    name = project.name
    with sw.lap("read"):
        batch = pd.read_parquet(project.batch)
    with sw.lap("validate (GX)"):
        _gx_validate(batch, project.suite)
    with sw.lap("load champion + reference"):
        client = _client(home)
        champion = client.get_model_version_by_alias(name, "champion")
        model = mlflow.sklearn.load_model(f"models:/{name}@champion")
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=champion.run_id, artifact_path="reference", dst_path=tmp
            )
            reference = pd.read_parquet(Path(local) / "reference.parquet")
    with sw.lap("sample + predict"):
        frames = []
        for frame in (sample(reference, SAMPLE_ROWS, SAMPLE_SEED), sample(batch, SAMPLE_ROWS, SAMPLE_SEED)):
            frame = frame.copy()
            frame["prediction"] = model.predict(frame[FEATURES])
            frame["prediction_proba"] = model.predict_proba(frame[FEATURES])[:, 1]
            frames.append(frame)
        ref, cur = frames
    with sw.lap("Evidently report"):
        definition = DataDefinition(
            numerical_columns=[*NUMERIC, "prediction_proba"],
            categorical_columns=[*CATEGORICAL, "prediction", TARGET],
            classification=[
                BinaryClassification(
                    name="labels", target=TARGET, prediction_labels="prediction", pos_label=1
                ),
                BinaryClassification(
                    name="probas", target=TARGET, prediction_probas="prediction_proba", pos_label=1
                ),
            ],
        )
        # the DataDriftPreset's own metrics without its page (a legacy table that tests every column twice more
        # and draws its plots again): what a script written with Evidently's docs at hand does, and what ours does
        report = Report(
            [DriftedColumnsCount(columns=FEATURES), *(ValueDrift(column=c) for c in FEATURES),
             ValueDrift(column="prediction"), Accuracy(classification_name="labels"),
             F1Score(classification_name="labels"), RocAuc(classification_name="probas")],
            include_tests=True,
        )  # fmt: skip
        used = [*NUMERIC, "prediction_proba", *CATEGORICAL, "prediction", TARGET]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snapshot = report.run(
                current_data=Dataset.from_pandas(cur[used], data_definition=definition),
                reference_data=Dataset.from_pandas(ref[used], data_definition=definition),
            )
        result = snapshot.dict()
    with sw.lap("save HTML + snapshot"):
        out_dir.mkdir(parents=True, exist_ok=True)
        html, snap = out_dir / "drift.html", out_dir / "snapshot.json"
        snapshot.save_html(str(html))
        snap.write_text(snapshot.dumps(), encoding="utf-8")
    with sw.lap("track (MLflow run)"):
        exp = _experiment(client, name, home)
        with mlflow.start_run(experiment_id=exp):
            mlflow.set_tags({"kind": "monitor", "champion_version": str(champion.version)})
            mlflow.log_artifact(str(html), artifact_path="drift")
            mlflow.log_artifact(str(snap), artifact_path="drift")
    drifted = sum(
        1 for m in result.get("metrics", []) if m.get("config", {}).get("type", "").endswith("ValueDrift")
    )
    return {"rows": len(batch), "metrics": drifted, "pid": os.getpid()}


def warm_evidently(sw: Stopwatch) -> dict[str, Any]:
    """Import Evidently and run one small drift report, so the first timed monitor does not pay for it."""
    from common import synthetic_frame
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    with sw.lap("Evidently warm-up"):
        ref, cur = synthetic_frame(1000, 1), synthetic_frame(1000, 2, shift=0.3)
        definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
        Report([DriftedColumnsCount(columns=FEATURES), *(ValueDrift(column=c) for c in FEATURES)]).run(
            current_data=Dataset.from_pandas(cur[FEATURES], data_definition=definition),
            reference_data=Dataset.from_pandas(ref[FEATURES], data_definition=definition),
        )
    return {}
