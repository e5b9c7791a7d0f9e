"""The monitor flow on a real Prefect API, real MLflow (SQLite), real GX and real Evidently: bad batches stop with
a message naming what is wrong, a drifted batch is recorded on an MLflow run linked to the champion it judged, and
the drift policy retrains once per drift episode (cooldown in data time)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.monitor import monitor
from flows.retrain import retrain
from mlops.errors import DataError, NoChampion
from mlops.settings import get_settings
from tasks.drift import load_snapshot
from tasks.tracking import champion, store
from tests.conftest import SUITE, cancer_frame, spec_text
from tests.integration.conftest import CANCER_ALERT, timed_spec

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

MODEL = "cancer-model"
ALERT = CANCER_ALERT


# --- helpers ---------------------------------------------------------------------------------------------------


def use_spec(project: Path, *, suite: bool = True, monitoring: str = ALERT) -> str:
    """The project's cancer spec, rewritten with the given monitoring section (and without its suite)."""
    path = project / "deployments" / "cancer.yaml"
    path.write_text(spec_text(suite="expectations/cancer.json" if suite else None, extra=monitoring))
    return str(path)


def write_batch(project: Path, name: str, frame: pd.DataFrame) -> str:
    folder = project / "batches"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return str(path)


def shifted(frame: pd.DataFrame, columns: list[str], by_std: float = 5.0) -> pd.DataFrame:
    """The frame with each of `columns` moved by `by_std` of its own standard deviations: unmistakable drift."""
    out = frame.copy()
    out[columns] = out[columns] + by_std * out[columns].std()
    return out


def numeric_features(frame: pd.DataFrame, target: str) -> list[str]:
    return [c for c in frame.columns if c != target and pd.api.types.is_numeric_dtype(frame[c])]


def monitor_runs(pipeline: str) -> list:
    c = MlflowClient(get_settings().tracking_uri)
    return c.search_runs([store.experiment_id(pipeline)], filter_string="tags.`mlops.kind` = 'monitor'")


def registry(name: str) -> dict:
    c = store.client()
    versions = sorted(int(v.version) for v in c.search_model_versions(f"name = '{name}'"))
    aliases = {a: champion.alias_version(c, name, a) for a in ("champion", "challenger", "previous")}
    return {"versions": versions, "aliases": aliases}


def run_id_of(run_url: str) -> str:
    return run_url.rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture
def trained(use_trained: Callable[[str], Any]) -> None:
    """This test's MLOPS_HOME starts as a copy of the session's trained home of the cancer spec (use_spec's default;
    tests/integration/conftest.py::trained_homes): most tests below judge a batch against that same first champion
    instead of training it again (7 identical retrains a run before)."""
    use_trained("cancer")
    assert registry(MODEL) == {
        "versions": [1],
        "aliases": {"champion": "1", "challenger": "1", "previous": None},
    }


# --- bad batches -------------------------------------------------------------------------------------------------


def test_no_champion_yet_says_how_to_train_one(project: Path) -> None:
    spec = use_spec(project)
    batch = write_batch(project, "batch.csv", cancer_frame())
    with pytest.raises(NoChampion) as info:
        monitor(spec, batch=batch)
    message = str(info.value)
    assert f"mlops run retrain {spec}" in message and MODEL in message, message
    assert registry(MODEL)["versions"] == []


@pytest.mark.usefixtures("trained")
def test_batch_missing_a_model_column_stops_naming_it(project: Path) -> None:
    spec = use_spec(project)
    # mean_texture is a model input but not in the suite: the batch passes the gate and must fail the input check.
    batch = write_batch(project, "missing.csv", cancer_frame().drop(columns=["mean_texture"]))
    with pytest.raises(DataError, match="mean_texture") as info:
        monitor(spec, batch=batch)
    assert "lacks" in str(info.value) or "missing" in str(info.value), info.value
    assert monitor_runs("cancer") == []  # nothing was judged, nothing was recorded


@pytest.mark.usefixtures("trained")
def test_extra_column_is_ignored_with_a_note_and_a_clean_batch_is_not_drift(project: Path) -> None:
    spec = use_spec(project)
    frame = cancer_frame()
    frame["operator_comment"] = "checked twice"
    result = monitor(spec, batch=write_batch(project, "extra.csv", frame))
    assert any("operator_comment" in n for n in result.notes), result.notes
    assert "operator_comment" not in [c.column for c in result.drift.columns]
    assert not result.verdict.drifted and result.verdict.action == "none", result.verdict.reasons
    assert result.drift.drifted_share < 0.3
    assert result.retrain is None and result.rows == len(frame)


@pytest.mark.usefixtures("trained")
def test_numeric_column_as_text_stops_naming_it(project: Path) -> None:
    spec = use_spec(project)
    frame = cancer_frame()
    frame["mean_texture"] = frame["mean_texture"].map(lambda v: f"{v:.2f}")  # numbers, stored as text
    batch = write_batch(project, "as-text.parquet", frame)
    with pytest.raises(DataError, match="mean_texture") as info:
        monitor(spec, batch=batch)
    assert "numeric" in str(info.value), info.value
    assert monitor_runs("cancer") == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [("", "empty"), ("header-only", "no rows")],
    ids=["zero-byte-file", "header-only-csv"],
)
@pytest.mark.usefixtures("trained")
def test_empty_batch_stops(project: Path, content: str, expected: str) -> None:
    spec = use_spec(project)
    path = project / "batches" / "empty.csv"
    path.parent.mkdir()
    path.write_text(",".join(cancer_frame().columns) + "\n" if content == "header-only" else "")
    with pytest.raises(DataError, match=expected) as info:
        monitor(spec, batch=str(path))
    assert "batch" in str(info.value), info.value
    assert monitor_runs("cancer") == []


def test_unlabelled_batch_skips_model_quality_and_says_so(project: Path) -> None:
    spec = use_spec(project, suite=False)
    retrain(spec)
    batch = write_batch(project, "unlabelled.csv", cancer_frame().drop(columns=["target"]))
    result = monitor(spec, batch=batch)
    assert result.model_quality is None and result.batch_metric is None
    notes = [*result.drift.notes, *result.notes]
    assert any("no labels" in n and "quality skipped" in n for n in notes), notes
    assert any("quality not compared" in r for r in result.verdict.reasons), result.verdict.reasons
    assert not result.verdict.drifted


@pytest.mark.usefixtures("trained")
def test_unlabelled_batch_is_judged_even_when_the_suite_checks_the_labels(project: Path) -> None:
    """Labels arrive late in production: the training suite names the target, and an unlabelled batch must
    still be judged (label expectations skipped, with a note), not stopped by the quality gate."""
    spec = use_spec(project, suite=True)
    assert "target" in json.dumps(SUITE)  # the suite has an expectation on the label column
    batch = write_batch(project, "unlabelled.csv", cancer_frame().drop(columns=["target"]))
    result = monitor(spec, batch=batch)
    assert result.model_quality is None
    assert any("no labels" in n for n in [*result.drift.notes, *result.notes])


# --- time windows and the retrain loop (a synthetic source with a daily time column) ------------------------------


def test_a_time_window_with_no_rows_stops(timed_project: Path, use_trained: Callable[[str], Any]) -> None:
    spec = timed_spec(timed_project, "alert")
    use_trained("timed")
    with pytest.raises(DataError, match="no rows") as info:
        monitor(spec, start="2030-01-01", end="2030-02-01")
    assert "2030-01-01" in str(info.value), info.value
    assert monitor_runs("timed") == []


def test_retrain_policy_retries_while_drift_retrains_are_rejected(
    timed_project: Path, use_trained: Callable[[str], Any]
) -> None:
    """A rejected drift retrain starts no cooldown (issue #12 item 11): the next drifted period tries again, up to
    monitoring.max_retries_per_episode (3 by default); tests/integration/test_monitor_fail_closed.py has the
    cooldown after a promotion and the bound."""
    spec = timed_spec(timed_project, "retrain")
    first = use_trained("timed")  # the same retrain as `retrain(spec)` here: on_drift is the monitor's
    assert first.decision.promote and registry("timed-model")["versions"] == [1]

    july = monitor(spec, start="2023-07-01", end="2023-08-01")
    assert july.verdict.drifted and july.verdict.action == "retrain", july.verdict.reasons
    assert july.retrain is not None, july.retrain_reason
    assert july.retrain.version == "2" and not july.retrain.decision.promote  # min_improvement 0.9: rejected
    episode = MlflowClient(get_settings().tracking_uri).get_registered_model("timed-model").tags
    assert episode["mlops.drift_episode.start"].startswith("2023-08-01"), episode

    # 15 days of data time later: the same drift episode, and the rejected retrain started no cooldown
    august = monitor(spec, start="2023-08-01", end="2023-08-16")
    assert august.verdict.drifted and august.verdict.action == "retrain"
    assert august.retrain is not None and "attempt 2 of 3" in august.retrain_reason, august.retrain_reason
    run = MlflowClient(get_settings().tracking_uri).get_run(run_id_of(august.run_url))
    assert "drift persists" in run.data.tags["mlops.drift.retrain"]

    october = monitor(spec, start="2023-10-01", end="2023-11-01")
    assert october.verdict.drifted and october.retrain is not None, october.retrain_reason
    assert registry("timed-model") == {
        "versions": [1, 2, 3, 4],
        "aliases": {"champion": "1", "challenger": "4", "previous": None},
    }
    assert len(monitor_runs("timed")) == 3


def test_alert_policy_records_the_drift_and_does_not_retrain(
    timed_project: Path, use_trained: Callable[[str], Any]
) -> None:
    spec = timed_spec(timed_project, "alert")
    use_trained("timed")
    before = registry("timed-model")
    result = monitor(spec, start="2023-07-01", end="2023-08-01")
    assert result.verdict.drifted and result.verdict.action == "alert"
    assert result.retrain is None and "alert" in result.retrain_reason
    assert result.event_id is not None  # mlops.drift.detected was emitted
    assert registry("timed-model") == before
    tags = MlflowClient(get_settings().tracking_uri).get_registered_model("timed-model").tags
    assert "mlops.last_drift_retrain" not in tags
    (run,) = monitor_runs("timed")
    assert run.data.tags["mlops.drift.action"] == "alert"
    assert run.data.metrics["drift_share"] == pytest.approx(result.drift.drifted_share)
    assert run.data.metrics["drift_share"] >= 0.3


# --- a drifted batch, end to end: verdict, MLflow run, HTML report, snapshot ------------------------------------


@pytest.mark.usefixtures("trained")
def test_drifted_batch_is_recorded_on_a_monitor_run_linked_to_the_champion(
    project: Path, tmp_path: Path
) -> None:
    spec = use_spec(project)
    frame = cancer_frame()
    batch = write_batch(project, "drifted.csv", shifted(frame, numeric_features(frame, "target")))
    result = monitor(spec, batch=batch)

    assert result.verdict.drifted and result.verdict.action == "alert", result.verdict.reasons
    assert result.drift.drifted_share >= 0.3 and result.drift.drifted_columns()
    assert result.champion_version == "1"  # the module's trained store

    c = MlflowClient(get_settings().tracking_uri)
    run_id = run_id_of(result.run_url)
    run = c.get_run(run_id)
    assert run.data.tags["mlops.kind"] == "monitor"
    assert run.data.tags["mlops.champion_version"] == champion.champion_version(MODEL) == "1"
    assert run.data.tags["mlops.champion_uri"] == f"models:/{MODEL}/1"
    assert c.get_model_version(MODEL, "1").tags["mlops.last_monitor_run"] == run_id
    artifacts = {a.path for a in c.list_artifacts(run_id, "drift")}
    assert {"drift/drift.html", "drift/snapshot.json"} <= artifacts, artifacts

    assert (
        result.drift.html_path and "<html" in Path(result.drift.html_path).read_text(encoding="utf-8").lower()
    )
    logged = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="drift", dst_path=str(tmp_path))
    )
    assert "<html" in (logged / "drift.html").read_text(encoding="utf-8").lower()
    reloaded = load_snapshot(logged / "snapshot.json")
    assert reloaded.drifted_share == pytest.approx(result.drift.drifted_share)
    assert [col.column for col in reloaded.drifted_columns()] == [
        col.column for col in result.drift.drifted_columns()
    ]
    assert registry(MODEL)["versions"] == [1]  # alert: nothing retrained
