"""`mlops deploy --check`: prefect.yaml read with the flows parsed (never imported) and every problem reported at
once, named by deployment. Specs are checked through an injected function, so no data is read here."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cli.project_check import check_project, find_project
from mlops.errors import Problem
from mlops.spec import load_spec
from tests.conftest import REPO

FLOWS = '''
from prefect import flow


@flow(name="retrain")
def retrain(spec_path: str, window_start: str | None = None, window_end: str | None = None,
            params: dict | None = None):
    """A stand-in: the check reads this file with ast and never imports it."""
    raise RuntimeError("never imported")


@flow
def monitor(spec_path: str, batch: str | None = None, retrain_in_process: bool = True):
    ...


def helper(x):
    return x
'''

SPEC = "name: {name}\n"  # only read by the stub below

GOOD = """
definitions:
  pool: &pool {name: mlops-local}
  retrain: &retrain
    entrypoint: flows/retrain.py:retrain
    enforce_parameter_schema: true
    concurrency_limit: {limit: 1, collision_strategy: ENQUEUE}
    work_pool: *pool
deployments:
  - <<: *retrain
    name: churn-retrain
    parameters: {spec_path: deployments/churn.yaml}
    schedules:
      - {cron: "0 2 * * 1", timezone: Europe/Paris}
    triggers:
      - expect: [mlops.drift.detected]
        match: {prefect.resource.id: mlops.pipeline.churn, mlops.retrain: "true"}
        parameters: {window_start: "{{ event.payload.window_start }}"}
  - name: churn-monitor
    entrypoint: flows/retrain.py:monitor
    work_pool: *pool
    parameters: {spec_path: deployments/churn.yaml, batch: data/in/*.csv, retrain_in_process: false}
    schedules:
      - {interval: 3600, active: false}
"""


def stub_check(path: Path) -> tuple[object, list[Problem]]:
    """Schema only (fast, no data): a spec whose name starts with 'broken' reports one problem."""
    loaded = load_spec(path)
    if loaded.spec.name.startswith("broken"):
        return loaded, [
            Problem(
                str(path), "model.params.max_iters", "not a parameter of Ridge", "did you mean 'max_iter'?"
            )
        ]
    return loaded, []


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "flows").mkdir(parents=True)
    (root / "deployments").mkdir()
    (root / "flows" / "retrain.py").write_text(FLOWS)
    spec = (REPO / "deployments" / "diabetes.yaml").read_text()
    (root / "deployments" / "churn.yaml").write_text(
        spec.replace("name: diabetes-progression", "name: churn")
    )
    (root / "deployments" / "broken.yaml").write_text(
        spec.replace("name: diabetes-progression", "name: broken-one")
    )
    (root / "prefect.yaml").write_text(GOOD)
    return root


def rendered(root: Path) -> list[str]:
    return [p.render() for p in check_project(root, stub_check).problems]


def test_a_good_file_has_no_problems_and_is_summarised(proj: Path) -> None:
    report = check_project(proj, stub_check)
    assert report.problems == []
    names = [(d.name, d.flow, d.spec_path, d.pool) for d in report.deployments]
    assert names == [
        ("churn-retrain", "retrain", "deployments/churn.yaml", "mlops-local"),
        ("churn-monitor", "monitor", "deployments/churn.yaml", "mlops-local"),
    ]
    assert report.deployments[0].schedules == ["cron 0 2 * * 1 Europe/Paris"]
    assert report.deployments[0].triggers == ["mlops.drift.detected (churn)"]
    assert report.deployments[1].schedules == ["every 1 hour (off)"]


def test_the_projects_own_prefect_yaml_passes(tmp_path: Path) -> None:
    """The real file (aliases, merge keys, templated trigger parameters) against the real flows and specs."""
    report = check_project(REPO, lambda p: (load_spec(p), []))
    assert [p.render() for p in report.problems] == []
    by_name = {d.name: d for d in report.deployments}
    assert {"flight-delays-retrain", "flight-delays-monitor", "diabetes-progression-retrain",
            "diabetes-progression-monitor", "flight-delays-predict",
            "diabetes-progression-predict"} <= set(by_name)  # fmt: skip
    assert {by_name[n].flow for n in ("flight-delays-predict", "diabetes-progression-predict")} == {"predict"}
    for d in report.deployments:
        assert d.pool and d.schedules, d
        if d.flow == "retrain":
            assert d.triggers, f"{d.name}: a retrain deployment without a drift trigger"


def test_every_problem_is_reported_at_once_with_its_deployment(proj: Path) -> None:
    (proj / "prefect.yaml").write_text(
        """
deployments:
  - name: a
    entrypoint: flows/retrian.py:retrain
    work_pool: {name: p}
    parameters: {spec_path: deployments/churn.yaml}
  - name: b
    entrypoint: flows/retrain.py:retrian
    work_pool: {name: p}
    parameters: {spec_path: deployments/churn.yaml}
  - name: c
    entrypoint: flows/retrain.py:helper
    work_pool: {name: p}
    parameters: {spec_path: deployments/churn.yaml}
  - name: d
    entrypoint: flows/retrain.py:monitor
    parameters: {spec_path: deployments/chrun.yaml, retrain_in_proces: false}
    schedules:
      - {cron: "0 25 * * *"}
      - {cron: "0 2 * * *", timezone: Mars/Olympus}
      - {cron: "0 2 * * *", interval: 60}
      - {rrule: "FREQ=SOMETIMES"}
    concurrency_limit: {limit: 1, collision_strategy: ENQUEU}
  - name: e
    entrypoint: flows/retrain.py:monitor
    work_pool: {name: p}
    parameters: {spec_path: deployments/broken.yaml, retrain_in_process: "no"}
  - name: f
    entrypoint: flows/retrain.py:retrain
    work_pool: {name: p}
    parameters: {spec_path: deployments/churn.yaml}
    triggers:
      - expect: [mlops.drift.detectd]
        match: {prefect.resource.id: mlops.pipeline.churn}
      - expect: [mlops.drift.detected]
        match: {prefect.resource.id: mlops.pipeline.flight-delays}
        parameters: {window_strat: "{{ event.payload.window_start }}"}
  - name: f
    entrypoint: flows/retrain.py:retrain
    work_pool: {name: p}
"""
    )
    problems = rendered(proj)
    expected = [
        "deployment 'a': entrypoint: 'flows/retrian.py' does not exist; did you mean 'flows/retrain.py'?",
        "deployment 'b': entrypoint: 'flows/retrain.py' defines no function 'retrian'; did you mean 'retrain'?",
        "deployment 'c': entrypoint: 'helper' in 'flows/retrain.py' is not decorated with @flow",
        "deployment 'd': parameters.retrain_in_proces: not a parameter of monitor(); did you mean 'retrain_in_process'?",
        "deployment 'd': parameters.spec_path: 'deployments/chrun.yaml' does not exist; did you mean 'deployments/churn.yaml'?",
        "deployment 'd': schedules[0].cron: Invalid cron string: \"0 25 * * *\"; five fields:",
        "deployment 'd': schedules[1].timezone: Invalid timezone: \"Mars/Olympus\"",
        "deployment 'd': schedules[2]: give exactly one of cron, interval or rrule; it has cron, interval",
        "deployment 'd': schedules[3].rrule: Invalid RRule string",
        "deployment 'd': work_pool.name: no work pool named",
        "deployment 'd': concurrency_limit.collision_strategy: unknown strategy 'ENQUEU'; did you mean 'ENQUEUE'?",
        "deployment 'e': parameters.retrain_in_process: 'no' is not a bool",
        "deployment 'e': parameters.spec_path: deployments/broken.yaml: model.params.max_iters: not a parameter of Ridge",
        "deployment 'f': triggers[0].expect: 'mlops.drift.detectd' is not an event anything here emits; did you mean 'mlops.drift.detected'?",
        "deployment 'f': triggers[1].match.prefect.resource.id: 'mlops.pipeline.flight-delays' is not this deployment's pipeline 'churn'; use 'mlops.pipeline.churn'",
        "deployment 'f': triggers[1].parameters.window_strat: not a parameter of retrain()",
        "deployment 'f': the name is used twice",
        "deployment 'f': parameters: retrain() needs 'spec_path', and it has no default",
    ]  # fmt: skip
    for text in expected:
        assert any(text in p for p in problems), f"missing: {text}\ngot:\n" + "\n".join(problems)
    assert all(p.startswith("prefect.yaml: deployment '") for p in problems), problems
    assert len(problems) == len(expected), "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deployments: [\n", "not valid YAML: line"),
        ("name: x\n", "deployments: no deployments declared"),
        ("deployments: [7]\n", "deployments[0]: expected a mapping"),
        (
            "deployments:\n  - {entrypoint: flows/retrain.py, work_pool: {name: p}}\n",
            "expected 'file.py:function'",
        ),
    ],
)
def test_malformed_files_are_explained(proj: Path, text: str, expected: str) -> None:
    (proj / "prefect.yaml").write_text(text)
    problems = rendered(proj)
    assert any(expected in p for p in problems), problems


def test_the_project_is_found_from_a_subfolder(proj: Path) -> None:
    assert find_project(proj / "flows") == proj.resolve()
    from mlops.cli.errors import UsageError

    with pytest.raises(UsageError, match="no prefect.yaml"):
        find_project(proj.parent)


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        (
            "# notifications: to do\n",
            2,
            "notifications.yaml is empty (or only comments): deploying it would remove",
        ),
        ("rules: []\n", 0, "no notification rules: every mlops automation on the server is removed"),
        (
            "channels: {ops: {kind: webhook, url_env: X}}\nrules: [{when: drift, notify: [ops], pipelines: [chrun]}]\n",
            2,
            "'chrun' is not a pipeline of this project, so it would never be notified; did you mean 'churn'?",
        ),
    ],
)
def test_deploy_check_refuses_an_empty_notifications_file_and_names_a_deliberate_empty_one(
    proj: Path, monkeypatch: pytest.MonkeyPatch, text: str, code: int, expected: str
) -> None:
    """An empty notifications.yaml passed `mlops deploy --check` without a word, and the deploy would then have
    deleted every mlops automation on the server; a misspelt pipeline was never notified."""
    import shutil

    from typer.testing import CliRunner

    from mlops.cli import app

    (proj / "deployments" / "broken.yaml").unlink()  # the real spec check runs here: keep the good one only
    shutil.copytree(REPO / "expectations", proj / "expectations")
    (proj / "notifications.yaml").write_text(text)
    monkeypatch.chdir(proj)
    result = CliRunner().invoke(app, ["deploy", "--check"])
    assert result.exit_code == code, result.output
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output
