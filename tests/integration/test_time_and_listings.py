"""Issue #13 on real Prefect, MLflow (SQLite), GX, Evidently and scikit-learn: a pipeline whose time column holds
integer years retrains on a window given as years; the version's description holds the decision in one sentence
and the first retrain prints no MLflow noise; `mlops status` follows a rollback to a rejected, newer version,
worded as what it is; a replay period stopped by the quality gate shows its rows and why, and the CSV keeps
whole values; a replay without a champion stops (exit 1) as docs/cli.md's table says."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from flows.replay import replay
from flows.retrain import retrain
from mlops.cli import app
from mlops.errors import NoChampion
from tests.conftest import REPO, cancer_frame

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def year_project(project: Path, broken_year: int | None = None) -> Path:
    """The cancer data with a `year` column (1990..2009, about 28 rows a year) as the time column."""
    frame = cancer_frame()
    frame["year"] = 1990 + np.arange(len(frame)) * 20 // len(frame)
    if broken_year is not None:  # the suite wants mean_radius in [0, 50]
        frame.loc[frame["year"] == broken_year, "mean_radius"] = 99.0
    frame.to_csv(project / "data" / "cancer.csv", index=False)
    spec = project / "deployments" / "cancer.yaml"
    text = spec.read_text().replace("  target: target\n", "  target: target\n  time_column: year\n")
    spec.write_text(
        text.replace(
            "{strategy: stratified, holdout_fraction: 0.3, seed: 3}",
            "{strategy: time, holdout_fraction: 0.3}",
        )
    )
    return spec


def test_a_retrain_on_integer_years_trains_and_describes_its_decision(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    spec = year_project(project)
    capfd.readouterr()
    result = retrain(str(spec), window_start="1991", window_end="2010")
    printed = "".join(capfd.readouterr())
    assert result.decision.promote and result.version == "1"
    assert result.split.startswith("time split at 2004-01-01 00:00:00+00:00")  # the years, read as years
    assert "Registered model" not in printed and "already exists" not in printed
    description = MlflowClient().get_model_version("cancer-model", "1").description
    assert description.startswith(
        "Promoted by the promotion policy (rule 'first-model') with no champion before it, because no champion"
    )
    tags = MlflowClient().get_model_version("cancer-model", "1").tags
    assert tags["mlops.decision"] == "promoted" and tags["mlops.decision.rule"] == "first-model"


def test_status_follows_a_rollback_to_a_rejected_newer_version(
    project: Path, use_trained: Callable[[str], Any]
) -> None:
    spec = project / "deployments" / "cancer.yaml"
    # v1 of this very spec (its monitoring: section is the defaults, written out), trained once a session
    assert use_trained("cancer").decision.promote
    weak = retrain(str(spec), params={"C": 0.0001})
    assert not weak.decision.promote and weak.version == "2"
    description = MlflowClient().get_model_version("cancer-model", "2").description
    assert description.startswith(
        f"Rejected by the promotion policy (rule '{weak.decision.rule}') against champion v1"
    )

    runner = CliRunner()
    rolled = runner.invoke(app, ["rollback", str(spec), "--to", "2", "--reason", "try the simpler one"])
    assert rolled.exit_code == 0, rolled.output
    said = " ".join(rolled.output.split())
    assert "cancer-model: champion moved forward from v1 to v2 (v2 is newer than v1)" in said
    assert (
        f"v2 had been rejected by the policy ({weak.decision.rule}) and is now champion by your decision"
        in said
    )

    rolled_to = MlflowClient().get_model_version("cancer-model", "2").description
    assert re.match(
        r"Made champion by \S+ \(a rollback from v1\), because try the simpler one\. Earlier: Rejected",
        rolled_to,
    )

    status = runner.invoke(app, ["status", str(spec), "--json"])
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    champion = doc["champion"]
    assert champion["version"] == "2" and champion["changed_by"]["action"] == "rollback"
    assert champion["changed_by"]["reasons"] == ["try the simpler one"]
    assert champion["since"] == champion["changed_by"]["at"]
    assert [v["version"] for v in doc["versions"]] == ["2", "1"]

    text = runner.invoke(app, ["status", str(spec)]).output
    assert "champion v2 (since " in text
    assert re.search(
        r"made champion by: rollback \(manual-rollback\) by user:\S+ at \S+, v1 -> v2: try the", text
    )

    history = runner.invoke(app, ["history", str(spec), "--json"])
    assert [e["action"] for e in json.loads(history.stdout)["entries"]] == ["promote", "reject", "rollback"]


def test_a_replay_period_stopped_by_the_gate_shows_its_rows_and_why(project: Path) -> None:
    spec = year_project(project, broken_year=2008)
    retrain(str(spec), window_start="1990", window_end="2008")
    timeline = replay(str(spec), start="2008", end="2010", every="year")
    stopped, judged = timeline.rows
    assert (stopped.period, stopped.quality_gate) == ("2008-01-01", "FAILED")
    years = 1990 + np.arange(len(cancer_frame())) * 20 // len(cancer_frame())
    assert stopped.rows == int((years == 2008).sum())  # the rows the gate checked, not 0
    assert stopped.action.startswith("stopped: expect_column_values_to_be_between on 'mean_radius': ")
    assert judged.quality_gate == "passed" and judged.drift_share is not None
    with open(timeline.csv_path, newline="") as fh:
        saved = list(csv.DictReader(fh))
    assert saved[0]["rows"] == str(stopped.rows) and saved[0]["action"] == stopped.action
    assert float(saved[1]["drift_share"]) == judged.drift_share  # whole, not rounded to 4 places
    assert saved[1]["roc_auc"] == ("" if judged.model_metric is None else repr(judged.model_metric))


def test_a_replay_without_a_champion_stops_as_the_cli_page_says(project: Path) -> None:
    spec = year_project(project)
    with pytest.raises(NoChampion) as caught:
        replay(str(spec), start="2008", end="2010", every="year")
    assert caught.value.exit_code == 1 and "has no champion yet" in str(caught.value)
    page = (REPO / "docs" / "cli.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| `mlops replay"))
    assert "1 stopped (no champion yet" in row


def test_a_replay_marks_the_periods_the_champion_trained_on(project: Path) -> None:
    """Issue 23: periods inside the serving model's training window are in-sample: a timeline column, the CSV,
    and a line saying so (their good figures are no evidence of health)."""
    spec = year_project(project)
    first = retrain(str(spec), window_start="1990", window_end="2000")
    tags = MlflowClient().get_model_version("cancer-model", first.version).tags
    assert tags["mlops.trained_from"] == "1990-01-01T00:00:00"  # the time split trains on the earliest years
    last_trained = int(tags["mlops.trained_to"][:4])
    assert 1993 <= last_trained < 1999
    # three periods (nine before; each costs a monitor run): two inside the training window, one after it
    first_period, after = str(last_trained - 1), str(last_trained + 1)
    timeline = replay(str(spec), start=first_period, end=str(last_trained + 2), every="year")
    by_period = {r.period[:4]: r for r in timeline.rows}
    assert list(by_period) == [first_period, str(last_trained), after]
    assert by_period[first_period].in_sample_of == "1" and by_period[str(last_trained)].in_sample_of == "1"
    assert by_period[after].in_sample_of is None  # after the training rows: out of sample
    assert timeline.notes[0] == (
        f"periods {first_period}-01-01..{last_trained}-01-01 are inside the training window of v1: in-sample, "
        "not evidence of health"
    )
    with open(timeline.csv_path, newline="") as fh:
        saved = {row["period"][:4]: row for row in csv.DictReader(fh)}
    assert saved[first_period]["in_training_window"] == "v1 (in-sample)"
    assert saved[after]["in_training_window"] == ""


def test_a_replay_with_baselines_compares_the_served_quality_and_registers_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 23: `replay --baselines` over two years (each period costs a monitor run and a baseline retrain; two
    show what three did). The spec's policy only alerts, so v1 serves every period under it and under "never
    retrain": both means are v1's realised figures weighted by rows. "Retrain every period" trains after each
    period but the last (in memory: the registry keeps its one version)."""
    from mlops.baselines import EVERY, NEVER, POLICY
    from mlops.cli import listings

    spec = year_project(project)
    spec.write_text(spec.read_text() + "monitoring: {on_drift: alert}\n")
    assert retrain(str(spec), window_start="1990", window_end="2004").version == "1"
    timeline = replay(str(spec), start="2004", end="2006", every="year", baselines=True)

    rows = timeline.rows
    assert [r.champion_version for r in rows] == ["1", "1"] and all(r.retrains == 0 for r in rows)
    judged = [r for r in rows if r.model_metric is not None]
    assert judged, [r.action for r in rows]
    v1_mean = sum(r.rows * (r.model_metric or 0.0) for r in judged) / sum(r.rows for r in judged)
    by = {b.strategy: b for b in timeline.baselines}
    assert list(by) == [NEVER, EVERY, POLICY]
    never, every, policy = by[NEVER], by[EVERY], by[POLICY]
    assert (never.retrains, never.promotions, never.models) == (0, 0, "v1")
    assert never.mean == pytest.approx(v1_mean, abs=1e-12) and policy.mean == pytest.approx(
        v1_mean, abs=1e-12
    )
    assert never.periods == policy.periods == every.periods == len(judged)
    assert never.rows == policy.rows == every.rows == sum(r.rows for r in judged)
    assert every.retrains == 1 and 0 <= every.promotions <= every.retrains
    assert every.models.startswith("v1") and every.models.count("->") == every.promotions
    if every.promotions == 0:  # the same model, the same figures
        assert every.mean == pytest.approx(v1_mean, abs=1e-12)

    # nothing registered by the baselines: the registry holds v1 alone and v1 is champion
    versions = MlflowClient().search_model_versions("name='cancer-model'")
    assert [str(v.version) for v in versions] == ["1"]
    with open(Path(timeline.csv_path).with_name("baselines.csv"), newline="") as fh:
        saved = list(csv.DictReader(fh))
    assert [s["strategy"] for s in saved] == [NEVER, EVERY, POLICY]
    assert float(saved[0]["mean_roc_auc_weighted_by_rows"]) == pytest.approx(v1_mean, abs=1e-12)

    listings.print_replay(timeline)
    printed = " ".join(re.sub("[│┃]", " ", capsys.readouterr().out).split())  # the table's cells, in order
    assert "Outcome: realised roc_auc of the models served" in printed and f"{v1_mean:.4f}" in printed
    assert "Note: the spec's policy served the same as never retrain" in printed
