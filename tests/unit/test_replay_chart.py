"""The replay chart (issue 14): the series read from a timeline CSV, and a real PNG written beside it."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import pytest

from tasks.replay_chart import action_kind, chart_series, read_timeline, replay_chart

HEAD = ["period", "rows", "quality_gate", "drift_share", "weighted_drift_share", "roc_auc", "estimated_roc_auc",
        "realised_roc_auc", "reference_roc_auc", "action", "champion_version"]  # fmt: skip
ROWS = [
    ["2013-07-01", "28000", "passed", "0.46", "0.12", "0.70", "0.705", "0.70", "0.7085", "alert", "1"],
    ["2013-08-01", "28000", "passed", "0.38", "0.30", "", "0.66", "", "0.7085",
     "retrain: v2 promoted", "2"],
    ["2013-09-01", "27000", "passed", "0.15", "0.05", "0.72", "0.72", "0.72", "0.7300", "none", "2"],
    ["2013-10-01", "0", "FAILED", "", "", "", "", "", "", "stopped: 3 expectations failed", "2"],
    ["2013-11-01", "27000", "passed", "0.20", "", "nan", "0.71", "", "0.7300",
     "retrain: v3 rejected (not-improved)", "2"],
]  # fmt: skip


def write_timeline(folder: Path, head: list[str] = HEAD, rows: list[list[str]] = ROWS) -> Path:
    path = folder / "timeline.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(head)
        writer.writerows(rows)
    return path


def test_series_follow_the_timeline_columns(tmp_path: Path) -> None:
    s = chart_series(read_timeline(write_timeline(tmp_path)), "roc_auc")
    assert s.periods == ["2013-07-01", "2013-08-01", "2013-09-01", "2013-10-01", "2013-11-01"]
    assert s.drift_share == [0.46, 0.38, 0.15, None, 0.20]
    assert s.weighted_drift_share == [0.12, 0.30, 0.05, None, None]
    assert s.estimated == [0.705, 0.66, 0.72, None, 0.71]
    assert s.realised == [0.70, None, 0.72, None, None]  # unlabelled and NaN periods have none
    assert s.reference == [0.7085, 0.7085, 0.73, None, 0.73]
    assert s.champion == [1, 2, 2, 2, 2]
    assert s.actions == ["alert", "promoted", "", "stopped", "retrain"]


def test_an_older_timeline_without_the_new_columns_still_charts(tmp_path: Path) -> None:
    head = ["period", "rows", "quality_gate", "drift_share", "rmse", "action", "champion_version"]
    rows = [["2021-01-01", "700", "passed", "0.5", "41.5", "drift (no retrain: same drift episode)", "1"]]
    s = chart_series(read_timeline(write_timeline(tmp_path, head, rows)), "rmse")
    assert s.realised == [41.5] and s.estimated == [None] and s.weighted_drift_share == [None]
    assert s.actions == ["held back"]


def test_action_kinds() -> None:
    assert action_kind("none") == action_kind("") == ""
    assert action_kind("alert") == "alert"
    assert action_kind("alert; scheduled retrain: v4 promoted") == "promoted"
    assert action_kind("skipped: no rows") == "stopped"


def test_the_png_and_the_page_are_written_beside_the_csv(tmp_path: Path) -> None:
    csv_path = write_timeline(tmp_path)
    png = replay_chart(csv_path, "roc_auc", title="flight-delays replay")
    assert png == tmp_path / "timeline.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= 600 and height >= 400
    assert 10_000 < len(data) < 2_000_000
    page = (tmp_path / "timeline.html").read_text()
    assert "<img src='timeline.png'" in page and "retrain: v2 promoted" in page
    assert not list(tmp_path.glob(".*partial"))


def test_the_cli_names_the_chart_after_the_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops.cli.listings import print_replay
    from tasks.report import Timeline

    csv_path = write_timeline(tmp_path)
    replay_chart(csv_path, "roc_auc")
    print_replay(Timeline(rows=[], csv_path=str(csv_path), metric="roc_auc"))
    printed = "".join(capsys.readouterr().out.split())  # whatever the terminal's width wrapped
    assert f"Chart:{tmp_path / 'timeline.png'}" in printed


def test_the_periods_the_serving_model_trained_on_are_shaded_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 23: in-sample periods are a timeline column, a shaded band on the chart and a summary line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from mlops.cli.listings import print_replay
    from tasks.replay_chart import shade_in_sample
    from tasks.report import Timeline, TimelineRow

    head = [*HEAD, "in_training_window"]
    rows = [[*r, "v1 (in-sample)" if i < 2 else ""] for i, r in enumerate(ROWS)]
    s = chart_series(read_timeline(write_timeline(tmp_path, head, rows)), "roc_auc")
    assert s.in_sample == [True, True, False, False, False]
    assert chart_series(read_timeline(write_timeline(tmp_path)), "roc_auc").in_sample == [False] * 5

    axes = tuple(Figure().subplots(2, 1))
    shade_in_sample(s.in_sample, axes)
    assert [len(ax.patches) for ax in axes] == [2, 2]
    assert [p.get_label() for p in axes[-1].patches][0].endswith("(in-sample)")
    assert replay_chart(write_timeline(tmp_path, head, rows), "roc_auc").is_file()

    note = "periods 2013-07-01..2013-08-01 are inside the training window of v1: in-sample, not evidence of health"
    timeline = Timeline(
        rows=[TimelineRow("2013-07-01", 10, "passed", 0.1, 0.9, "none", "1", in_sample_of="1"),
              TimelineRow("2013-08-01", 10, "passed", 0.1, 0.9, "none", "1", in_sample_of="1"),
              TimelineRow("2013-09-01", 10, "passed", 0.1, 0.7, "none", "1")],
        csv_path=str(tmp_path / "timeline.csv"), metric="roc_auc", notes=[note],
    )  # fmt: skip
    print_replay(timeline)
    printed = " ".join(capsys.readouterr().out.split())
    assert "in-sample" in printed  # the column, shown only when a period is marked
    assert f"Note: {note}." in printed
