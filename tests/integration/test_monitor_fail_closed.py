"""Issue #12, items 9-11, on the real monitor flow (Prefect test server, MLflow on SQLite, GX, Evidently):
a feature the monitor cannot judge counts as drifted and is named (or stops the batch); the batch's quality is
computed for every promotion metric by the function that scored the champion's holdout; prediction drift is
watched on probabilities; a rejected drift retrain starts no cooldown, a promoted one does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.monitor import monitor
from flows.retrain import retrain
from mlops.errors import DataError
from mlops.settings import get_settings
from tasks.report import monitor_markdown
from tests.conftest import cancer_frame
from tests.integration.conftest import ACCURACY_PROMOTES, CANCER_ALERT, timed_spec
from tests.integration.test_monitor_flow import monitor_runs, registry, run_id_of, use_spec, write_batch

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

Trainer = Callable[[str], Any]  # tests/integration/conftest.py::use_trained: a copy of a session-trained home


def monitoring(**fields: object) -> str:
    inner = ", ".join(
        f"{k}: {v}" for k, v in {"drift_share_threshold": 0.03, "on_drift": "alert", **fields}.items()
    )
    return f"monitoring: {{{inner}}}\n"


def run_tags(run_url: str) -> dict[str, str]:
    return MlflowClient(get_settings().tracking_uri).get_run(run_id_of(run_url)).data.tags


# --- item 9: a feature the monitor cannot judge ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda f: f.assign(mean_texture=np.nan), "all null in the batch"),
        (lambda f: f.assign(mean_texture=17.5), "a single value in the batch"),
    ],
    ids=["all-null", "constant"],
)
def test_an_unjudgeable_feature_counts_as_drifted_and_is_named(
    project: Path, use_trained: Trainer, change, why: str
) -> None:
    spec = use_spec(project, monitoring=monitoring())
    use_trained("cancer")
    # mean_texture is a model input the suite does not check: the batch passes the gate
    result = monitor(spec, batch=write_batch(project, "batch.csv", change(cancer_frame())))
    assert list(result.drift.unjudgeable) == ["mean_texture"], result.drift.unjudgeable
    assert why in result.drift.unjudgeable["mean_texture"]
    assert "mean_texture" in [c.column for c in result.drift.drifted_columns()]
    n = len(result.drift.columns)
    assert n == 30 and result.drift.drifted_share >= 1 / n  # counted, never "0 of N drifted"
    assert result.verdict.drifted and result.verdict.action == "alert", result.verdict.reasons
    assert any("mean_texture (" + why in r for r in result.verdict.reasons), result.verdict.reasons
    assert "cannot be judged" in result.drift.headline()
    assert "mean_texture (" + why in monitor_markdown(result)
    tags = run_tags(result.run_url)
    assert tags["mlops.drift.unjudgeable"] == "mean_texture"


def test_an_all_null_feature_alerts_whatever_the_drift_share(project: Path, use_trained: Trainer) -> None:
    """Issue 23: 1 column of 30 is far under a share of 0.9; the broken feed still alerts (on_unjudgeable: alert,
    the default) and emits the event, unless the spec says on_unjudgeable: drift in so many words."""
    spec = use_spec(project, monitoring=monitoring(drift_share_threshold=0.9))
    use_trained("cancer")
    batch = write_batch(project, "empty-column.csv", cancer_frame().assign(mean_texture=np.nan))
    result = monitor(spec, batch=batch)
    assert result.drift.drifted_share < 0.9 and not result.verdict.drifted
    assert result.verdict.broken_feed and result.verdict.action == "alert", result.verdict.reasons
    assert result.verdict.reasons[0].startswith(
        "1 feature column the monitor cannot judge (mean_texture (all null"
    )
    assert result.event_id is not None  # the Prefect event a scheduled run is watched by
    assert "unjudgeable features" in monitor_markdown(result)

    quiet = use_spec(project, monitoring=monitoring(drift_share_threshold=0.9, on_unjudgeable="drift"))
    result = monitor(quiet, batch=batch)
    assert result.verdict.action == "none" and not result.verdict.broken_feed, result.verdict.reasons
    assert result.event_id is None


def test_on_unjudgeable_stop_stops_the_batch_naming_the_column(project: Path, use_trained: Trainer) -> None:
    spec = use_spec(project, monitoring=monitoring(on_unjudgeable="stop"))
    use_trained("cancer")
    batch = write_batch(project, "empty-column.csv", cancer_frame().assign(mean_texture=np.nan))
    with pytest.raises(DataError, match=r"mean_texture \(all null in the batch\)") as info:
        monitor(spec, batch=batch)
    assert info.value.exit_code == 1 and "on_unjudgeable" in str(info.value)
    assert monitor_runs("cancer") == []


# --- item 10: one definition of each metric ---------------------------------------------------------------------


def test_a_metric_evidently_never_computed_still_gets_a_batch_figure_and_a_quality_verdict(
    project: Path,
) -> None:
    """average_precision was not one of Evidently's figures: it silently disabled max_quality_drop."""
    spec_path = Path(
        use_spec(project, monitoring=monitoring(drift_share_threshold=0.9, max_quality_drop=0.05))
    )
    spec_path.write_text(spec_path.read_text().replace("metric: roc_auc", "metric: average_precision"))
    trained = retrain(str(spec_path))
    frame = cancer_frame()
    flipped = frame.assign(target=frame["target"].map({"benign": "malignant", "malignant": "benign"}))
    result = monitor(str(spec_path), batch=write_batch(project, "flipped.csv", flipped))
    assert result.metric == "average_precision"
    assert (
        result.batch_metric is not None
        and result.batch_metric < trained.challenger_metrics["average_precision"]
    )
    assert result.model_quality is not None and set(result.model_quality) == set(trained.challenger_metrics)
    assert result.verdict.quality_dropped and result.verdict.action == "alert", result.verdict.reasons
    assert any("more than max_quality_drop 0.05" in r for r in result.verdict.reasons)
    run = MlflowClient(get_settings().tracking_uri).get_run(run_id_of(result.run_url))
    assert run.data.metrics["batch_average_precision"] == pytest.approx(result.batch_metric)


def test_the_same_rows_score_the_same_as_in_training(project: Path, use_trained: Trainer) -> None:
    """The batch figure of a batch made of the champion's holdout is its holdout figure: one definition."""
    spec = use_spec(project, monitoring=monitoring(drift_share_threshold=0.9))
    trained = use_trained("cancer")
    from tasks.tracking.runs import load_reference

    run = MlflowClient(get_settings().tracking_uri).get_run(trained.run_id)
    reference, _ = load_reference(run.info.run_id)
    result = monitor(spec, batch=write_batch(project, "holdout.csv", reference))
    assert result.model_quality is not None
    for name, value in trained.challenger_metrics.items():
        assert result.model_quality[name] == pytest.approx(value), name
    assert result.drift.prediction_drift is not None
    assert result.drift.prediction_drift.column == "prediction_proba"  # probabilities, not labels
    assert not result.drift.prediction_drift.drifted


def test_a_metric_that_cannot_be_computed_on_the_batch_says_why(project: Path, use_trained: Trainer) -> None:
    spec = use_spec(project, monitoring=monitoring(drift_share_threshold=0.9, max_quality_drop=0.05))
    use_trained("cancer")
    frame = cancer_frame()
    one_class = frame[frame["target"] == "benign"]
    result = monitor(spec, batch=write_batch(project, "benign-only.csv", one_class))
    # no realised roc_auc on one class: the verdict judges the estimate instead (issue 14), and says so
    assert result.batch_metric is None and result.verdict.quality_source == "estimated"
    assert any(
        r.startswith("quality not compared: roc_auc: the batch's") and "single class" in r
        for r in result.verdict.reasons
    ), result.verdict.reasons
    assert (
        result.model_quality is not None and result.model_quality["accuracy"] >= 0
    )  # the others are computed


# --- item 11: a drift episode ends with a model that answers it ----------------------------------------------------


def episode_tags() -> dict[str, str]:
    tags = MlflowClient(get_settings().tracking_uri).get_registered_model("timed-model").tags
    return {k: v for k, v in tags.items() if "drift" in k}


def test_a_rejected_drift_retrain_starts_no_cooldown_and_retries_are_bounded(
    timed_project: Path, use_trained: Trainer
) -> None:
    spec = timed_spec(
        timed_project,
        **{"  retrain_window_days: 30": "  retrain_window_days: 30\n  max_retries_per_episode: 2"},
    )
    use_trained("timed")

    july = monitor(spec, start="2023-07-01", end="2023-08-01")
    assert july.retrain is not None and not july.retrain.decision.promote  # min_improvement 0.9: rejected
    assert "2023-07-02" in july.retrain_reason and "attempt 1 of 2" in july.retrain_reason, (
        july.retrain_reason
    )
    tags = episode_tags()
    assert tags["mlops.drift_episode.attempts"] == "1", tags
    assert tags["mlops.drift_episode.last_outcome"].startswith("rejected (v2)"), tags
    assert tags.get("mlops.last_drift_promotion", "") == ""

    # 15 days later, still drifted: the rejected retrain started no cooldown, so it tries again
    august = monitor(spec, start="2023-08-01", end="2023-08-16")
    assert august.retrain is not None, august.retrain_reason
    assert "drift persists" in august.retrain_reason and "rejected (v2)" in august.retrain_reason
    assert "attempt 2 of 2" in august.retrain_reason
    assert episode_tags()["mlops.drift_episode.attempts"] == "2"

    # the episode's retries are used up: it alerts, says why, and retrains no more
    october = monitor(spec, start="2023-10-01", end="2023-11-01")
    assert october.verdict.action == "retrain" and october.retrain is None and october.event_id is not None
    assert (
        "drift persists" in october.retrain_reason
        and "max_retries_per_episode is 2" in october.retrain_reason
    )
    assert registry("timed-model")["versions"] == [1, 2, 3]
    assert "drift persists" in run_tags(october.run_url)["mlops.drift.retrain"]


def test_a_promoted_drift_retrain_starts_the_cooldown(timed_project: Path, use_trained: Trainer) -> None:
    spec = timed_spec(timed_project, **ACCURACY_PROMOTES)
    use_trained("timed-accuracy")
    july = monitor(spec, start="2023-07-01", end="2023-08-01")
    assert july.retrain is not None and july.retrain.decision.promote, july.retrain.decision.reasons
    tags = episode_tags()
    assert tags["mlops.last_drift_promotion"].startswith("2023-08-01"), tags
    assert tags["mlops.drift_episode.attempts"] == "0"

    august = monitor(spec, start="2023-08-01", end="2023-08-16")
    assert august.retrain is None and "cooldown 45" in august.retrain_reason, august.retrain_reason
    assert registry("timed-model")["versions"] == [1, 2]


def test_a_champion_promoted_outside_the_monitor_answers_the_episode(
    timed_project: Path, use_trained: Trainer
) -> None:
    """With the retrain left to the deployment (the drift event), the next monitor sees the new champion."""
    spec = timed_spec(timed_project, **ACCURACY_PROMOTES)
    use_trained("timed-accuracy")
    july = monitor(spec, start="2023-07-01", end="2023-08-01", retrain_in_process=False)
    assert july.retrain is None and july.event_id is not None
    assert episode_tags()["mlops.drift_episode.last_outcome"] == "requested by the mlops.drift.detected event"
    promoted = retrain(spec, window_start="2023-07-02T00:00:00+00:00", window_end="2023-08-01T00:00:00+00:00")
    assert promoted.decision.promote
    august = monitor(spec, start="2023-08-01", end="2023-08-16", retrain_in_process=False)
    assert "cooldown" in august.retrain_reason, august.retrain_reason
    assert pd.Timestamp(episode_tags()["mlops.last_drift_promotion"]) == pd.Timestamp("2023-08-01", tz="UTC")


# --- issue 23: a labelled batch is always judged on quality ------------------------------------------------------


def flipped_for_large_tumours(frame: pd.DataFrame) -> pd.DataFrame:
    """The labels of the larger half of the tumours swapped: a real quality drop no feature shows."""
    large = frame["mean_radius"] > frame["mean_radius"].median()
    swapped = frame["target"].map({"benign": "malignant", "malignant": "benign"})
    return frame.assign(target=frame["target"].where(~large, swapped))


def test_with_no_max_quality_drop_the_champions_floor_judges_a_labelled_batch(
    project: Path, use_trained: Trainer
) -> None:
    """The spec `mlops init` writes (no quality rule): an unchanged labelled batch stays quiet, a real drop alerts
    (it was 'no drift, action: none', exit 0), and the verdict says it in figures."""
    spec = use_spec(project, monitoring=CANCER_ALERT)
    trained = use_trained("cancer")
    artifacts = MlflowClient(get_settings().tracking_uri).list_artifacts(trained.run_id, "monitoring")
    assert "monitoring/quality_floor.json" in [a.path for a in artifacts]

    quiet = monitor(spec, batch=write_batch(project, "same.csv", cancer_frame()))
    assert quiet.verdict.action == "none" and not quiet.verdict.quality_dropped, quiet.verdict.reasons
    assert any(r.startswith("realised roc_auc") and r.endswith(": within") for r in quiet.verdict.reasons)

    dropped = monitor(
        spec, batch=write_batch(project, "flipped.csv", flipped_for_large_tumours(cancer_frame()))
    )
    v = dropped.verdict
    assert v.quality_dropped and v.action == "alert" and dropped.event_id is not None, v.reasons
    assert v.reasons[0].startswith(
        f"realised roc_auc {dropped.batch_metric:.3g} on 569 labelled rows; the champion"
    )
    assert "on 95% of 569-row batches of its holdout: quality drop -> alert" in v.reasons[0]
    assert "quality drop" in monitor_markdown(dropped)


def test_a_champion_without_a_floor_falls_back_to_the_drift_rule_loudly(
    project: Path, use_trained: Trainer
) -> None:
    """A champion trained before the floor was stored (its artifact removed here) is judged as before, and the
    verdict says that quality was NOT judged and how to change that."""
    spec = use_spec(project, monitoring=CANCER_ALERT)
    trained = use_trained("cancer")
    run = MlflowClient(get_settings().tracking_uri).get_run(trained.run_id)
    floor = Path(run.info.artifact_uri.removeprefix("file://")) / "monitoring" / "quality_floor.json"
    floor.unlink()
    result = monitor(
        spec, batch=write_batch(project, "flipped.csv", flipped_for_large_tumours(cancer_frame()))
    )
    assert result.verdict.action == "none", result.verdict.reasons
    said = next(r for r in result.verdict.reasons if "NOT judged on quality" in r)
    assert "trained before its holdout bootstrap" in said and "set monitoring.max_quality_drop" in said
