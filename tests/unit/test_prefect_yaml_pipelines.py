"""prefect.yaml schedules every pipeline the project ships: each spec under deployments/ has its retrain (with the
drift trigger), monitor and predict deployments, pointing at that spec, and the file passes `mlops deploy --check`.
A new example spec without deployments would be a pipeline `mlops serve` never runs."""

from __future__ import annotations

import pytest

from mlops.cli.project_check import CheckReport, check_project
from mlops.spec import load_spec
from tests.conftest import REPO

SPECS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "deployments").glob("*.yaml"))


@pytest.fixture(scope="module")
def report() -> CheckReport:
    return check_project(REPO, lambda p: (load_spec(p), []))


def test_the_file_has_no_problems(report: CheckReport) -> None:
    assert [p.render() for p in report.problems] == []


@pytest.mark.parametrize("spec_path", SPECS)
def test_every_shipped_spec_has_its_retrain_monitor_and_predict_deployments(
    report: CheckReport, spec_path: str
) -> None:
    name = load_spec(REPO / spec_path).spec.name
    by_name = {d.name: d for d in report.deployments}
    for flow in ("retrain", "monitor", "predict"):
        deployment = by_name.get(f"{name}-{flow}")
        assert deployment is not None, f"prefect.yaml has no deployment {name}-{flow} for {spec_path}"
        assert deployment.flow == flow and deployment.spec_path == spec_path, deployment
        assert deployment.pool and deployment.schedules, deployment
    assert by_name[f"{name}-retrain"].triggers == [f"mlops.drift.detected ({name})"]
