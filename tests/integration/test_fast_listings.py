"""`mlops status` and `mlops history` answer at once (issue 15): on a real MLflow SQLite store, a fresh process
imports no Prefect, Great Expectations, Evidently or scikit-learn; once the registry was read and the store has not
changed since, not even MLflow, and it prints the same; a write to the store is seen by the next command."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlops.cli import app
from mlops.settings import get_settings
from tests.unit.test_fast_commands import cli


def register(version_count: int, champion: str) -> None:
    """Versions of 'cancer-model' with the champion alias and a ledger entry, written through MLflow's client."""
    from tasks.tracking import ledger
    from tasks.tracking.store import TAG, client

    c = client()
    if not c.search_registered_models("name = 'cancer-model'"):
        c.create_registered_model("cancer-model")
    have = len(c.search_model_versions("name = 'cancer-model'"))
    for _ in range(have, version_count):
        mv = c.create_model_version("cancer-model", source=str(get_settings().home / "m"))
        c.set_model_version_tag("cancer-model", mv.version, f"{TAG}decision", "promoted")
        c.set_model_version_tag("cancer-model", mv.version, f"{TAG}metric.roc_auc", "0.9")
    c.set_registered_model_alias("cancer-model", "champion", champion)
    ledger.record(
        "cancer-model", "promote", version=champion, champion_before=None, champion_after=champion,
        actor="rule:test", rule="test", reasons=[f"v{champion} wins"], evidence={},
    )  # fmt: skip


def test_status_and_history_import_no_pipeline_library_and_then_no_mlflow(project: Path) -> None:
    spec = str(project / "deployments" / "cancer.yaml")
    register(1, champion="1")
    commands = (["status", spec], ["status", spec, "--json"], ["history", spec, "--json"])

    cold = cli(project, *commands)
    assert cold["codes"] == [0, 0, 0], cold["out"]
    assert cold["heavy"] == ["mlflow", "pandas"], cold["heavy"]  # pandas: MLflow's own import pulls it in
    assert "cancer-model: champion v1" in cold["out"][0]
    assert json.loads(cold["out"][1])["champion"]["version"] == "1"

    warm = cli(project, *commands)
    assert warm["codes"] == [0, 0, 0] and warm["heavy"] == [], warm["heavy"]
    assert warm["out"] == cold["out"]

    register(2, champion="2")  # a write: the next command reads the store again
    status = CliRunner().invoke(app, ["status", spec, "--json"])
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    assert doc["champion"]["version"] == "2" and [v["version"] for v in doc["versions"]] == ["2", "1"]
    history = json.loads(CliRunner().invoke(app, ["history", spec, "--json"]).stdout)
    assert [e["version"] for e in history["entries"]] == ["1", "2"]


def test_a_command_that_wrote_refreshes_the_snapshot_so_the_next_status_needs_no_mlflow(
    project: Path,
) -> None:
    from tasks.tracking.snapshot import refresh

    spec = str(project / "deployments" / "cancer.yaml")
    register(1, champion="1")
    refresh("cancer-model")  # as `mlops run retrain` and `mlops rollback` do last, right after their writes
    after = cli(project, ["status", spec, "--json"])
    assert after["codes"] == [0] and after["heavy"] == [], after["heavy"]
    assert json.loads(after["out"][0])["champion"]["version"] == "1"

    register(2, champion="2")  # written after the snapshot: the stamp moves, the next read is live
    live = cli(project, ["status", spec, "--json"])
    assert json.loads(live["out"][0])["champion"]["version"] == "2" and live["heavy"] == ["mlflow", "pandas"]
