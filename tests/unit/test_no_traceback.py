"""Issue #13, "No traceback, ever, and the documented exit code": specs, settings and command lines a new user gets
wrong are refused in words with the documented exit code (2: fix the spec or the command; 1: a service is down),
before Prefect starts, never with a traceback. The CLI runs in-process (typer's CliRunner on `mlops.cli.app`)."""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.conftest import free_port, spec_text

SPEC = "deployments/cancer.yaml"
WINDOWED = "  target: target\n  time_column: mean_radius\n"


def invoke(*args: str) -> tuple[int, str]:
    """`mlops ARGS` in-process: its exit code and stderr; an exception it did not turn into a message fails."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"`mlops {' '.join(args)}` raised instead of answering with a message:\n{shown}")
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stderr


def spec_with(old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        text = (root / SPEC).read_text()
        assert old in text
        (root / SPEC).write_text(text.replace(old, new, 1))

    return change


def whole_spec(text: str) -> Callable[[Path], object]:
    return lambda root: (root / SPEC).write_text(text)


# --- validate: specs that crashed the reader, or passed although no run could use them --------------------------

SPEC_CASES = {
    "nested-thousands-of-levels": (
        whole_spec("name: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("nested too deeply to read", "mlops schema"),
    ),
    "yaml-key-that-is-a-list": (
        whole_spec("? [a, b]\n: 1\n" + spec_text()),
        ("line 1", "a key must be a plain name, not a list"),
    ),
    "impossible-date": (
        spec_with("  target: target\n", WINDOWED + "  window: {start: 2013-02-30}\n"),
        ("data.window.start", "2013-02-30"),
    ),
    "feature-listed-twice": (
        spec_with(
            "  target: target\n", "  target: target\n  features: {numeric: [mean_radius, mean_radius]}\n"
        ),
        ("data.features.numeric: 'mean_radius' is listed twice",),
    ),
    "feature-numeric-and-categorical": (
        spec_with(
            "  target: target\n",
            "  target: target\n  features: {numeric: [mean_radius], categorical: [mean_radius]}\n",
        ),
        ("'mean_radius' is listed both as numeric and as categorical",),
    ),
    "window-starts-after-it-ends": (
        spec_with("  target: target\n", WINDOWED + "  window: {start: 2014-01-01, end: 2013-01-01}\n"),
        ("data.window: the window starts (2014-01-01T00:00:00) at or after it ends (2013-01-01T00:00:00)",),
    ),
    "negative-column-threshold": (
        lambda root: (root / SPEC).write_text(
            spec_text(extra="monitoring: {column_thresholds: {mean_radius: -0.5}}\n")
        ),
        ("monitoring.column_thresholds.mean_radius", "greater than or equal to 0"),
    ),
    "column-threshold-above-one": (
        lambda root: (root / SPEC).write_text(
            spec_text(extra="monitoring: {column_thresholds: {mean_radius: 1.5}}\n")
        ),
        ("monitoring.column_thresholds.mean_radius: 1.5 is above 1, but no test is named for it",),
    ),
    "column-threshold-above-one-for-a-p-value": (
        lambda root: (root / SPEC).write_text(
            spec_text(
                extra="monitoring: {column_methods: {mean_radius: ks}, column_thresholds: {mean_radius: 5}}\n"
            )
        ),
        ("5 is above 1, but its test 'ks' scores from 0 to 1", "wasserstein"),
    ),
    "negative-seed": (
        spec_with("seed: 3", "seed: -3"),
        ("data.split.seed", "greater than or equal to 0"),
    ),
    "unknown-evidently-stattest": (
        lambda root: (root / SPEC).write_text(
            spec_text(extra="monitoring: {column_methods: {mean_radius: psx}}\n")
        ),
        ("monitoring.column_methods.mean_radius: 'psx' is not an Evidently stattest; did you mean 'psi'?",),
    ),
}


@pytest.mark.parametrize("case", list(SPEC_CASES), ids=list(SPEC_CASES))
def test_validate_refuses_a_spec_no_run_could_use(
    case: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    change, expected = SPEC_CASES[case]
    monkeypatch.chdir(project)
    change(project)
    code, err = invoke("validate", SPEC)
    assert code == 2, err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in:\n{err}"


def test_a_known_stattest_and_a_distance_threshold_above_one_pass_validate(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    monitoring = "{column_methods: {mean_radius: wasserstein}, column_thresholds: {mean_radius: 10.0}}"
    (project / SPEC).write_text(spec_text(extra=f"monitoring: {monitoring}\n"))
    code, err = invoke("validate", SPEC)
    assert code == 0, err


def test_known_stattests_come_from_evidentlys_registry() -> None:
    from tasks.drift import known_stattests

    names = known_stattests()
    assert {"ks", "psi", "wasserstein", "chisquare", "jensenshannon"} <= set(names)
    assert "psx" not in names


# --- the schema states every range, so `mlops schema` and an editor show it -------------------------------------

BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
# numbers with no range that makes sense: an absolute bound on any metric (rmse has no top), an estimator's params
UNBOUNDED = (
    "Guardrail.properties.min.",
    "Guardrail.properties.max.",
    "Model.properties.params.",
    "Model.properties.candidates.",
    "SearchParam.properties.low.",  # a searched param's bounds and choices are the estimator's values too: validate
    "SearchParam.properties.high.",  # checks them against the estimator (mlops/cli/checks.py _param_problems)
    "SearchParam.properties.choices.",
)


def numeric_fields(node: object, path: str = "#") -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer"):
            found.append((path, bool(BOUNDS & node.keys())))
        for key, value in node.items():
            found += numeric_fields(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += numeric_fields(value, f"{path}[{i}]")
    return found


def test_every_number_in_the_schema_has_its_range() -> None:
    from mlops.spec import PipelineSpec

    fields = numeric_fields(PipelineSpec.model_json_schema())
    assert len(fields) >= 20  # the walk reached the nested models
    unbounded = [p for p, bounded in fields if not bounded and not any(u in p + "." for u in UNBOUNDED)]
    assert unbounded == [], f"numeric fields without a range: {unbounded}"
    assert ("#.$defs.Monitoring.properties.column_thresholds.additionalProperties", True) in fields


# --- the command line ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("run", "retrain", SPEC, "--start", "2013-08-01", "--end", "2013-07-01"),
         "--start 2013-08-01 is after --end 2013-07-01"),
        (("run", "monitor", SPEC, "--start", "2013-08-01", "--end", "2013-07-01"), "is after --end"),
        (("replay", SPEC, "--start", "2013-07-01", "--end", "2013-07-01"),
         "--start 2013-07-01 is the same time as --end 2013-07-01"),
        (("run", "monitor", SPEC, "--batch", "data/cancer.csv", "--start", "2013-07-01"), "give the batch one way"),
        (("run", "monitor", SPEC, "--batch", "data/cancer.csv", "--end", "2013-07-01"), "give the batch one way"),
        (("run", "monitor", SPEC, "--batch", "batches/nope.csv"), "--batch batches/nope.csv: no such batch file"),
        (("run", "monitor", SPEC, "--batch", "batches/*.csv"), "no batch file matches it"),
        (("run", "monitor", SPEC, "--batch", "data"), "--batch data: is a folder"),
        (("replay", SPEC, "--start", "2013-07-01", "--end", "2013-09-01", "--retrain-every", "-1"),
         "Invalid value for '--retrain-every': Input should be greater than or equal to 0"),
        (("run", "predict", SPEC, "--batch", "data/cancer.csv", "--out", "table:predictions@MLOPS_TEST_UNSET_URL"),
         "the environment variable MLOPS_TEST_UNSET_URL is not set"),
        (("run", "predict", SPEC, "--batch", "data/cancer.csv", "--out", "table:drop table@X"),
         "a table is named table:NAME@ENV_VAR"),
        (("run", "predict", SPEC, "--batch", "data/cancer.csv", "--out", "out.csv"),
         "end it with .parquet (or name a table: table:NAME@ENV_VAR)"),
    ],
    ids=["retrain-start-after-end", "monitor-start-after-end", "replay-start-equals-end", "batch-and-start",
         "batch-and-end", "batch-file-missing", "batch-glob-matches-nothing", "batch-is-a-folder",
         "negative-retrain-every", "predict-table-url-unset", "predict-table-misnamed", "predict-out-not-parquet"],
)  # fmt: skip
def test_a_command_line_that_cannot_work_is_a_usage_error_before_anything_runs(
    args: tuple[str, ...], expected: str, project: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    code, err = invoke(*args)
    assert code == 2, err
    assert expected in err, err
    assert not isolated_home.exists(), "something ran: the home folder was created"


# --- settings: MLOPS_HOME, MLFLOW_TRACKING_URI, PREFECT_API_URL ----------------------------------------------------


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    return f


SETTINGS_CASES: dict[str, tuple[Callable[[Path], dict[str, str]], int, tuple[str, ...]]] = {
    "home-is-a-file": (
        lambda t: {"MLOPS_HOME": str(_file(t))},
        2,
        ("MLOPS_HOME is", "a-file", "it is a file, not a folder", "set MLOPS_HOME to a folder you can write"),
    ),
    "home-cannot-be-created": (
        lambda t: {"MLOPS_HOME": str(_file(t) / "home")},
        2,
        ("MLOPS_HOME is", "not a directory", "set MLOPS_HOME to a folder you can write"),
    ),
    "sqlite-folder-cannot-be-created": (
        lambda t: {"MLFLOW_TRACKING_URI": f"sqlite:///{_file(t)}/sub/mlflow.db"},
        2,
        ("MLFLOW_TRACKING_URI is sqlite:///", "not a directory", "unset MLFLOW_TRACKING_URI"),
    ),
    "unknown-uri-scheme": (
        lambda t: {"MLFLOW_TRACKING_URI": "foo://tracking.example"},
        2,
        ("MLFLOW_TRACKING_URI is foo://tracking.example", "unsupported URI", "unset MLFLOW_TRACKING_URI"),
    ),
    "prefect-url-malformed": (
        lambda t: {"PREFECT_API_URL": "localhost:4200/api"},
        2,
        (
            "PREFECT_API_URL is 'localhost:4200/api', which is not a Prefect API URL",
            "http://127.0.0.1:4200/api",
        ),
    ),
    "prefect-url-port-not-a-number": (
        lambda t: {"PREFECT_API_URL": "http://127.0.0.1:forty/api"},
        2,
        ("PREFECT_API_URL is 'http://127.0.0.1:forty/api'", "not a Prefect API URL"),
    ),
    "prefect-server-not-listening": (
        lambda t: {"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"},
        1,
        ("PREFECT_API_URL=http://127.0.0.1:", "refused the connection", "tried 3 times over", "unset it"),
    ),
}


@pytest.mark.parametrize("case", list(SETTINGS_CASES), ids=list(SETTINGS_CASES))
def test_a_setting_that_cannot_work_is_named_with_its_value_and_fix(
    case: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, exit_code, expected = SETTINGS_CASES[case]
    monkeypatch.chdir(project)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for key, value in env(tmp_path).items():
        monkeypatch.setenv(key, value)
    code, err = invoke("run", "retrain", SPEC)
    assert code == exit_code, err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    assert "report it" not in err and "RuntimeError" not in err
    assert "Nothing was run." in err


# --- the terminal's run logs: a user error once, one line per retry -----------------------------------------------


def _record(
    name: str, msg: str, args: tuple[object, ...] = (), exc: BaseException | None = None
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, exc_info)


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - the helper returns whatever it raised
        return caught


def test_prefects_retry_log_line_is_the_one_the_filter_lets_through() -> None:
    """The format string is Prefect's own: when Prefect words it otherwise, this fails rather than the filter
    silently hiding the retry lines (INFO), which would make a run waiting to retry look hung."""
    import prefect.task_engine

    from mlops.cli.run_logs import RETRY_FORMAT

    assert f'"{RETRY_FORMAT}"' in inspect.getsource(prefect.task_engine)


def test_a_retried_connection_error_is_said_in_prefects_words_without_a_traceback() -> None:
    from mlops.cli.run_logs import RETRY_FORMAT, ConsoleOnce

    down = _raised(
        ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded " + "x" * 900)
    )
    quiet = ConsoleOnce()
    retry = _record("prefect.task_runs", RETRY_FORMAT, ("exception", down, 1, 3, "2.1 second(s) from now"))
    retry.levelno = logging.INFO
    assert quiet.filter(retry)
    assert retry.getMessage().endswith(
        "Retry 1/3 will start 2.1 second(s) from now"
    )  # Prefect's line as it is
    exhausted = _record(
        "prefect.task_runs", f"Task run failed with exception: {down!r} - Retries are exhausted", exc=down
    )
    assert quiet.filter(exhausted)
    assert exhausted.exc_info is None and exhausted.getMessage().endswith("Retries are exhausted")
    inner = _record(
        "urllib3.connectionpool", "Retrying (%s) after connection broken by '%r': %s", ("r", down, "/x")
    )
    assert not quiet.filter(inner)
    try:
        raise RuntimeError("Cannot put items in a stopped service instance.") from down
    except RuntimeError as events_error:
        noise = _record("prefect.events.utilities", "Error emitting event", exc=events_error)
    assert quiet.filter(noise) and noise.exc_info is None


def test_a_user_error_is_left_to_the_clis_closing_message() -> None:
    from mlops.cli.run_logs import ConsoleOnce
    from mlops.errors import QualityGateFailed

    stop = _raised(QualityGateFailed("the quality gate failed: 3 of 40 expectations on 569 rows"))
    quiet = ConsoleOnce()
    assert not quiet.filter(_record("prefect.task_runs", "Task run failed with exception: %r", (stop,), stop))
    finished = _record(
        "prefect.task_runs", "Finished in state %s", (f"Failed('Task run encountered {stop}')",)
    )
    assert not quiet.filter(finished)  # the user error's text is said once, by the CLI's closing message
    assert not quiet.filter(
        _record("prefect.flow_runs", "Encountered exception during execution: %r", (stop,), stop)
    )
    other = _record("prefect.flow_runs", "Beginning flow run 'retrain'")
    assert quiet.filter(other) and other.getMessage() == "Beginning flow run 'retrain'"


def test_the_filter_reaches_the_terminal_only() -> None:
    import prefect  # noqa: F401 (configures logging: the console handler on the root logger)

    from mlops.cli.run_logs import ConsoleOnce, console_once

    with console_once():
        handlers = logging.getLogger().handlers
        filtered = [h for h in handlers if any(isinstance(f, ConsoleOnce) for f in h.filters)]
        assert filtered and all(isinstance(h, logging.StreamHandler) for h in filtered)
    assert not any(isinstance(f, ConsoleOnce) for h in logging.getLogger().handlers for f in h.filters)
