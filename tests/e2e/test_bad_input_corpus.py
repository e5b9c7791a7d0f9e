"""The bad-input corpus (issue 6, item 1): specs, data, suites and CLI arguments a user gets wrong.

For each case: the exit code, a message naming the file, the field and the fix, no traceback, and no side effect
(the registry's versions, aliases and ledger exactly as before; no code run from a spec).

Speed: the CLI runs in-process (typer's CliRunner on `mlops.cli.app`: the same commands, exit codes and messages),
under one temporary Prefect server for the module; every case starts from a copy of a project whose champion is
already trained, so "nothing changed" is checked against a real registry. A few cases also run as real
subprocesses at the end, to show the process behaves the same.
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.conftest import SUITE, cancer_frame, prefect_server, run_mlops, spec_text

pytestmark = pytest.mark.e2e

SPEC = "deployments/cancer.yaml"
SUITE_FILE = "expectations/cancer.json"
DATA = "data/cancer.csv"
MODEL = "cancer-model"
MARKER = "pwned-by-yaml"  # a file a YAML tag would create if the spec were ever constructed as objects
VALIDATE_AND_RUN = (("validate", SPEC), ("run", "retrain", SPEC))
RUN = (("run", "retrain", SPEC),)


# --- fixtures: one Prefect server, one trained champion, a fresh copy of both per case --------------------------


@pytest.fixture(scope="module")
def corpus_prefect(shared_prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's Prefect server (tests/e2e/conftest.py) for the in-process CLI runs of this module: a module
    server of its own cost another start."""
    with prefect_server(
        tmp_path_factory.mktemp("corpus-prefect-storage"), api_url=shared_prefect_server
    ) as api_url:
        yield api_url


@pytest.fixture(scope="module")
def template(corpus_prefect: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project, MLOPS_HOME) with a champion trained once; each case works on copies of both."""
    from flows.retrain import retrain

    base = tmp_path_factory.mktemp("corpus-template")
    root, home = base / "proj", base / "home"
    (root / "deployments").mkdir(parents=True)
    (root / "expectations").mkdir()
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / SUITE_FILE).write_text(json.dumps(SUITE))
    cancer_frame().to_csv(root / DATA, index=False)
    (root / SPEC).write_text(spec_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = retrain(str(root / SPEC))
        os.environ.pop("MLFLOW_TRACKING_URI", None)  # mlflow.set_tracking_uri exports it; do not leak it
    assert result.decision.promote and result.version == "1"
    return root, home


@pytest.fixture
def workspace(
    template: tuple[Path, Path], tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of the template project (the current folder) and of its home with the trained champion."""
    root = tmp_path / "case"
    shutil.copytree(template[0], root)
    shutil.copytree(template[1], isolated_home, dirs_exist_ok=True)
    monkeypatch.chdir(root)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the module's temporary server, never a real one
    return root


def registry_state() -> dict[str, object]:
    """Everything a failed command must leave alone: versions, the three aliases, the ledger."""
    from tasks.tracking import champion, store
    from tasks.tracking.ledger import history

    c = store.client()
    versions = sorted(int(v.version) for v in c.search_model_versions(f"name = '{MODEL}'"))
    aliases = {a: champion.alias_version(c, MODEL, a) for a in ("champion", "challenger", "previous")}
    ledger = [(e.action, e.version, e.champion_after) for e in history(MODEL)]
    return {"versions": versions, "aliases": aliases, "ledger": ledger}


def invoke(*args: str) -> tuple[int, str, str]:
    """Run `mlops ARGS` in-process; an exception the CLI did not turn into a message fails the test."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"`mlops {' '.join(args)}` raised instead of answering with a message:\n{shown}")
    return result.exit_code, result.stdout, result.stderr


# --- the corpus ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[Path], None]
    expect: tuple[str, ...]  # fragments of stderr: the file, the field (or column), what is wrong, the fix
    commands: tuple[tuple[str, ...], ...] = VALIDATE_AND_RUN
    exit: frozenset[int] = frozenset({2})


def edit(old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        text = (root / SPEC).read_text()
        assert old in text, f"the template spec has no {old!r}"
        (root / SPEC).write_text(text.replace(old, new.replace("MARKER", str(root / MARKER)), 1))

    return change


def append(text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        with (root / SPEC).open("a") as fh:
            fh.write(text)

    return change


def write_spec(content: str | bytes) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        if isinstance(content, bytes):
            (root / SPEC).write_bytes(content)
        else:
            (root / SPEC).write_text(content.replace("MARKER", str(root / MARKER)))

    return change


def write_suite(content: str | dict) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / SUITE_FILE).write_text(content if isinstance(content, str) else json.dumps(content))

    return change


def suite_with(index: int, **changes: object) -> dict:
    suite = json.loads(json.dumps(SUITE))
    exp = suite["expectations"][index]
    for key, value in changes.items():
        if key == "type":
            exp["type"] = value
        elif value is None:
            exp["kwargs"].pop(key)
        else:
            exp["kwargs"][key] = value
    return suite


def write_data(frame_change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        frame_change(cancer_frame()).to_csv(root / DATA, index=False)

    return change


def write_data_text(text_change: Callable[[str], str]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / DATA).write_text(text_change((root / DATA).read_text()))

    return change


def assign(column: str, values: Callable[[pd.DataFrame], object]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = values(frame)
        return frame

    return change


def text_in(column: str, rows: int = 5) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[: rows - 1, column] = "twelve"
        return frame

    return change


def infinities(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[:9, "mean_texture"] = np.inf
    frame.loc[10:14, "mean_texture"] = -np.inf
    return frame


def duplicate_header(text: str) -> str:
    header, rest = text.split("\n", 1)
    return header.replace("mean_texture", "mean_radius", 1) + "\n" + rest


def corrupt_parquet(root: Path) -> None:
    edit("{kind: csv, path: data/cancer.csv}", "{kind: parquet, path: data/cancer.parquet}")(root)
    (root / "data" / "cancer.parquet").write_bytes(b"PAR1" + b"\x00\x13garbage, not a parquet footer" * 20)


def latin1_data(root: Path) -> None:
    frame = cancer_frame()
    frame["target"] = frame["target"].replace("benign", "bénin")
    frame.to_csv(root / DATA, index=False, encoding="latin-1")


def declare_numeric(root: Path) -> None:
    edit("  target: target\n", "  target: target\n  features: {numeric: [mean_radius, mean_texture]}\n")(root)


def chain(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        for c in changes:
            c(root)

    return change


SPEC_CASES = [
    Case("unknown-top-level-field", append("schedules: {retrain: {cron: '0 2 * * 1'}}\n"),
         (f"{SPEC}: schedules: unknown field; did you mean 'schedule'?",)),
    Case("cron-outside-its-flow", append("schedule: {cron: '0 2 * * 1'}\n"),
         (f"{SPEC}: schedule.cron: unknown field", "valid fields here: timezone, retrain, monitor, predict")),
    Case("impossible-cron", append("schedule: {retrain: {cron: '61 * * * *'}}\n"),
         (f"{SPEC}: schedule.retrain.cron: Invalid cron string", "five fields")),
    Case("misspelled-nested-field", edit("  target: target\n", "  targte: target\n"),
         (f"{SPEC}: data.targte: unknown field; did you mean 'target'?",)),
    Case("misspelled-monitoring-field", append("monitoring: {drift_share_treshold: 0.3}\n"),
         (f"{SPEC}: monitoring.drift_share_treshold: unknown field; did you mean 'drift_share_threshold'?",)),
    Case("wrong-type-integer", edit("seed: 3", "seed: three"),
         (f"{SPEC}: data.split.seed: input should be a valid integer", "'three'")),
    Case("wrong-type-mapping", edit("params: {C: 1.0, max_iter: 500}", "params: [1.0, 500]"),
         (f"{SPEC}: model.params: input should be a valid dictionary",)),
    Case("wrong-type-boolean", edit("{numeric: {scale: true}}", "{numeric: {scale: maybe}}"),
         (f"{SPEC}: model.preprocessing.numeric.scale: input should be a valid boolean", "'maybe'")),
    Case("wrong-type-section", edit("registry: {model_name: cancer-model}", "registry: cancer-model"),
         (f"{SPEC}: registry: input should be a valid dictionary",)),
    Case("drift-threshold-above-one", append("monitoring: {drift_share_threshold: 1.5}\n"),
         (f"{SPEC}: monitoring.drift_share_threshold: input should be less than or equal to 1", "1.5")),
    Case("holdout-fraction-out-of-range", edit("holdout_fraction: 0.3", "holdout_fraction: 1.2"),
         (f"{SPEC}: data.split.holdout_fraction: input should be less than 1", "1.2")),
    Case("negative-min-improvement", edit("min_improvement: 0.001", "min_improvement: -0.5"),
         (f"{SPEC}: promotion.min_improvement: input should be greater than or equal to 0",)),
    Case("negative-guardrail-max-drop", edit("max_drop: 0.05", "max_drop: -0.1"),
         (f"{SPEC}: promotion.guardrails[0].max_drop: input should be greater than or equal to 0",)),
    Case("approval-timeout-too-short", append("  approval: {mode: manual, timeout_seconds: 1}\n"),
         (f"{SPEC}: promotion.approval.timeout_seconds: input should be greater than or equal to 10",)),
    Case("misspelled-task", edit("task: classification", "task: clasification"),
         (f"{SPEC}: model.task: 'clasification' is not allowed; did you mean 'classification'?",)),
    Case("misspelled-metric", edit("metric: roc_auc", "metric: roc_aux"),
         (f"{SPEC}: promotion.metric: 'roc_aux' is not a metric of classification; did you mean 'roc_auc'?",)),
    Case("guardrail-metric-of-the-other-task", edit("{metric: recall, max_drop: 0.05}", "{metric: rmse, max_drop: 0.05}"),
         (f"{SPEC}: promotion.guardrails[0].metric: 'rmse' is not a metric of classification",)),
    Case("guardrail-without-a-bound", edit("{metric: recall, max_drop: 0.05}", "{metric: recall}"),
         (f"{SPEC}: promotion.guardrails[0]: a guardrail needs max_drop, min or max",)),
    Case("estimator-not-on-the-allowlist", edit("sklearn.linear_model.LogisticRegression", "os.system"),
         (f"{SPEC}: model.estimator: 'os.system' is not an allowed estimator", "expected one of")),
    Case("estimator-of-the-other-task", edit("sklearn.linear_model.LogisticRegression", "sklearn.linear_model.Ridge"),
         (f"{SPEC}: model.estimator: 'sklearn.linear_model.Ridge' is not a classification estimator",
          "sklearn.linear_model.LogisticRegression")),
    Case("param-out-of-range", edit("{C: 1.0, max_iter: 500}", "{C: -1.0, max_iter: 500}"),
         (f"{SPEC}: model.params: rejected by LogisticRegression", "'C' parameter", "Got -1.0")),
    Case("invalid-pipeline-name", edit("name: cancer\n", "name: Cancer Model!\n"),
         (f"{SPEC}: name: string should match pattern", "'Cancer Model!'")),
    Case("required-section-missing", edit("registry: {model_name: cancer-model}\n", ""),
         (f"{SPEC}: registry: required field is missing", "mlops schema")),
    Case("time-split-without-time-column", edit("strategy: stratified", "strategy: time"),
         (f"{SPEC}: data.split.strategy: a time split needs data.time_column", "add `time_column:")),
    Case("window-without-time-column", edit("  target: target\n", "  target: target\n  window: {start: 2020-01-01}\n"),
         (f"{SPEC}: data.window: a window needs data.time_column",)),
    Case("source-without-path", edit("{kind: csv, path: data/cancer.csv}", "{kind: csv}"),
         (f"{SPEC}: data.source.path: a csv source needs a path", "add `path:")),
    Case("unknown-builtin-dataset", edit("{kind: csv, path: data/cancer.csv}", "{kind: builtin, name: irises}"),
         (f"{SPEC}: data.source.name: 'irises' is not a bundled dataset", "breast_cancer")),
    Case("unknown-source-kind", edit("{kind: csv, path: data/cancer.csv}", "{kind: excel, path: data/cancer.csv}"),
         (f"{SPEC}: data.source.kind: 'excel' is not allowed", "csv")),
    Case("yaml-syntax-error", edit("  target: target\n", "  target: [target\n"),
         (f"{SPEC}: line 5", "not valid YAML", "fix the YAML syntax")),
    Case("yaml-duplicate-key", edit("name: cancer\n", "name: cancer\nname: other\n"),
         (SPEC, "duplicate", "name")),
    Case("yaml-tag-runs-a-command", write_spec("!!python/object/apply:os.system ['touch MARKER']\n"),
         (SPEC, "not valid YAML", "python/object/apply:os.system")),
    Case("yaml-tag-nested-in-a-field", edit("name: cancer\n", "name: !!python/object/apply:os.system ['touch MARKER']\n"),
         (f"{SPEC}: line 1", "not valid YAML", "python/object/apply:os.system")),
    Case("yaml-tag-names-a-function", edit("estimator: sklearn.linear_model.LogisticRegression", "estimator: !!python/name:os.system"),
         (SPEC, "not valid YAML", "python/name:os.system")),
    Case("yaml-tag-builds-an-object", write_spec("name: !!python/object/new:subprocess.Popen [['touch', 'MARKER']]\n"),
         (SPEC, "not valid YAML", "python/object/new:subprocess.Popen")),
    Case("empty-spec-file", write_spec(""),
         (f"{SPEC}: expected a mapping of fields at the top level", "mlops schema")),
    Case("list-at-the-top-level", write_spec("- name: cancer\n- data: {}\n"),
         (f"{SPEC}: expected a mapping of fields at the top level",)),
    Case("scalar-at-the-top-level", write_spec("just some words\n"),
         (f"{SPEC}: expected a mapping of fields at the top level",)),
    Case("non-utf8-spec", write_spec(("description: café\n" + spec_text()).encode("latin-1")),
         (f"{SPEC}: not a UTF-8 text file", "save the spec as UTF-8")),
]  # fmt: skip

SUITE_CASES = [
    Case("suite-invalid-json", write_suite("{oops"),
         ("quality.suite", SUITE_FILE, "not valid JSON (line 1")),
    Case("suite-empty-file", write_suite(""), ("quality.suite", SUITE_FILE, "not valid JSON")),
    Case("suite-not-a-suite", write_suite("[1, 2]"),
         ("quality.suite", SUITE_FILE, 'not a GX suite: expected an object with "name" and an "expectations" list')),
    Case("suite-unknown-expectation-type", write_suite(suite_with(0, type="expect_column_values_to_be_purple")),
         ("quality.suite", SUITE_FILE, "GX rejects the suite", "expect_column_values_to_be_purple")),
    Case("suite-expectation-without-its-column", write_suite(suite_with(1, column=None)),
         ("quality.suite", SUITE_FILE, "GX rejects the suite", "expect_column_values_to_be_between", "column")),
    Case("suite-column-not-in-the-data", write_suite(suite_with(0, column="mean_radiu")),
         ("quality.suite", SUITE_FILE, "column 'mean_radiu' is not in the data; did you mean 'mean_radius'?")),
    Case("suite-file-missing", lambda root: (root / SUITE_FILE).unlink(),
         (f"{SPEC}: quality.suite: suite file", SUITE_FILE, "does not exist; create it or fix the path")),
]  # fmt: skip

DATA_CASES = [  # found before anything runs: `validate` and the preflight of `run retrain` both exit 2
    Case("data-file-missing", lambda root: (root / DATA).unlink(),
         (f"{SPEC}: data.source.path: no data file matches", DATA, "relative to the project root")),
    Case("data-glob-matches-nothing", edit("path: data/cancer.csv", "path: data/*.parquet"),
         (f"{SPEC}: data.source.path: no data file matches", "data/*.parquet")),
    Case("data-file-empty", lambda root: (root / DATA).write_text(""),
         (f"{SPEC}: data.source", DATA, "is empty", "header row")),
    Case("data-header-only", lambda root: (root / DATA).write_text(",".join(cancer_frame().columns) + "\n"),
         (f"{SPEC}: data.source: the data has no rows", "point the source at a file with data")),
    Case("data-corrupt-parquet", corrupt_parquet,
         (f"{SPEC}: data.source", "data/cancer.parquet", "cannot be read as parquet")),
    Case("data-not-utf8", latin1_data, (f"{SPEC}: data.source", DATA, "cannot be read as csv", "utf-8")),
    Case("data-target-absent", write_data(lambda f: f.drop(columns=["target"])),
         (f"{SPEC}: data.target: column 'target' is not in the data",)),
    Case("data-declared-feature-absent", edit("  target: target\n", "  target: target\n  features: {numeric: [mean_radiuss]}\n"),
         (f"{SPEC}: data.features.numeric[0]: column 'mean_radiuss' is not in the data; did you mean 'mean_radius'?",)),
    Case("data-duplicate-column-names", write_data_text(duplicate_header),
         (DATA, "duplicate", "mean_radius")),
]  # fmt: skip

RUN_CASES = [  # found by the run: `run retrain` stops (exit 1; 2 if the preflight learns to see it), nothing promoted
    Case("data-target-constant", write_data(assign("target", lambda f: "benign")),
         (DATA, "the target 'target' has a single class ('benign')", "Widen data.window or check the source"),
         RUN, frozenset({1})),
    Case("data-target-all-null", write_data(assign("target", lambda f: np.nan)),
         (DATA, "the target 'target' has no values"), RUN, frozenset({1})),
    Case("data-all-null-column-in-the-suite", write_data(assign("mean_radius", lambda f: np.nan)),
         ("expect_column_values_to_not_be_null on 'mean_radius': 569 unexpected rows", "Report:"),
         RUN, frozenset({1})),
    Case("data-text-in-a-suite-checked-column", write_data(text_in("mean_radius")),
         ("FAILED", "expect_column_values_to_be_between on 'mean_radius'"), RUN, frozenset({1})),
    Case("data-text-in-a-declared-numeric-column", chain(declare_numeric, write_data(text_in("mean_texture"))),
         (DATA, "mean_texture", "numeric", "twelve"), RUN, frozenset({1, 2})),
    Case("data-infinities", write_data(infinities), (DATA, "mean_texture", "inf"), RUN, frozenset({1, 2})),
    Case("data-truncated-csv", write_data_text(lambda text: text[: len(text) // 2]),
         (DATA, "truncated"), RUN, frozenset({1, 2})),
]  # fmt: skip

ARGUMENT_CASES = [
    Case("cli-missing-spec-argument", lambda root: None, ("Missing argument",), (("run", "retrain"),)),
    Case("cli-unknown-option", lambda root: None, ("No such option: --frobnicate",),
         (("run", "retrain", SPEC, "--frobnicate"),)),
    Case("cli-unknown-command", lambda root: None, ("No such command 'retrain'",), (("retrain", SPEC),)),
    Case("cli-folder-with-no-specs", lambda root: (root / "empty").mkdir(),
         ("no spec files found in empty", "*.yaml"), (("validate", "empty"),)),
    Case("cli-no-deployments-folder", lambda root: shutil.rmtree(root / "deployments"),
         ("deployments", "no such spec file"), (("validate",),)),
    Case("cli-spec-does-not-exist", lambda root: None, ("deployments/nope.yaml: no such spec file; check the path",),
         (("run", "retrain", "deployments/nope.yaml"), ("validate", "deployments/nope.yaml"))),
    Case("cli-spec-is-a-folder", lambda root: None, ("deployments: no such spec file; give a .yaml file, not a folder",),
         (("run", "retrain", "deployments"),)),
    Case("cli-param-without-value", lambda root: None, ("--param takes name=value",),
         (("run", "retrain", SPEC, "--param", "max_iter"),)),
    Case("cli-param-misspelled", lambda root: None,
         ("--param max_iters: LogisticRegression has no parameter 'max_iters'; did you mean 'max_iter'?",),
         (("run", "retrain", SPEC, "--param", "max_iters=5"),)),
    Case("cli-param-out-of-range", lambda root: None, ("--param C=-3: rejected by LogisticRegression", "'C'"),
         (("run", "retrain", SPEC, "--param", "C=-3"),)),
    Case("cli-monitor-without-a-batch", lambda root: None, ("--batch PATH", "--start/--end"),
         (("run", "monitor", SPEC),)),
    Case("cli-replay-bad-period", lambda root: None,
         ("--every must be one of day, week, month, quarter, year, not 'fortnight'",),
         (("replay", SPEC, "--start", "2013-07-01", "--end", "2014-01-01", "--every", "fortnight"),)),
    Case("cli-replay-missing-start", lambda root: None, ("Missing option '--start'",), (("replay", SPEC),)),
    Case("cli-retrain-start-not-a-date", lambda root: None, ("--start", "notadate"),
         (("run", "retrain", SPEC, "--start", "notadate"),)),
    Case("cli-replay-start-not-a-date", lambda root: None, ("--start", "notadate"),
         (("replay", SPEC, "--start", "notadate", "--end", "2014-01-01"),)),
    Case("cli-replay-spec-without-time-column", lambda root: None, (SPEC, "data.time_column"),
         (("replay", SPEC, "--start", "2013-07-01", "--end", "2013-09-01"),)),
    Case("cli-monitor-batch-file-missing", lambda root: None, ("batches/nope.csv", "no such batch file"),
         (("run", "monitor", SPEC, "--batch", "batches/nope.csv"),), frozenset({1, 2})),
]  # fmt: skip

CASES = SPEC_CASES + SUITE_CASES + DATA_CASES + RUN_CASES + ARGUMENT_CASES


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_a_message_and_no_side_effect(case: Case, workspace: Path) -> None:
    case.change(workspace)
    before = registry_state()
    for command in case.commands:
        code, out, err = invoke(*command)
        shown = f"`mlops {' '.join(command)}` exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"
        assert code in case.exit, shown
        for fragment in case.expect:
            assert fragment in err, f"missing {fragment!r} in the message\n{shown}"
        assert "Traceback" not in out + err, shown
        assert "not a known user error" not in err, shown
    assert registry_state() == before
    assert not (workspace / MARKER).exists(), "a YAML tag ran code"


# --- unusual but valid data: it trains, and the new version is judged like any other -----------------------------


def unicode_names(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"mean_texture": "texture_moyenne_é", "mean_area": "面积"})


def huge_categorical(frame: pd.DataFrame) -> pd.DataFrame:
    """Ten copies of the rows, each with its own record id: a categorical column with 5,690 levels."""
    big = pd.concat([frame] * 10, ignore_index=True)
    big["record_id"] = [f"rec-{i:06d}" for i in range(len(big))]
    return big


@pytest.mark.parametrize(
    ("frame_change", "column"),
    [(unicode_names, "面积"), (huge_categorical, "record_id")],
    ids=["unicode-column-names", "huge-categorical-column"],
)
def test_unusual_but_valid_data_trains_and_leaves_the_champion_to_the_policy(
    workspace: Path, frame_change: Callable[[pd.DataFrame], pd.DataFrame], column: str
) -> None:
    write_data(frame_change)(workspace)
    before = registry_state()
    code, out, err = invoke("validate", SPEC)
    assert code == 0, out + err
    code, out, err = invoke("run", "retrain", SPEC)
    assert code == 0, out + err
    assert "Registry: cancer-model v2 is challenger" in out, out
    after = registry_state()
    assert after["versions"] == [1, 2]
    assert after["aliases"]["challenger"] == "2"
    if "Decision: rejected" in out:
        assert after["aliases"]["champion"] == before["aliases"]["champion"] == "1"
    from tasks.tracking import store

    run = store.client().get_run(store.client().get_model_version(MODEL, "2").run_id)
    features = json.loads(run.data.params["features.numeric"]) + json.loads(
        run.data.params["features.categorical"]
    )
    assert column in features, features


# --- the same refusals from a real process ----------------------------------------------------------------------


def mlops_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "MLOPS_HOME": str(home), "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


@pytest.mark.parametrize(
    ("change", "args", "expected"),
    [
        (write_spec("!!python/object/apply:os.system ['touch MARKER']\n"), ("run", "retrain", SPEC),
         "not valid YAML"),
        (lambda root: (root / DATA).unlink(), ("validate", SPEC), "data.source.path: no data file matches"),
        (lambda root: None, ("run", "retrain"), "Missing argument"),
    ],
    ids=["yaml-tag", "data-file-missing", "missing-spec-argument"],
)  # fmt: skip
def test_a_real_process_refuses_the_same_way(
    project: Path, isolated_home: Path, change: Callable[[Path], None], args: tuple[str, ...], expected: str
) -> None:
    change(project)
    r = run_mlops(*args, cwd=project, env=mlops_env(isolated_home))
    assert r.returncode == 2 and expected in r.stderr, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert not (isolated_home / "mlflow.db").exists()
    assert not (project / MARKER).exists()
