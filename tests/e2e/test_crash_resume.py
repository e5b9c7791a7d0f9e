"""Crash and resume: `mlops run retrain` is SIGKILLed at each stage boundary, then run again as a user would.

The second run must complete with exactly one registered version for the same spec, data and code, the aliases
and the ledger as one clean run leaves them, and, once the training run had finished, no second fit: the finished
run is reused. The kill is real (SIGKILL of the CLI's own process, which cannot clean up); only where it happens
is chosen, by wrapping one function in the killed process before the CLI starts. The run again is in-process
(the `in_process` fixture: the same command, exit code and output without a second interpreter importing every
library again); `mlops run retrain`'s exit 0 from a process started as a user starts it is checked by
tests/e2e/test_cli.py::test_demo_flow_from_the_cli.

Each killed process is forked from the session's warm process (tests/warm.py), which has imported the CLI and the
libraries a retrain uses (Prefect, MLflow, GX, scikit-learn) once: a fresh interpreter per case spent most of its
CPU on those imports before reaching the boundary it was killed at (docs/performance.md). The fork is a process of
its own, with the case's own folder, environment and output files; it is SIGKILLed as the fresh process was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import use_home
from tests.warm import Warm

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

# Wraps one function so that the process SIGKILLs itself before (or after) it runs, then runs the CLI. Run in a
# child forked from the session's warm process (tests/warm.py), with the case's folder and environment.
KILLER = """
import importlib, os, signal
target, when = os.environ["KILL_AT"].rsplit(":", 1)
parts = target.split(".")
for i in range(len(parts) - 1, 0, -1):  # the longest importable prefix, then attributes
    try:
        owner, rest = importlib.import_module(".".join(parts[:i])), parts[i:]
        break
    except ImportError:
        continue
for name in rest[:-1]:
    owner = getattr(owner, name)
real = getattr(owner, rest[-1])

def wrapped(*args, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    out = real(*args, **kwargs)
    if when == "after" or (when.startswith("after=") and when[6:] in [str(a) for a in args]):
        os.kill(os.getpid(), signal.SIGKILL)
    return out

setattr(owner, rest[-1], wrapped)
from mlops.cli import app
app(ARGS, prog_name="mlops")
"""

# (stage boundary, what to wrap, whether the training run had finished when the process died)
BOUNDARIES = [
    ("after the quality gate", "tasks.steps.split.fn:before", False),
    ("after the fit, before tracking", "tasks.steps.track_training_run.fn:before", False),
    ("model logged, training run not closed", "mlflow.sklearn.log_model:after", False),
    ("after tracking, before the comparison", "tasks.steps.score_champion.fn:before", True),
    ("after registering the version", "mlflow.register_model:after", True),
    ("after moving champion", "mlflow.MlflowClient.set_registered_model_alias:after=champion", True),
    ("after the ledger entry", "tasks.tracking.registry.record:after", True),
    ("after the commit, before the summary", "tasks.steps.publish_summary.fn:before", True),
]


ARGS = ("run", "retrain", "deployments/cancer.yaml")


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store created (migrated) as `tasks.tracking.store.client` creates it, once for the module: each
    case's home starts with a copy, so no killed process spends its CPU on MLflow's migrations (the integration
    tier's `empty_store` does the same)."""
    from tasks.tracking import store

    home = tmp_path_factory.mktemp("crash-empty-store") / "mlops-home"
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store.client()
    return home / "mlflow.db"


def run_killed(
    warm: Warm, project: Path, home: Path, kill_at: str, store: Path
) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store, home / "mlflow.db")
    env = {**os.environ, **warm.env, "MLOPS_HOME": str(home), "KILL_AT": kill_at}
    env.pop("MLFLOW_TRACKING_URI", None)
    return warm.run(ARGS, project, env, home.parent / "killed", code=KILLER)


@pytest.mark.parametrize(("boundary", "kill_at", "trained"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_killed_at_a_stage_boundary_then_run_again(
    project: Path,
    isolated_home: Path,
    warm: Warm,
    empty_store: Path,
    in_process: Callable[..., subprocess.CompletedProcess[str]],
    monkeypatch: pytest.MonkeyPatch,
    boundary: str,
    kill_at: str,
    trained: bool,
) -> None:
    killed = run_killed(warm, project, isolated_home, kill_at, empty_store)
    assert killed.returncode == -9, (
        f"not killed at '{boundary}':\n{killed.stdout[-2000:]}{killed.stderr[-2000:]}"
    )

    monkeypatch.chdir(project)  # as the user runs it again, from the project's folder
    again = in_process(*ARGS)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert ("not refitted" in again.stdout) == trained, again.stdout

    store = f"sqlite:///{isolated_home / 'mlflow.db'}"
    c = MlflowClient(
        store, registry_uri=store
    )  # not the process-wide registry URI an earlier test may have set
    versions = c.search_model_versions("name = 'cancer-model'")
    assert [str(v.version) for v in versions] == ["1"]
    for alias in ("champion", "challenger"):
        assert str(c.get_model_version_by_alias("cancer-model", alias).version) == "1"
    v1 = c.get_model_version("cancer-model", "1")
    assert v1.tags["mlops.published"] == "true" and v1.tags["mlops.decision"] == "promoted"
    exp = c.get_experiment_by_name("cancer")
    finished = c.search_runs(
        [exp.experiment_id],
        filter_string="tags.`mlops.idempotency_key` != '' and attributes.status = 'FINISHED'",
    )
    assert len(finished) == 1 and v1.run_id == finished[0].info.run_id
    ledger = c.search_runs([c.get_experiment_by_name("mlops-ledger-cancer-model").experiment_id])
    actions = sorted(r.data.tags["mlops.ledger.action"] for r in ledger)
    # one decision; a run killed after its commit is found a duplicate by the next run, and that is recorded
    assert actions == (["duplicate", "promote"] if "summary" in boundary else ["promote"]), actions
