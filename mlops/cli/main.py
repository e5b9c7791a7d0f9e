"""The `mlops` command: the typer app and the pipeline commands. Heavy libraries are imported inside the commands,
so `mlops --help` answers at once; what they print is in render.py, how they run and fail in runtime.py.

Exit codes: 0 the run finished (promoted or not), 1 the pipeline stopped (quality gate, unusable data, a service
down), 2 a usage or spec error (a setting or credentials to correct: a refused password, a 401/403).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlops import __version__
from mlops.cli import deploy_commands, init_command, listings, render, server_commands
from mlops.cli.arguments import anchor_spec, check_dates, needs_time_column
from mlops.cli.params import check_overrides
from mlops.cli.predict_command import run_predict
from mlops.cli.preflight import preflight_spec
from mlops.cli.render import err, out
from mlops.cli.runtime import (
    fail,
    flow_run,
    prefect_context,
    prefect_settings,
    prefect_where,
    quiet_environment,
    spec_problems,
    start_server_early,
    user_errors,
)
from mlops.errors import SpecError


class _Commands(TyperGroup):
    """Every command finds its project (mlops/project.py); outside one, with no MLOPS_HOME, it stops with exit 2
    before anything is written, whichever command asked for the store first."""

    def invoke(self, ctx: Any) -> Any:
        from mlops.project import NoProject, anchor_at

        anchor_at(
            None
        )  # a spec argument anchors this command to its project (arguments.anchor_spec), no other
        try:
            return super().invoke(ctx)
        except NoProject as exc:
            fail(2, str(exc))
        finally:
            anchor_at(None)


app = typer.Typer(
    cls=_Commands,
    help="Declarative ML pipelines on Prefect: quality gates, MLflow tracking, champion/challenger promotion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
run_app = typer.Typer(help="Run a pipeline's flow now, in this process.", no_args_is_help=True)
app.add_typer(run_app, name="run")
run_app.command("predict")(run_predict)
app.command("serve")(deploy_commands.serve)
app.command("deploy")(deploy_commands.deploy)
app.add_typer(deploy_commands.trigger_app, name="trigger")
app.command("status")(listings.status)
app.command("history")(listings.history)
app.command("init")(init_command.init)
app.add_typer(server_commands.server_app, name="server")
SpecArg = Annotated[
    Path, typer.Argument(help="The pipeline spec, e.g. deployments/flight_delays.yaml", callback=anchor_spec)
]


def _version(value: bool) -> None:
    if value:
        out.print(f"mlops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", help="Also show the libraries' INFO logs (Prefect, GX) in the terminal."),
    ] = False,
) -> None:
    """Declare a pipeline in deployments/NAME.yaml, check it with `mlops validate`, run it with `mlops run retrain`."""
    quiet_environment()
    from mlops.cli.run_logs import VERBOSE
    from mlops.settings import Settings, SettingsError

    VERBOSE.set(verbose)
    try:  # every variable we read, checked once before any command starts (the project's store: when used)
        settings = Settings.from_environment()
    except SettingsError as exc:
        fail(exc.exit_code, str(exc))
    if settings.prefect_api_url is None:
        # set but blank (`PREFECT_API_URL= mlops ...`) reads as unset, before any check imports Prefect (validate's
        # schedule check does): Prefect reading it blank leaves its events worker failing with a traceback per event
        os.environ.pop("PREFECT_API_URL", None)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Spec files or folders (default: deployments/)")
    ] = None,
) -> None:
    """Check specs and everything they point at (data, suite, estimator, params); report every problem at once.

    Exits 0 when all specs are valid, 1 when the only problem is a data source that did not answer (rerun when
    it does), 2 otherwise.
    """
    from mlops.cli.checks import check_specs, spec_files
    from mlops.cli.spec_warnings import spec_warnings
    from mlops.cli.time_column import time_note

    files = spec_files(paths or [Path("deployments")])
    if not files:
        shown = ", ".join(str(p) for p in paths or [Path("deployments")])
        fail(2, f"no spec files found in {shown}; specs are *.yaml files.")
    bad, down_only = 0, True
    for f, problems in check_specs(files):
        if problems:
            bad += 1
            down_only = down_only and all(p.extra.get("service") == "down" for p in problems)
            err.print(f"[red]✗[/red] {f}: {len(problems)} problem(s)")
            for p in problems:
                err.print(f"  {p.render()}", markup=False)
        else:
            out.print(f"[green]✓[/green] {f}{time_note(f)}")
            for warning in spec_warnings(f):
                err.print(f"  warning: {warning}", markup=False)
    if bad and down_only:  # as `mlops run` says it: nothing to fix in the specs
        fail(
            1,
            "the data source did not answer (above); the specs were not fully checked. Rerun when it answers.",
        )
    if bad:
        fail(2, f"{bad} of {len(files)} spec(s) have problems; fix them and run `mlops validate` again.")
    out.print(f"{len(files)} spec(s) valid.")


@app.command()
def schema() -> None:
    """Print the JSON Schema of a pipeline spec (point your editor's YAML plugin at it)."""
    from mlops.spec import PipelineSpec

    out.print_json(json.dumps(PipelineSpec.model_json_schema()))


@run_app.command("retrain")
def run_retrain(
    spec: SpecArg,
    start: Annotated[
        str | None, typer.Option(help="Train on data from this time on (overrides data.window)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="... up to this time, excluded")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Override a model param for this run, e.g. --param learning_rate=0.05"),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show the full traceback of unexpected errors.")] = False,
) -> None:
    """Validate the data, train, track in MLflow, compare with the champion, and promote if the policy allows.

    Exits 0 when the run finished (promoted or not), 1 when the pipeline stopped (e.g. the quality gate failed),
    2 when the spec is wrong.
    """
    overrides = _params(param or [])
    check_dates(start=start, end=end)
    preflight_spec(spec)
    check_overrides(spec, overrides)  # blamed on the option, not on the spec
    if start or end:
        needs_time_column(spec, "--start/--end")
    start_server_early()  # every usage and spec check passed: a refused command starts nothing
    # the flow's imports (MLflow, Prefect, scikit-learn) overlap the server's start
    from flows.retrain import retrain

    settings = prefect_settings()
    out.print(
        f"[bold]retrain[/bold] {spec}  (MLflow: {settings.tracking_uri_shown}; Prefect: {prefect_where(settings)})"
    )
    with prefect_context(settings), user_errors(debug):
        result, run_id = flow_run(
            retrain, str(spec), window_start=start, window_end=end, params=overrides or None
        )
    render.print_retrain(result, settings)
    render.print_prefect_link(settings, run_id)
    from tasks.tracking.snapshot import refresh

    refresh(result.model_name)  # so `mlops status` next reads no MLflow


@run_app.command("monitor")
def run_monitor(
    spec: SpecArg,
    batch: Annotated[str | None, typer.Option(help="A CSV or Parquet batch file (or a glob of them)")] = None,
    start: Annotated[
        str | None, typer.Option(help="Or: a window of the spec's source, from (ISO date)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="... up to, excluded (ISO date)")] = None,
    debug: Annotated[bool, typer.Option(help="Show the full traceback of unexpected errors.")] = False,
) -> None:
    """Judge a batch against the champion: quality gate, Evidently drift and quality report, verdict; emits
    `mlops.drift.detected` on drift and retrains when the spec says `on_drift: retrain`.

    Exits 0 when no drift, 3 on an alert (drift, a quality drop, a feature the monitor cannot judge), 1 when the pipeline stopped (quality gate, no champion,
    unusable batch), 2 on a usage or spec error.
    """
    if batch is None and start is None and end is None:
        fail(2, "give the batch to judge: --batch PATH, or --start/--end for a window of the spec's source.")
    check_dates(start=start, end=end)
    from mlops.cli.arguments import check_batch

    check_batch(batch, start, end)
    preflight_spec(spec)
    if batch is None:
        needs_time_column(spec, "--start/--end")
    start_server_early()  # after the checks, as for retrain; the flow's imports overlap the server's start
    from flows.monitor import monitor

    settings = prefect_settings()
    out.print(
        f"[bold]monitor[/bold] {spec}  (MLflow: {settings.tracking_uri_shown}; Prefect: {prefect_where(settings)})"
    )
    with prefect_context(settings), user_errors(debug):
        result, run_id = flow_run(monitor, str(spec), batch=batch, start=start, end=end)
    render.print_monitor(result)
    render.print_prefect_link(settings, run_id)
    if result.verdict.acts:  # drift, a quality drop or a feature the monitor cannot judge
        raise typer.Exit(3)


@app.command()
def replay(
    spec: SpecArg,
    start: Annotated[str, typer.Option(help="First period's start (ISO date)")],
    end: Annotated[str, typer.Option(help="Last period's end, excluded (ISO date)")],
    every: Annotated[str, typer.Option(help="Period length: day, week, month, quarter or year")] = "month",
    retrain_every: Annotated[
        int, typer.Option(min=0, help="Also retrain on a schedule every N periods (0: never)")
    ] = 0,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines",
            help="Also compare with never retraining and retraining every period (trained in memory, nothing "
            "registered): the mean realised quality of the models served and the retrains each made",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show the full traceback of unexpected errors.")] = False,
    as_json: listings.JsonOption = False,
) -> None:
    """Replay production over the spec's source: monitor each period, retrain on drift (and on a schedule), and
    print the timeline: period, rows, quality gate, drift share, model quality, action, champion version; with
    --baselines, the outcome against never retraining and retraining every period."""
    from mlops.drift_policy import PERIODS

    if every not in PERIODS:
        fail(2, f"--every must be one of {', '.join(PERIODS)}, not '{every}'.")
    check_dates(start=start, end=end)
    preflight_spec(spec)
    needs_time_column(spec, "replay")
    settings = prefect_settings()
    with prefect_context(settings), user_errors(debug):
        from flows.replay import replay as replay_flow

        timeline, run_id = flow_run(
            replay_flow, str(spec), start=start, end=end, every=every, retrain_every=retrain_every,
            baselines=baselines,
        )  # fmt: skip
    listings.print_replay(timeline, as_json)
    if not as_json:
        render.print_prefect_link(settings, run_id)


@app.command()
def rollback(
    spec: SpecArg,
    reason: Annotated[str, typer.Option(help="Why: recorded in the ledger with your name")],
    to: Annotated[
        str | None, typer.Option(help="The version to make champion (default: the `previous` alias)")
    ] = None,
) -> None:
    """Move the champion back to the previous one (or --to VERSION) and record who did it and why."""
    loaded = _load(spec)
    if not reason.strip():
        fail(2, "--reason must say why (it is recorded in the ledger).")
    from tasks.locking import promotion_lock
    from tasks.tracking import champion, registry

    name = loaded.spec.registry.model_name
    with user_errors(False), promotion_lock(name):
        before, after = registry.rollback(
            name, to.lstrip("v") if to else None, reason, actor=f"user:{_user()}"
        )
        target = next((v for v in champion.registry_state(name) if v.version == after), None)
    out.print(listings.rollback_message(name, before, after, target, spec), markup=False)
    from mlops.cli.notifications import announce_rollback

    announce_rollback(loaded.spec.name, name, before, after, reason, actor=f"user:{_user()}")
    from tasks.tracking.snapshot import refresh

    refresh(name)


@app.command()
def promote(
    spec: SpecArg,
    version: Annotated[str, typer.Option("--version", help="The version to make champion, e.g. 3 or v3")],
    reason: Annotated[
        str, typer.Option(help="Why: recorded in the ledger and on the version with your name")
    ],
) -> None:
    """Make a version champion by hand, e.g. an honest model the policy rejected against a first champion that
    proved leaky or wrong; recorded as a manual promotion (not a rollback), with who and why.

    Exits 0 when promoted, 2 when the version cannot be promoted (missing, another pipeline's, already champion,
    not loadable, the spec's approval mode is dry_run); nothing is moved then."""
    loaded = _load(spec)
    if not reason.strip():
        fail(2, "--reason must say why (it is recorded in the ledger and on the version).")
    from tasks.locking import promotion_lock
    from tasks.tracking import registry

    name = loaded.spec.registry.model_name
    with user_errors(False), promotion_lock(name):
        done = registry.promote(
            name, loaded.spec.name, version, reason, actor=f"user:{_user()}",
            approval_mode=loaded.spec.promotion.approval.mode,
        )  # fmt: skip
    before = f"v{done.champion_before}" if done.champion_before else "no champion"
    out.print(
        f"{name}: v{done.version} promoted by hand (was {before}; `previous` now points there); "
        f"recorded in the ledger as a manual promotion (mlops history {spec}).",
        markup=False,
    )
    from mlops.cli.notifications import announce_manual_promotion

    announce_manual_promotion(
        loaded.spec.name, name, before, str(done.version), reason, actor=f"user:{_user()}"
    )
    from tasks.tracking.snapshot import refresh

    refresh(name)


@app.command()
def approve(
    spec: SpecArg,
    comment: Annotated[str, typer.Option(help="Recorded with the approval")] = "",
) -> None:
    """Approve the promotion a paused retrain run is waiting on (approval mode manual; needs PREFECT_API_URL)."""
    _answer(spec, True, comment)


@app.command()
def reject(
    spec: SpecArg,
    comment: Annotated[str, typer.Option(help="Recorded with the rejection")] = "",
) -> None:
    """Reject the promotion a paused retrain run is waiting on (approval mode manual; needs PREFECT_API_URL)."""
    _answer(spec, False, comment)


def _answer(spec: Path, approved: bool, comment: str) -> None:
    _load(spec)
    # PREFECT_API_URL, or the kept local server if one runs (never started for this)
    if not prefect_settings(start=False).prefect_api_url:
        fail(2, "approvals live on a Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api).")
    from mlops.cli.approvals import answer

    with user_errors(False):
        run_name = answer(spec, approved, reviewer=f"user:{_user()}", comment=comment)
    out.print(f"{'Approved' if approved else 'Rejected'}: flow run {run_name} resumes.")


def _load(spec: Path) -> Any:
    from mlops.spec import load_spec

    try:
        return load_spec(spec)
    except SpecError as exc:
        spec_problems(exc.problems)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no entry in the password database
        return "unknown"


# --- helpers ---------------------------------------------------------------------------------------------


def _params(items: list[str]) -> dict[str, Any]:
    """`--param name=value` pairs; values are read as YAML scalars (0.05 is a number, true a boolean)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(2, f"--param takes name=value (e.g. --param learning_rate=0.05), not '{item}'.")
        try:
            out[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            fail(2, f"--param {item}: the value is not a plain number, word or list.")
    return out
