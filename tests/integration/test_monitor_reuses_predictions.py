"""The monitor reads the predictions a `predict` run logged for the same batch and the same champion version
(same batch fingerprint, seed and sample size) instead of predicting again, and says which it did; any other batch
or model version is predicted as before. Real Prefect API, real MLflow (SQLite), real GX and Evidently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows.monitor import monitor
from flows.predict import predict
from flows.retrain import retrain
from tasks.data import load_batch
from tasks.data.stream import Fingerprint, batch_chunks, fingerprint, open_batch
from tests.conftest import cancer_frame, spec_text

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def write(project: Path, frame: pd.DataFrame, name: str) -> str:
    path = project / name
    frame.to_csv(path, index=False)
    return str(path)


def test_the_monitor_reuses_a_predict_runs_logged_sample_of_the_same_batch(project: Path) -> None:
    from mlops.spec import load_spec

    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec_text(extra="monitoring: {max_sample_rows: 100, seed: 5}\n"))
    retrain(str(spec))
    batch = write(project, cancer_frame().drop(columns=["target"]), "batch.csv")
    other = write(project, cancer_frame().drop(columns=["target"]).head(400), "other.csv")

    # the fingerprint a chunked read takes is the one the monitor's whole read gives
    loaded = load_spec(str(spec))
    fp = Fingerprint()
    for chunk in batch_chunks(open_batch(loaded, batch, None, None, 100), 100):
        fp.add(chunk)
    assert fp.hexdigest() == fingerprint(load_batch(loaded, batch))

    made = monitor(str(spec), batch=batch)  # before any predict run of this batch: predicted here
    predicted = predict(str(spec), out=str(project / "p.parquet"), batch=batch, chunk_rows=100)
    reused = monitor(str(spec), batch=batch)
    fresh = monitor(str(spec), batch=other)

    assert f"Predictions: reused the sample logged by predict run {predicted.run_id}" in " ".join(
        reused.notes
    )
    for result in (made, fresh):
        assert "Predictions: made here by champion v1" in " ".join(result.notes)
        assert not any("reused" in n for n in result.notes)
    # the same champion, the same rows: the verdict does not depend on where the predictions came from (the
    # predict run's logged sample, scored in chunks of 100 rows, or the monitor's own predictions)
    assert reused.drift.drifted_share == made.drift.drifted_share
    assert [(c.column, c.score) for c in reused.drift.columns] == [
        (c.column, c.score) for c in made.drift.columns
    ]
    ours, theirs = reused.drift.prediction_drift, made.drift.prediction_drift
    assert ours is not None and theirs is not None and ours.column == theirs.column == "prediction_proba"
    assert ours.score == pytest.approx(theirs.score) and ours.drifted == theirs.drifted
    assert reused.verdict.action == made.verdict.action
