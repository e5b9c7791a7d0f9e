"""The predict flow on a real Prefect API, real MLflow (SQLite) and real GX: predictions carry the model's lineage
on every row and in the Parquet metadata, unscorable rows land in the rejects file with their reason, a pinned
version or alias scores in the shadow, and a failed run leaves no file (nor a partial one) behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from flows.predict import predict
from flows.retrain import retrain
from mlops.errors import BadOption, DataError, NoChampion, QualityGateFailed
from mlops.settings import get_settings
from mlops.write_targets import OutputRefused
from tasks.data import Features
from tasks.predict import LINEAGE, PREDICTION, PROBA, ModelRef, read_metadata, rejects_path, score_batch
from tasks.tracking import champion, store
from tasks.tracking.predictions import NoSuchModelVersion, load_predictions_sample
from tests.conftest import cancer_frame, spec_text

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

MODEL = "cancer-model"
TARGET = "target"


def use_spec(project: Path) -> str:
    path = project / "deployments" / "cancer.yaml"
    path.write_text(spec_text(extra="monitoring: {max_sample_rows: 100, seed: 5}\n"))
    return str(path)


def write_batch(project: Path, frame: pd.DataFrame, name: str = "batch.csv") -> str:
    folder = project / "batches"
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return str(folder / name)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_predictions_carry_lineage_and_unscorable_rows_are_listed_with_the_reason(project: Path) -> None:
    spec = use_spec(project)
    trained = retrain(spec)
    frame = cancer_frame().drop(columns=[TARGET])
    frame["mean_texture"] = frame["mean_texture"].astype(object)
    frame.loc[3, "mean_texture"] = "unknown"  # text in a numeric column: cannot be scored
    frame.loc[7, "mean_area"] = np.inf  # an infinite number: cannot be scored
    batch = write_batch(project, frame)
    out = project / "out" / "cancer.parquet"

    result = predict(spec, out=str(out), batch=batch, chunk_rows=200)

    assert (result.rows, result.scored, result.rejected, result.chunks) == (len(frame), len(frame) - 2, 2, 3)
    written = pd.read_parquet(out)
    assert len(written) == len(frame) - 2
    assert {*frame.columns, PREDICTION, PROBA, *LINEAGE} == set(written.columns)
    assert set(written["model_name"]) == {MODEL}
    assert set(written["model_version"]) == {"1"} == {trained.version}
    assert set(written["model_run_id"]) == {trained.run_id}
    assert written["prediction_proba"].between(0, 1).all()
    meta = read_metadata(out)
    assert (meta["model_name"], meta["model_version"], meta["model_run_id"]) == (MODEL, "1", trained.run_id)
    assert meta["selected_by"] == "alias champion" and meta["batch"] == batch

    # chunked scoring gives what one call of the model on the clean rows gives
    model = champion.load_champion(MODEL)
    assert model is not None
    clean = cancer_frame().drop(columns=[TARGET]).drop(index=[3, 7])
    assert list(written[PREDICTION]) == list(model.model.predict(clean[model.features]))

    rejects = pd.read_csv(rejects_path(out))
    assert list(rejects["row"]) == [3, 7]
    assert rejects.loc[0, "reject_reason"] == "'mean_texture' is not a number: unknown"
    assert rejects.loc[1, "reject_reason"] == "'mean_area' is infinite"
    assert leftovers(out.parent) == []

    # the predict run in MLflow: tagged with the version, holding the seeded sample the monitor would draw
    run = MlflowClient(get_settings().tracking_uri).get_run(result.run_id)
    assert run.data.tags["mlops.kind"] == "predict" and run.data.tags["mlops.model_version"] == "1"
    assert run.data.metrics["rejected"] == 2
    logged = load_predictions_sample(result.run_id)
    assert {PREDICTION, "model_version"} <= set(logged.columns)
    # the rows the monitor's seeded sample of this batch draws (tasks.drift_summary.sample), less the rejects
    from mlops.spec import load_spec
    from tasks.data import load_batch
    from tasks.drift import sample

    whole = load_batch(load_spec(spec), batch)  # the batch as the monitor reads it, whole
    assert set(logged.index) == set(sample(whole, 100, seed=5).index) - {3, 7}
    assert store.client().get_model_version(MODEL, "1").tags["mlops.last_predict_run"] == result.run_id


def test_a_pinned_version_or_alias_scores_in_the_shadow(project: Path) -> None:
    spec = use_spec(project)
    retrain(spec)
    second = retrain(spec, params={"C": 0.001})  # version 2 holds `challenger` whether or not it was promoted
    assert second.version == "2"
    batch = write_batch(project, cancer_frame().drop(columns=[TARGET]).head(50))
    out = project / "out"

    by_alias = predict(spec, out=str(out / "shadow.parquet"), batch=batch, alias="challenger")
    by_version = predict(spec, out=str(out / "v1.parquet"), batch=batch, version="1")

    assert set(pd.read_parquet(out / "shadow.parquet")["model_version"]) == {"2"}
    assert read_metadata(out / "shadow.parquet")["selected_by"] == "alias challenger"
    assert set(pd.read_parquet(out / "v1.parquet")["model_version"]) == {"1"}
    assert (by_alias.model_version, by_version.model_version) == ("2", "1")
    with pytest.raises(NoSuchModelVersion, match="has no version 9"):
        predict(spec, out=str(out / "v9.parquet"), batch=batch, version="9")
    assert not (out / "v9.parquet").exists()


def test_a_failed_run_leaves_no_file(project: Path) -> None:
    spec = use_spec(project)
    batch = write_batch(project, cancer_frame().drop(columns=[TARGET]))
    out = project / "out" / "p.parquet"
    with pytest.raises(NoChampion):
        predict(spec, out=str(out), batch=batch)
    retrain(spec)
    bad = cancer_frame().drop(columns=[TARGET])
    bad.loc[:40, "mean_radius"] = None  # the suite expects no nulls there: the quality gate stops the batch
    with pytest.raises(QualityGateFailed):
        predict(spec, out=str(out), batch=write_batch(project, bad, "bad.csv"))
    assert not out.exists() and not rejects_path(out).exists()


def test_a_feature_empty_in_every_row_stops_predict_unless_allowed_and_an_input_is_never_an_output(
    project: Path,
) -> None:
    """A batch whose feature is empty in every row was predicted from imputed values, exit 0, nothing said: now it
    stops (exit 1) naming the column, nothing written, unless --allow-empty-feature names it. And a deployment run
    (the flow called directly, no CLI in front) refuses an --out that is its batch before any work."""
    spec = use_spec(project)
    retrain(spec)
    frame = cancer_frame().drop(columns=[TARGET])
    frame["mean_texture"] = np.nan  # a broken feed: the column arrives, empty in every row
    batch = write_batch(project, frame)
    out = project / "out" / "p.parquet"

    with pytest.raises(DataError, match="cannot judge: 'mean_texture' \\(all null in the batch\\)") as caught:
        predict(spec, out=str(out), batch=batch, chunk_rows=200)  # three chunks: counted across them
    assert caught.value.exit_code == 1
    text = str(caught.value)
    assert f"its {len(frame)} rows" in text and "--allow-empty-feature mean_texture" in text
    assert not out.parent.exists()  # nothing written, not even the folder

    with pytest.raises(BadOption, match="did you mean 'mean_texture'"):
        predict(spec, out=str(out), batch=batch, allow_empty_features=["mean_textur"])

    result = predict(spec, out=str(out), batch=batch, allow_empty_features=["mean_texture"])
    assert result.empty_features == ("mean_texture",) and result.scored == len(frame)
    assert pq.read_metadata(out).num_rows == len(frame)

    source = project / "data" / "cancer.csv"
    before = {p: p.read_bytes() for p in (Path(batch), source)}
    with pytest.raises(OutputRefused, match="is a file this run reads"):
        predict(spec, out=batch, batch=batch)
    with pytest.raises(OutputRefused, match="is a file this run reads"):
        predict(spec, out=str(source), batch=batch)  # the spec's training source is never an output either
    assert {p: p.read_bytes() for p in before} == before
    assert leftovers(Path(batch).parent) == [] and leftovers(source.parent) == []


class FailsOnSecondChunk:
    """A fitted model that breaks while the file is half written (its second chunk)."""

    def __init__(self, model: object) -> None:
        self.model, self.calls = model, 0
        self.classes_ = model.classes_  # type: ignore[attr-defined]

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        if len(x) > 1:  # the one-row null probes pass
            self.calls += 1
            if self.calls == 2:
                raise ValueError("disk on fire")
        return self.model.predict(x)  # type: ignore[attr-defined, no-any-return]

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(x)  # type: ignore[attr-defined, no-any-return]


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_part(project: Path) -> None:
    spec = use_spec(project)
    retrain(spec)
    loaded = champion.load_champion(MODEL)
    assert loaded is not None
    frame = cancer_frame().drop(columns=[TARGET])
    frame["mean_area"] = frame["mean_area"].astype(object)
    frame.loc[0, "mean_area"] = "x"  # a reject is being written too
    out = project / "out" / "p.parquet"
    out.parent.mkdir()
    out.write_bytes(b"yesterday's predictions")
    features = Features([c for c in frame.columns], [])
    with pytest.raises(DataError, match="disk on fire"):
        score_batch(FailsOnSecondChunk(loaded.model), frame, features, "classification",
                    ModelRef(MODEL, "1", "r"), str(out), chunk_rows=100)  # fmt: skip
    assert out.read_bytes() == b"yesterday's predictions"
    assert not rejects_path(out).exists()
    assert leftovers(out.parent) == []
    # and the same call with a healthy model replaces it with a complete file
    score_batch(
        loaded.model, frame, features, "classification", ModelRef(MODEL, "1", "r"), str(out), chunk_rows=100
    )
    assert pq.read_metadata(out).num_rows == len(frame) - 1


@pytest.mark.parametrize(("impute", "rejected"), [("none", 1), ("mean", 0)])
def test_an_empty_value_is_rejected_only_where_the_model_cannot_take_it(
    tmp_path: Path, impute: str, rejected: int
) -> None:
    from mlops.spec import Model
    from tasks.train import build_pipeline

    frame = cancer_frame()
    numeric = [c for c in frame.columns if c != TARGET]
    spec = Model.model_validate({
        "task": "classification", "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 500}, "preprocessing": {"numeric": {"impute": impute, "scale": True}},
    })  # fmt: skip
    model = build_pipeline(spec, Features(numeric, []), seed=0).fit(frame[numeric], frame[TARGET])
    batch = frame.drop(columns=[TARGET])
    batch.loc[5, "mean_radius"] = np.nan
    out = tmp_path / "p.parquet"
    scored = score_batch(
        model, batch, Features(numeric, []), "classification", ModelRef("m", "1", "r"), str(out)
    )
    assert (scored.scored, scored.rejected) == (len(batch) - rejected, rejected)
    rejects = pd.read_csv(rejects_path(out))
    assert list(rejects["row"]) == ([5] if rejected else [])
    if rejected:
        assert (
            rejects.loc[0, "reject_reason"]
            == "'mean_radius' is empty and the model cannot take an empty value"
        )
