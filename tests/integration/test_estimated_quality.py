"""Issue 14 (part A) on the real flows (Prefect test server, MLflow on SQLite, GX, Evidently): a retrain stores
the quality estimator and the importance weights with the model's run; the monitor reads them back and reports the
estimated quality next to the realised one and the importance-weighted drift share; a champion trained before them
is judged on drift only, saying so; a corrupt estimator stops the monitor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient

from flows.monitor import monitor
from flows.retrain import retrain
from mlops.cli import render
from mlops.settings import get_settings
from tasks.report import TimelineRow, monitor_markdown, publish_timeline
from tasks.tracking.monitoring import EstimatorUnreadable
from tests.conftest import cancer_frame
from tests.integration.test_monitor_flow import shifted, use_spec, write_batch

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def _artifacts(run_id: str) -> Path:
    uri = MlflowClient(get_settings().tracking_uri).get_run(run_id).info.artifact_uri
    return Path(urlparse(uri).path)


def test_the_estimator_travels_with_the_model_and_the_monitor_reports_it(project: Path) -> None:
    spec = use_spec(project)
    trained = retrain(spec)
    folder = _artifacts(trained.run_id) / "monitoring"
    weights = json.loads((folder / "importance.json").read_text())
    features = [c for c in cancer_frame().columns if c != "target"]
    assert sorted(weights) == sorted(features)
    assert abs(sum(weights.values()) - 1) < 1e-9 and min(weights.values()) >= 0
    assert (folder / "estimator.pkl").stat().st_size > 0
    run = MlflowClient(get_settings().tracking_uri).get_run(trained.run_id)
    assert run.data.metrics["monitoring_fit_seconds"] > 0

    # a labelled batch with the three most important features shifted: estimated next to realised
    top = sorted(weights, key=lambda c: -weights[c])[:3]
    result = monitor(spec, batch=write_batch(project, "shifted.csv", shifted(cancer_frame(), top, 2.0)))
    s = result.signals
    assert s is not None and s.note is None
    assert set(s.estimated) >= {"roc_auc", "accuracy", "f1"} and "roc_auc" in s.realised
    assert s.reference["roc_auc"] == result.reference_metric
    drifted = [c.column for c in result.drift.drifted_columns()]
    assert set(top) <= set(drifted)
    assert s.weighted_drift_share == pytest.approx(sum(weights[c] for c in set(drifted)))
    assert s.drift_share == result.drift.drifted_share
    metrics = (
        MlflowClient(get_settings().tracking_uri).get_run(result.run_url.rsplit("/", 1)[-1]).data.metrics
    )
    assert metrics["estimated_roc_auc"] == pytest.approx(s.estimated["roc_auc"])
    assert metrics["weighted_drift_share"] == pytest.approx(s.weighted_drift_share)
    assert metrics["drift_share"] == pytest.approx(s.drift_share)
    shown = monitor_markdown(result)
    assert "Estimated quality (without labels): roc_auc" in shown and "(realised " in shown
    with render.out.capture() as printed:  # what `mlops run monitor` prints
        render.print_monitor(result)
    text = printed.get()
    assert "Estimated quality (without labels): roc_auc" in text and "weighted by importance" in text


def test_a_corrupt_estimator_stops_and_a_champion_trained_before_it_is_judged_on_drift_only(
    project: Path,
) -> None:
    spec = use_spec(project)
    trained = retrain(spec)
    folder = _artifacts(trained.run_id) / "monitoring"
    batch = write_batch(project, "clean.csv", cancer_frame())
    for broken in ("estimator.pkl", "importance.json"):  # a record that exists but cannot be read: a stop
        saved = (folder / broken).read_bytes()
        (folder / broken).write_bytes(b"not what was saved")
        with pytest.raises(EstimatorUnreadable, match="quality estimator could not be read") as info:
            monitor(spec, batch=batch)
        assert info.value.exit_code == 1 and trained.run_id in str(info.value), broken
        (folder / broken).write_bytes(saved)

    shutil.rmtree(folder)  # what the run of a model trained by an earlier mlops holds: no record at all
    result = monitor(spec, batch=batch)
    s = result.signals
    assert s is not None and s.estimated == {} and s.weighted_drift_share is None
    assert (
        s.note is not None and "estimated quality: not available" in s.note and "retrain to enable" in s.note
    )
    assert f"v{result.champion_version}" in s.note
    assert "roc_auc" in s.realised  # the realised quality is still there when the batch has labels
    assert "estimated quality: not available" in monitor_markdown(result)
    metrics = (
        MlflowClient(get_settings().tracking_uri).get_run(result.run_url.rsplit("/", 1)[-1]).data.metrics
    )
    assert "drift_share" in metrics and not any(k.startswith("estimated_") for k in metrics)


def test_the_timeline_has_the_signal_columns(tmp_path: Path) -> None:
    rows = [
        TimelineRow("2013-07-01", 10, "passed", 0.5, 0.71, "none", "1", 0.125, 0.7, 0.8),
        TimelineRow("2013-08-01", 0, "", None, None, "skipped: no rows", "1"),
    ]
    path = publish_timeline("flights", "roc_auc", rows, tmp_path)
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    assert head[-6:] == ["champion_version", "weighted_drift_share", "estimated_roc_auc", "realised_roc_auc",
                         "reference_roc_auc", "in_training_window"]  # fmt: skip
    assert lines[1].split(",")[-5:] == ["0.125", "0.7", "0.71", "0.8", ""]
    assert lines[2].split(",")[-5:] == ["", "", "", "", ""]
