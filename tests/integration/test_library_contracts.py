"""Contracts with third-party libraries: where our code leans on a library's private behaviour, a test here says
exactly what it relies on, so an upgrade that breaks it fails here, by name, and not as a slow or wrong run.

Each test is self-contained (its own imports and data): add new contracts as new functions."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_mlflow_pandas_dataset_schema_is_a_cached_property_we_can_preset() -> None:
    """tasks/tracking/lineage.py::with_schema sets `PandasDataset.schema`, a functools.cached_property, so that
    MLflow never infers the schema itself (a Python test of every cell: ~27 s for 1M rows)."""
    import functools
    import inspect
    import json

    import mlflow
    import mlflow.data.pandas_dataset as pandas_dataset
    import pandas as pd
    from mlflow.types.schema import ColSpec, Schema

    from tasks.tracking.lineage import with_schema

    attr = inspect.getattr_static(pandas_dataset.PandasDataset, "schema")
    assert isinstance(attr, functools.cached_property), (
        f"mlflow {mlflow.__version__}: PandasDataset.schema is now {type(attr).__name__}, not a cached_property; "
        "tasks/tracking/lineage.py::with_schema must find another way to skip the slow schema inference"
    )

    frame = pd.DataFrame({"x": [1.0, None, 3.0], "label": ["a", "b", "a"]})
    ds = mlflow.data.from_pandas(frame, source="file:///tmp/contract.csv", name="contract", targets="label")
    ours = Schema([ColSpec("double", "x", required=False), ColSpec("string", "label", required=True)])

    def inferred(*_: object, **__: object) -> None:
        raise AssertionError("MLflow inferred the schema although one was set")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pandas_dataset, "_infer_schema", inferred)
        assert with_schema(ds, ours) is ds
        assert ds.schema is ours
        shown = ds.to_dict()
    assert json.loads(shown["schema"]) == {"mlflow_colspec": ours.to_dict()}
    assert json.loads(shown["profile"]) == {"num_rows": 3, "num_elements": 6}


def test_mlflow_logs_the_schema_our_lineage_sets() -> None:
    """What MLflow stores for a logged dataset input is the schema `lineage.dataset` built (types from the head,
    nullability from the whole frame) and our content digest, not MLflow's own."""
    import json

    import mlflow
    import pandas as pd

    from tasks.data import frame_sha256
    from tasks.tracking import lineage, store

    n = 1_500
    frame = pd.DataFrame(
        {
            "x": [float(i) for i in range(n)],
            "late_null": [1.0] * (n - 1) + [None],
            "label": [i % 2 for i in range(n)],
        }
    )  # late_null's only missing value is past the 1,000 rows its type is read from
    ds = lineage.dataset(frame, "file:///tmp/contract.csv", "contract", "label")
    assert ds.digest == frame_sha256(frame)[:32]

    store.client()
    with mlflow.start_run(experiment_id=store.experiment_id("contracts")) as run:
        mlflow.log_input(ds, context="training")
    (logged,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.digest == ds.digest
    columns = {c["name"]: c for c in json.loads(logged.dataset.schema)["mlflow_colspec"]}
    assert columns["x"]["type"] == "double" and columns["x"]["required"] is True
    assert columns["late_null"]["required"] is False
    assert columns["label"]["type"] == "long"


def test_prefect_server_schedule_models_give_the_next_date_of_client_schedules() -> None:
    """mlops/cli/server.py::next_date (the next run shown by `mlops serve` / `mlops deploy`) re-reads a client-side
    schedule as the server-side model of the same name in `prefect.server.schemas.schedules` (private: the client
    models cannot compute dates). It hides failures as "-", so this test is where an upgrade that breaks it shows."""
    import datetime as dt

    import prefect
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    from mlops.cli.server import next_date

    now = dt.datetime.now(dt.UTC)
    for schedule in (
        CronSchedule(cron="0 2 * * 1", timezone="UTC"),
        IntervalSchedule(interval=dt.timedelta(hours=6), timezone="UTC"),
        RRuleSchedule(rrule="FREQ=DAILY;BYHOUR=3;BYMINUTE=0", timezone="UTC"),
    ):
        when = next_date(schedule)
        assert isinstance(when, dt.datetime), (
            f"prefect {prefect.__version__}: no next date for {type(schedule).__name__} through "
            "prefect.server.schemas.schedules; mlops/cli/server.py::next_date needs another way"
        )
        assert now < when <= now + dt.timedelta(days=7), (type(schedule).__name__, when)


def test_prefect_wait_for_flow_run_ends_or_times_out_as_mlops_trigger_expects(prefect_harness: None) -> None:
    """`mlops trigger --wait` waits with prefect.flow_runs.wait_for_flow_run and, on its FlowRunWaitTimeout, tells
    the user the run goes on on the server (mlops/cli/trigger.py::wait_for): a run that moves on while we wait is
    returned final, a stuck one is returned not final once the timeout has passed, never raised as a traceback."""
    import threading
    import time

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Running, Scheduled

    from mlops.cli.trigger import wait_for

    @flow(name="contract-wait")
    def noop() -> int:
        return 1

    with get_client(sync_client=True) as client:
        moving = client.create_flow_run(noop, state=Scheduled()).id  # as a deployment's run starts
        stuck = client.create_flow_run(noop, state=Scheduled()).id

    def move() -> None:
        time.sleep(1.5)
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(moving, Running(), force=True)
            time.sleep(0.5)
            client.set_flow_run_state(moving, Completed(), force=True)

    mover = threading.Thread(target=move)
    mover.start()
    final = wait_for(moving, 90)
    mover.join()
    assert final.state is not None and final.state.is_completed()

    still = wait_for(stuck, 1)
    assert still.state is not None and not still.state.is_final() and still.state.name == "Scheduled"


def test_sklearn_validate_params_checks_constructor_params_without_fitting() -> None:
    """tasks/train.py::check_constructor_params calls BaseEstimator._validate_params (private; no public function
    checks params without fitting) so that `mlops validate` rejects `max_iter: -1` before any data is read."""
    import sklearn
    from sklearn.base import BaseEstimator
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from tasks.train import check_constructor_params, param_problems

    assert callable(getattr(BaseEstimator, "_validate_params", None)), (
        f"scikit-learn {sklearn.__version__}: BaseEstimator._validate_params is gone; "
        "tasks/train.py::check_constructor_params needs another way to check params without fitting"
    )
    good = HistGradientBoostingClassifier(max_iter=5, learning_rate=0.1)
    check_constructor_params(good)
    with pytest.raises(NotFittedError):
        check_is_fitted(good)  # checked, not fitted
    with pytest.raises(ValueError, match=r"'max_iter' parameter of HistGradientBoostingClassifier"):
        check_constructor_params(HistGradientBoostingClassifier(max_iter=-1))
    with pytest.raises(ValueError, match=r"'learning_rate'"):
        check_constructor_params(HistGradientBoostingClassifier(learning_rate="fast"))

    (problem,) = param_problems("s.yaml", "sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": -1})
    assert problem.path == "model.params" and "rejected by HistGradientBoostingClassifier" in problem.message
    assert "max_iter" in problem.message


def test_gx_public_expectation_classes_cover_every_registered_expectation() -> None:
    """tasks/quality.py::expectation_classes finds a suite's expectation types among the public classes of
    great_expectations.expectations by their `expectation_type`; every type GX itself knows must be there, and a
    class must reject wrong kwargs at construction (that is how a bad suite is reported before any data)."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    from tasks.quality import check_suite, expectation_classes

    classes = expectation_classes()
    registered = set(list_registered_expectation_implementations())
    assert registered and registered <= set(classes), (
        f"great_expectations {gx.__version__}: expectation types not among the public classes of "
        f"great_expectations.expectations: {sorted(registered - set(classes))}"
    )
    not_null = classes["expect_column_values_to_not_be_null"]
    assert not_null is gx.expectations.ExpectColumnValuesToNotBeNull
    assert not_null(column="x").expectation_type == "expect_column_values_to_not_be_null"
    with pytest.raises(Exception, match="column"):
        not_null()

    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        suite = Path(folder) / "suite.json"
        suite.write_text(json.dumps({"name": "s", "expectations": [
            {"type": "expect_magic", "kwargs": {}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x"}},
        ]}))  # fmt: skip
        (magic,) = check_suite("s.yaml", "quality.suite", suite, None)
        assert "'expect_magic': not an expectation type of Great Expectations" in magic.message
        suite.write_text(json.dumps({"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x"}},
        ]}))  # fmt: skip
        (between,) = check_suite("s.yaml", "quality.suite", suite, None)
        assert "min_value and max_value cannot both be None" in between.message


def test_gx_progress_bars_config_silences_validation(capfd: pytest.CaptureFixture[str]) -> None:
    """tasks/quality.py::quiet_progress_bars sets context.variables.progress_bars to a ProgressBarsConfig (a GX
    internal: no public type exists) so that validations print no tqdm bars on stderr."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import pandas as pd

    from tasks.quality import quiet_progress_bars

    def validate(quiet: bool) -> str:
        context = gx.get_context(mode="ephemeral")
        if quiet:
            quiet_progress_bars(context)
        suite = context.suites.add(
            gx.ExpectationSuite(
                name="s", expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="a")]
            )
        )
        batch = (
            context.data_sources.add_pandas("p")
            .add_dataframe_asset("a")
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": pd.DataFrame({"a": [1, 2, 3]})})
        )
        capfd.readouterr()
        assert batch.validate(suite).success
        return capfd.readouterr().err

    assert "Calculating Metrics" in validate(quiet=False), (
        "GX no longer prints progress bars: drop the setting?"
    )
    context = gx.get_context(mode="ephemeral")
    quiet_progress_bars(context)
    assert context.variables.progress_bars["globally"] is False
    assert "Calculating Metrics" not in validate(quiet=True), (
        f"great_expectations {gx.__version__}: ProgressBarsConfig(globally=False) no longer silences validations"
    )


def test_evidently_value_drift_results_carry_method_threshold_and_verdict() -> None:
    """tasks/drift.py::_summarize reads each ValueDrift metric's config (the method and threshold Evidently used:
    its display name when it chose the test, the id it was given otherwise) and the metric's "drift" test
    status; tasks/drift.py::stattest_name maps an id to its display name with Evidently's stattest registry."""
    import warnings

    import numpy as np
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report, Run
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    from tasks.drift import stattest_name

    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.choice(list("xyz"), 300), "c": rng.normal(size=300)}
    )
    cur = pd.DataFrame(
        {"a": rng.normal(2, size=300), "b": rng.choice(list("xyz"), 300), "c": rng.normal(size=300)}
    )
    definition = DataDefinition(numerical_columns=["a", "c"], categorical_columns=["b"])
    report = Report(
        [
            DataDriftPreset(
                columns=["a", "b"], per_column_method={"b": "psi"}, per_column_threshold={"b": 0.2}
            ),
            ValueDrift(column="c", method="wasserstein"),
        ],
        include_tests=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = report.run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
    result = Run.loads(run.dumps()).dict()  # a reloaded snapshot reads the same

    drifts = {
        m["config"]["column"]: m
        for m in result["metrics"]
        if m["config"]["type"] == "evidently:metric_v2:ValueDrift"
    }
    assert set(drifts) == {"a", "b", "c"}
    assert (drifts["a"]["config"]["method"], drifts["a"]["config"]["threshold"]) == ("K-S p_value", 0.05)
    assert (drifts["b"]["config"]["method"], drifts["b"]["config"]["threshold"]) == ("psi", 0.2)
    assert drifts["c"]["config"]["method"] == "wasserstein" and drifts["c"]["config"]["threshold"] == 0.1
    assert all(isinstance(m["value"], float) for m in drifts.values())

    verdicts = {
        t["metric_config"]["metric_id"]: str(getattr(t["status"], "value", t["status"]))
        for t in result["tests"]
        if t["id"] == "drift"
    }
    assert verdicts[drifts["a"]["id"]] == "FAIL" and verdicts[drifts["c"]["id"]] in ("FAIL", "SUCCESS")
    assert set(verdicts) == {m["id"] for m in drifts.values()}

    assert [stattest_name(m) for m in ("psi", "wasserstein", "ks", "chisquare", "jensenshannon")] == [
        "PSI", "Wasserstein distance (normed)", "K-S p_value", "chi-square p_value", "Jensen-Shannon distance",
    ]  # fmt: skip
    assert stattest_name("K-S p_value") == "K-S p_value"  # a display name stays as it is


def test_prefect_slack_webhook_keeps_the_apprise_client_smtp_block_checks() -> None:
    """mlops/cli/notify_blocks.py::apprise_plugins reads SlackWebhook's private `_apprise_client` (the
    apprise.Apprise that its block_initialization builds from the URL: Prefect has no public way to see what apprise
    made of a URL), and smtp_block reads the one plugin's `targets`, `(name, address)` pairs, to check that every
    recipient was kept: a refused URL has no plugin, a refused address is missing from `targets`."""
    import apprise
    import prefect
    from prefect.blocks.notifications import SlackWebhook

    from mlops.cli.notify_blocks import apprise_plugins, mail_url
    from mlops.cli.notify_config import Channel

    def block(tls: str, to: list[str]) -> SlackWebhook:
        channel = Channel(
            kind="email", smtp_host="127.0.0.1", smtp_port=2525, tls=tls, sender="m@x.org", to=to
        )
        made = SlackWebhook(url=mail_url(channel, "user", "pw"))
        assert hasattr(made, "_apprise_client"), (
            f"prefect {prefect.__version__}: SlackWebhook no longer keeps its apprise client as `_apprise_client`; "
            "mlops/cli/notify_blocks.py::apprise_plugins needs another way to check SMTP settings"
        )
        return made

    for tls, scheme in (("none", "mailto://user:pw@127.0.0.1:2525/?"), ("starttls", "mailtos://")):
        made = block(tls, ["a@x.org", "b@x.org"])
        assert made.url.get_secret_value().startswith(scheme)
        plugins = apprise_plugins(made)
        assert len(plugins) == 1, f"apprise {apprise.__version__} made {len(plugins)} plugins of one mail URL"
        assert [t[1] for t in plugins[0].targets] == ["a@x.org", "b@x.org"], (
            f"apprise {apprise.__version__}: NotifyEmail.targets no longer lists the recipients as (name, address)"
        )

    (dropped,) = apprise_plugins(block("none", ["a@x.org", "b@x..org"]))
    assert [t[1] for t in dropped.targets] == ["a@x.org"]  # apprise drops an address it cannot use
    assert apprise_plugins(SlackWebhook(url="mailto://user:pw@bad host:2525/?to=a@x.org")) == []
