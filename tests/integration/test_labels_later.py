"""Labels that arrive later, on real MLflow, GX and Prefect: predict keeps its predictions by id; the monitor joins
the labels that have arrived, reports each period's share and waits below monitoring.min_label_share; when more
labels arrive it judges the realised quality and sets the estimate it gave earlier beside it. Bad ids and labels
stop with exit 2 and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.monitor import monitor
from flows.predict import predict
from flows.retrain import retrain
from mlops.cli import render
from mlops.labels import OK, WAITING, WORSE, LabelsRefused
from mlops.settings import get_settings
from tasks.labels import BATCH_ID, PREDICTED_AT, _labels_as, _latest_only, store_dir
from tasks.report import monitor_markdown
from tests.conftest import cancer_frame, spec_text

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

LABELS = (
    "labels:\n"
    "  source: {kind: csv, path: labels/*.csv}\n"
    "  known_at_column: known_at\n"
    "monitoring: {max_sample_rows: 200, seed: 5, min_label_share: 0.8}\n"
)


def use_spec(project: Path) -> str:
    frame = cancer_frame()
    frame.insert(0, "row_id", range(len(frame)))  # an id is never a feature
    frame.to_csv(project / "data" / "cancer.csv", index=False)
    path = project / "deployments" / "cancer.yaml"
    path.write_text(
        spec_text(extra=LABELS).replace("  target: target\n", "  target: target\n  id_column: row_id\n")
    )
    return str(path)


def batch_of(project: Path, name: str, rows: slice, first_id: int) -> tuple[str, pd.DataFrame]:
    whole = cancer_frame().iloc[rows].reset_index(drop=True)
    frame = whole.drop(columns=["target"])
    frame.insert(0, "row_id", range(first_id, first_id + len(frame)))
    (project / "batches").mkdir(exist_ok=True)
    path = project / "batches" / f"{name}.csv"
    frame.to_csv(path, index=False)
    return str(path), whole.assign(row_id=frame["row_id"])


def write_labels(project: Path, name: str, truth: pd.DataFrame, known_at: datetime) -> None:
    folder = project / "labels"
    folder.mkdir(exist_ok=True)
    out = pd.DataFrame(
        {"row_id": truth["row_id"], "target": truth["target"], "known_at": known_at.isoformat()}
    )
    out.to_csv(folder / f"{name}.csv", index=False)


def test_labels_arriving_later_turn_a_waiting_period_into_a_realised_figure_beside_its_estimate(
    project: Path,
) -> None:
    spec = use_spec(project)
    trained = retrain(spec)
    first, truth_a = batch_of(project, "july", slice(0, 200), 1000)
    second, _ = batch_of(project, "august", slice(200, 400), 5000)
    a = predict(spec, out=str(project / "out" / "july.parquet"), batch=first)
    predict(spec, out=str(project / "out" / "august.parquet"), batch=second)
    kept = sorted((store_dir("cancer") / "batches").glob("*.parquet"))
    assert len(kept) == 2 and a.kept_by_id in map(str, kept)
    assert set(pd.read_parquet(a.kept_by_id)["row_id"]) == set(truth_a["row_id"])

    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=30)
    write_labels(project, "day1", truth_a.head(100), past)  # half of July's labels have arrived
    write_labels(project, "not-yet", truth_a.iloc[100:130], future)  # known only in the future: not counted
    pd.DataFrame(
        {"row_id": [99999, 99998, None], "target": ["benign"] * 3, "known_at": past.isoformat()}
    ).to_csv(project / "labels" / "strays.csv", index=False)

    early = monitor(spec, batch=first)
    assert early.labels is not None
    periods = {p.batch: p for p in early.labels.periods}
    july, august = periods[first], periods[second]
    assert (july.predicted, july.labelled, july.verdict.state) == (200, 100, WAITING)
    assert (august.labelled, august.verdict.state) == (0, WAITING)
    assert july.realised is not None  # measured on what arrived, but not judged below 80%
    assert july.estimated is not None  # the monitor's estimate of the July batch, recorded for later
    estimate_then = july.estimated
    assert (early.labels.unknown_ids, early.labels.without_id) == (2, 1)
    assert july.model_version == trained.version

    # the rest of July's labels arrive
    write_labels(project, "day2", truth_a.iloc[100:], past)
    later = monitor(spec, batch=second)
    assert later.labels is not None
    july = {p.batch: p for p in later.labels.periods}[first]
    assert july.labelled == 200 and july.verdict.state in (OK, WORSE) and july.verdict.judged
    assert july.trust is not None and july.trust.estimated == estimate_then
    assert july.trust.realised == july.realised
    text = "\n".join(later.labels.lines())
    assert "200/200 labelled (100%)" in text and "before the labels" in text
    assert "before the labels" in monitor_markdown(later)  # the Prefect artifact
    with render.out.capture() as printed:  # what `mlops run monitor` prints
        render.print_monitor(later)
    assert "Labels arrived:" in printed.get() and "200/200 labelled (100%)" in printed.get()
    run = MlflowClient(get_settings().tracking_uri).get_run(later.run_url.rstrip("/").rsplit("/", 1)[-1])
    assert run.data.metrics["label_periods_judged"] >= 1 and "estimate_abs_error_max" in run.data.metrics

    # the same batch predicted again replaces its kept rows, never adds to them
    predict(spec, out=str(project / "out" / "july-again.parquet"), batch=first)
    assert sorted((store_dir("cancer") / "batches").glob("*.parquet")) == kept
    assert len(pd.read_parquet(a.kept_by_id)) == 200


def test_a_batch_without_ids_or_with_repeated_ids_is_refused_before_anything_is_written(
    project: Path,
) -> None:
    spec = use_spec(project)
    retrain(spec)
    path, _ = batch_of(project, "dup", slice(0, 50), 10)
    frame = pd.read_csv(path)
    frame.loc[5, "row_id"] = frame.loc[4, "row_id"]
    frame.to_csv(path, index=False)
    out = project / "out" / "dup.parquet"
    with pytest.raises(LabelsRefused, match=r"appear more than once \(e\.g\. 14\)") as err:
        predict(spec, out=str(out), batch=path)
    assert err.value.exit_code == 2
    frame.drop(columns=["row_id"]).to_csv(path, index=False)
    with pytest.raises(LabelsRefused, match="has no column 'row_id'"):
        predict(spec, out=str(out), batch=path)
    assert not out.exists() and not (store_dir("cancer") / "batches").exists()


def test_a_label_of_the_wrong_type_is_refused_naming_the_column() -> None:
    with pytest.raises(LabelsRefused, match="'delayed' holds 1 value.*not numbers.*'yes'"):
        _labels_as(pd.Series([1, "yes", 0], dtype=object), [0, 1], "classification", "delayed")
    assert list(_labels_as(pd.Series(["1", "0"]), [0, 1], "classification", "delayed")) == [1, 0]


def test_an_id_predicted_in_two_batches_is_judged_once_in_the_latest() -> None:
    def kept(batch_id: str, at: str, ids: list[int], version: str = "1") -> pd.DataFrame:
        return pd.DataFrame({"row_id": ids, "prediction": [1] * len(ids), "model_version": version,
                             BATCH_ID: batch_id, PREDICTED_AT: pd.Timestamp(at, tz="UTC")})  # fmt: skip

    monday, tuesday = kept("a", "2013-07-01", [1, 2, 3]), kept("b", "2013-07-02", [3, 4])
    shadow = kept("c", "2013-07-01", [1, 3], version="2")  # another version's prediction is its own period
    out = _latest_only([(monday, []), (tuesday, []), (shadow, [])], "row_id")
    (a, a_again), (b, b_again), (c, c_again) = ((list(f["row_id"]), n) for (f, _), n in out)
    assert (a, a_again) == ([1, 2], 1)  # id 3 was predicted again on Tuesday: its label counts there only
    assert (b, b_again) == ([3, 4], 0) and (c, c_again) == ([1, 3], 0)
    # a batch whose every id was predicted again later keeps its place, with no prediction left to judge
    (first, n), _ = _latest_only([(kept("a", "2013-07-01", [3]), []), (tuesday, [])], "row_id")
    assert first[0].empty and n == 1
