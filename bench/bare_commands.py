"""The bare fresh-process baselines of bench/commands.py: what a plain script doing the same work as each `mlops`
command costs when it, too, starts as a new process (interpreter, imports, stores). No mlops code, no Prefect.

    python bench/bare_commands.py registry HOME MODEL       # `mlops status`/`history`: the model's versions and
                                                            # aliases read with MlflowClient from the SQLite store
    python bench/bare_commands.py specs DIR...              # `mlops validate`: each spec's YAML read, its suite
                                                            # built as a GX suite, its estimator class imported
    python bench/bare_commands.py retrain-small HOME SPEC   # the small example's retrain (below)
    python bench/bare_commands.py retrain-large PROJECT HOME  # bare.py's retrain of the synthetic project

retrain-small is deployments/diabetes.yaml's retrain written by hand: scikit-learn's diabetes data (unscaled),
GX validation of the same suite, the same random 75/25 split, median imputation + scaling + Ridge(alpha=0.1),
rmse/mae/mape/r2 on the holdout, an MLflow run (params, metrics, log_model with signature, input example and
pip_requirements), register_model, the champion loaded by alias and scored on the same holdout, the same rule
(rmse better by 0.5, mae no worse by 1.0), the aliases set.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Project, Stopwatch, apply_quiet_env  # noqa: E402


def registry(home: Path, model: str) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    versions = client.search_model_versions(f"name = '{model}'")
    aliases = client.get_registered_model(model).aliases
    print(len(versions), aliases)


def specs(paths: list[Path]) -> None:
    import great_expectations as gx
    import yaml

    for path in paths:
        for spec_path in sorted(path.glob("*.yaml")) if path.is_dir() else [path]:
            spec = yaml.safe_load(spec_path.read_text())
            suite = spec.get("quality", {}).get("suite")
            if suite:
                raw = json.loads(Path(suite).read_text())
                gx.ExpectationSuite(name=raw["name"], expectations=raw["expectations"])
            module, _, cls = spec["model"]["estimator"].rpartition(".")
            getattr(importlib.import_module(module), cls)(**(spec["model"].get("params") or {}))


def _small_metrics(model: Any, x: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics as m

    pred = model.predict(x)
    return {
        "rmse": float(m.root_mean_squared_error(y, pred)),
        "mae": float(m.mean_absolute_error(y, pred)),
        "mape": float(m.mean_absolute_percentage_error(y, pred)),
        "r2": float(m.r2_score(y, pred)),
    }


def retrain_small(home: Path, suite_path: Path) -> None:
    import mlflow
    import skops.io
    from bare import PIP_REQUIREMENTS, _client, _experiment, _gx_validate
    from mlflow.models import infer_signature
    from sklearn import datasets
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    name = "diabetes-bare"
    frame = datasets.load_diabetes(as_frame=True, scaled=False).frame.copy()
    _gx_validate(frame, suite_path)
    features = [c for c in frame.columns if c != "target"]
    train, holdout = train_test_split(frame, test_size=0.25, random_state=11)
    model = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", Ridge(alpha=0.1)),
        ]
    ).fit(train[features], train["target"])
    metrics = _small_metrics(model, holdout[features], holdout["target"])
    client = _client(home)
    exp_id = _experiment(client, name, home)
    with mlflow.start_run(experiment_id=exp_id):
        mlflow.log_params({"estimator": "sklearn.linear_model.Ridge", "alpha": 0.1})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        example = train[features].head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
            skops_trusted_types=list(skops.io.get_untrusted_types(data=skops.io.dumps(model))),
        )
    version = str(mlflow.register_model(info.model_uri, name).version)
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except mlflow.exceptions.MlflowException:  # no champion yet
        champion = None
    promote = champion is None
    if champion is not None:
        old = _small_metrics(
            mlflow.sklearn.load_model(f"models:/{name}@champion"), holdout[features], holdout["target"]
        )
        promote = old["rmse"] - metrics["rmse"] >= 0.5 and metrics["mae"] - old["mae"] <= 1.0
    client.set_registered_model_alias(name, "challenger", version)
    if promote:
        client.set_registered_model_alias(name, "champion", version)
    print(version, promote)


def retrain_large(project: Path, home: Path) -> None:
    from bare import retrain

    print(retrain(Project(project, "bench"), home, Stopwatch()))


if __name__ == "__main__":
    apply_quiet_env()
    what, *args = sys.argv[1:]
    if what == "registry":
        registry(Path(args[0]), args[1])
    elif what == "specs":
        specs([Path(a) for a in args])
    elif what == "retrain-small":
        retrain_small(Path(args[0]), Path(args[1]))
    elif what == "retrain-large":
        retrain_large(Path(args[0]), Path(args[1]))
    else:
        raise SystemExit(__doc__)
