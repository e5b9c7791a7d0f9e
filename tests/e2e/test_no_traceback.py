"""Issue #13: a stopped run says why once. Prefect logs a failed flow run with the error's text at each level it
passes; the terminal shows the CLI's closing message alone (a real process: Prefect's console handler writes to the
process's own stderr, which an in-process runner does not capture)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_mlops

pytestmark = pytest.mark.e2e


def test_a_run_stopped_by_the_quality_gate_says_why_once(project: Path, isolated_home: Path) -> None:
    """Also with PREFECT_API_URL set but empty (`PREFECT_API_URL= mlops ...`): read as unset, it once left
    Prefect's events worker failing with a traceback per event."""
    suite = json.loads((project / "expectations" / "cancer.json").read_text())
    # most mean_radius values are above 10: the gate stops
    suite["expectations"][1]["kwargs"]["max_value"] = 10
    (project / "expectations" / "cancer.json").write_text(json.dumps(suite))
    env = {**os.environ, "MLOPS_HOME": str(isolated_home), "COLUMNS": "200", "PREFECT_API_URL": ""}
    r = run_mlops("run", "retrain", "deployments/cancer.yaml", cwd=project, env=env)
    shown = r.stdout + r.stderr
    assert r.returncode == 1, shown
    assert shown.count("expect_column_values_to_be_between on 'mean_radius'") == 1, shown
    assert shown.count("Data quality gate: suite 'cancer' on 569 rows: FAILED") == 1, shown
    assert "stopped: Data quality gate" in r.stderr
    # Prefect's "Finished in state ..." lines are INFO: off the terminal unless --verbose (issue 23); the closing
    # "stopped:" paragraph says it once
    assert "Finished in state" not in shown
    assert "Traceback" not in shown
