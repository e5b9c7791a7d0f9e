"""The `mlops` command. Heavy libraries are imported inside the commands, so `mlops --help` answers at once.

Exit codes: 0 the run finished (promoted or not), 1 the pipeline stopped (quality gate, unusable data, a service
down), 2 a usage or spec error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlops import __version__, cli_deploy
from mlops.errors import MlopsError, Problem, SpecError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tasks.report import RetrainResult

app = typer.Typer(
    help="Declarative ML pipelines on Prefect: quality gates, MLflow tracking, champion/challenger promotion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
run_app = typer.Typer(help="Run a pipeline's flow now, in this process.", no_args_is_help=True)
app.add_typer(run_app, name="run")
app.command("serve")(cli_deploy.serve)
app.command("deploy")(cli_deploy.deploy)
app.add_typer(cli_deploy.trigger_app, name="trigger")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",  # GX draws a progress bar per validation on stderr
    "DO_NOT_TRACK": "true",
    # A temporary Prefect server starts in 6-12 s, slower when several runs start at once: give it time.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # OpenMP threads sleep when idle instead of spinning: beside a Prefect server on 2 cores, spinning made
    # HistGradientBoosting's fit 10-20x slower (docs/benchmarks.md). Read when scikit-learn loads.
    "OMP_WAIT_POLICY": "PASSIVE",
}
SpecArg = Annotated[Path, typer.Argument(help="The pipeline spec, e.g. deployments/flight_delays.yaml")]


def _version(value: bool) -> None:
    if value:
        out.print(f"mlops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Declare a pipeline in deployments/NAME.yaml, check it with `mlops validate`, run it with `mlops run retrain`."""
    # Before any library is imported: no analytics calls (no network here) and no per-validation progress bars.
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Spec files or folders (default: deployments/)")
    ] = None,
) -> None:
    """Check specs and everything they point at (data, suite, estimator, params); report every problem at once.

    Exits 0 when all specs are valid, 2 otherwise.
    """
    from mlops.checks import check_spec, spec_files

    files = spec_files(paths or [Path("deployments")])
    if not files:
        shown = ", ".join(str(p) for p in paths or [Path("deployments")])
        _fail(2, f"no spec files found in {shown}; specs are *.yaml files.")
    bad = 0
    for f in files:
        _, problems = check_spec(f)
        if problems:
            bad += 1
            err.print(f"[red]✗[/red] {f}: {len(problems)} problem(s)")
            for p in problems:
                err.print(f"  {p.render()}", markup=False)
        else:
            out.print(f"[green]✓[/green] {f}")
    if bad:
        _fail(2, f"{bad} of {len(files)} spec(s) have problems; fix them and run `mlops validate` again.")
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
    _dates(start=start, end=end)
    _preflight(spec, overrides)
    if start or end:
        _needs_time_column(spec, "--start/--end")
    settings = _prefect_settings()
    out.print(
        f"[bold]retrain[/bold] {spec}  (MLflow: {settings.tracking_uri}; Prefect: {_prefect_where(settings)})"
    )
    with _prefect(settings), _user_errors(debug):
        from flows.retrain import retrain

        result, run_id = _flow_run(
            retrain, str(spec), window_start=start, window_end=end, params=overrides or None
        )
    _print_retrain(result, settings)
    _print_prefect_link(settings, run_id)


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

    Exits 0 when no drift, 3 when drift was detected, 1 when the pipeline stopped (quality gate, no champion,
    unusable batch), 2 on a usage or spec error.
    """
    if batch is None and start is None and end is None:
        _fail(2, "give the batch to judge: --batch PATH, or --start/--end for a window of the spec's source.")
    _dates(start=start, end=end)
    _preflight(spec)
    if batch is None:
        _needs_time_column(spec, "--start/--end")
    settings = _prefect_settings()
    out.print(
        f"[bold]monitor[/bold] {spec}  (MLflow: {settings.tracking_uri}; Prefect: {_prefect_where(settings)})"
    )
    with _prefect(settings), _user_errors(debug):
        from flows.monitor import monitor

        result, run_id = _flow_run(monitor, str(spec), batch=batch, start=start, end=end)
    _print_monitor(result)
    _print_prefect_link(settings, run_id)
    if result.verdict.drifted or result.verdict.quality_dropped:
        raise typer.Exit(3)


@app.command()
def replay(
    spec: SpecArg,
    start: Annotated[str, typer.Option(help="First period's start (ISO date)")],
    end: Annotated[str, typer.Option(help="Last period's end, excluded (ISO date)")],
    every: Annotated[str, typer.Option(help="Period length: day, week or month")] = "month",
    retrain_every: Annotated[
        int, typer.Option(help="Also retrain on a schedule every N periods (0: never)")
    ] = 0,
    debug: Annotated[bool, typer.Option(help="Show the full traceback of unexpected errors.")] = False,
) -> None:
    """Replay production over the spec's source: monitor each period, retrain on drift (and on a schedule), and
    print the timeline: period, rows, quality gate, drift share, model quality, action, champion version."""
    if every not in ("day", "week", "month"):
        _fail(2, f"--every must be day, week or month, not '{every}'.")
    _dates(start=start, end=end)
    _preflight(spec)
    _needs_time_column(spec, "replay")
    settings = _prefect_settings()
    with _prefect(settings), _user_errors(debug):
        from flows.replay import replay as replay_flow

        timeline, run_id = _flow_run(
            replay_flow, str(spec), start=start, end=end, every=every, retrain_every=retrain_every
        )
    table = Table("period", "rows", "quality gate", "drift share", f"batch {timeline.metric}", "action", "champion",
                  title="Replay timeline")  # fmt: skip
    for r in timeline.rows:
        table.add_row(
            r.period, f"{r.rows:,}", r.quality_gate, _pct(r.drift_share),
            "" if r.model_metric is None else f"{r.model_metric:.4f}", r.action,
            f"v{r.champion_version}" if r.champion_version else "",
        )  # fmt: skip
    out.print(table)
    out.print(f"Timeline saved: {timeline.csv_path}", markup=False)
    _print_prefect_link(settings, run_id)


@app.command()
def history(spec: SpecArg) -> None:
    """Every promotion decision, rollback and approval of the pipeline's model, oldest first (the ledger)."""
    loaded = _load(spec)
    from tasks import tracking

    name = loaded.spec.registry.model_name
    with _user_errors(False):
        entries = tracking.history(name)
    if not entries:
        out.print(f"No decisions recorded for '{name}' yet. Train one: mlops run retrain {spec}")
        return
    table = Table("when (UTC)", "action", "version", "champion", "by", "why", title=f"{name}: ledger")
    for e in entries:
        moved = f"v{e.champion_before or '-'} -> v{e.champion_after or '-'}"
        table.add_row(
            e.at, e.action, f"v{e.version}" if e.version else "", moved, e.actor, "\n".join(e.reasons)
        )
    out.print(table)


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
        _fail(2, "--reason must say why (it is recorded in the ledger).")
    from tasks import tracking
    from tasks.locking import promotion_lock

    name = loaded.spec.registry.model_name
    with _user_errors(False), promotion_lock(name):
        before, after = tracking.rollback(
            name, to.lstrip("v") if to else None, reason, actor=f"user:{_user()}"
        )
    out.print(
        f"{name}: champion moved back from v{before} to v{after}; recorded in the ledger (mlops history {spec})."
    )


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
    if not os.environ.get("PREFECT_API_URL"):
        _fail(2, "approvals live on a Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api).")
    from mlops.approvals import answer

    with _user_errors(False):
        run_name = answer(spec, approved, reviewer=f"user:{_user()}", comment=comment)
    out.print(f"{'Approved' if approved else 'Rejected'}: flow run {run_name} resumes.")


def _load(spec: Path) -> Any:
    from mlops.spec import load_spec

    try:
        return load_spec(spec)
    except SpecError as exc:
        _problems(exc.problems)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@app.command()
def status(spec: SpecArg) -> None:
    """Show the champion, its holdout metrics, the last decision and the recent versions."""
    from mlops.settings import get_settings
    from mlops.spec import load_spec

    try:
        loaded = load_spec(spec)
    except SpecError as exc:
        _problems(exc.problems)
    from tasks import tracking

    name = loaded.spec.registry.model_name
    with _user_errors(False):
        versions = tracking.registry_state(name)
    if not versions:
        out.print(f"No versions of '{name}' yet. Train one: mlops run retrain {spec}")
        return
    champ = next((v for v in versions if "champion" in v.aliases), None)
    metric = loaded.spec.promotion.metric
    if champ:
        out.print(
            f"[bold]{name}[/bold]: champion v{champ.version} (since {champ.tag('decision.at') or champ.created})"
        )
        out.print("  holdout: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(champ.metrics.items())))
    else:
        out.print(f"[bold]{name}[/bold]: no champion (no version has been promoted)")
    last = versions[0]
    out.print(f"Last decision: v{last.version} {last.tag('decision') or '?'} ({last.tag('decision.rule')})")
    for reason in last.tag("decision.reasons").splitlines():
        out.print(f"  - {reason}", markup=False)
    table = Table("version", "aliases", "created", metric, "decision", "data sha256", title="Recent versions")
    for v in versions[:10]:
        value = v.metrics.get(metric)
        table.add_row(
            v.version, ", ".join(sorted(v.aliases)), v.created, "" if value is None else f"{value:.4f}",
            v.tag("decision"), v.tag("data_sha256")[:12],
        )  # fmt: skip
    out.print(table)
    out.print(f"MLflow UI: {get_settings().mlflow_ui_command()}", markup=False)


# --- helpers ---------------------------------------------------------------------------------------------


def _preflight(spec: Path, params: dict[str, Any] | None = None) -> None:
    """The same checks as `mlops validate`, before anything runs: a spec error exits 2 with nothing written."""
    from mlops.checks import check_spec

    _, problems = check_spec(spec, params)
    if problems:
        _problems(problems)


def _dates(**options: str | None) -> None:
    """--start/--end must be ISO dates or times; say which one is not."""
    from mlops.timeutil import parse_time

    for name, value in options.items():
        try:
            parse_time(value)
        except ValueError:
            _fail(
                2, f"--{name} '{value}' is not a date; use ISO format, e.g. 2013-07-01 or 2013-07-01T06:00."
            )


def _needs_time_column(spec: Path, what: str) -> None:
    if _load(spec).spec.data.time_column is None:
        _fail(
            2,
            f"{what} selects rows by time, but {spec} declares no data.time_column; add one, or use --batch.",
        )


def _params(items: list[str]) -> dict[str, Any]:
    """`--param name=value` pairs; values are read as YAML scalars (0.05 is a number, true a boolean)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _fail(2, f"--param takes name=value (e.g. --param learning_rate=0.05), not '{item}'.")
        try:
            out[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            _fail(2, f"--param {item}: the value is not a plain number, word or list.")
    return out


def _problems(problems: list[Problem]) -> None:
    for p in problems:
        err.print(p.render(), markup=False)
    _fail(2, f"{len(problems)} problem(s) in the spec; fix them (`mlops validate` checks again) and rerun.")


def _fail(code: int, message: str) -> None:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False)
    raise typer.Exit(code)


def _flow_run(flow: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Run a flow; its result (raising its error) and the flow run's id, for the link to its page."""
    state = flow(*args, return_state=True, **kwargs)
    run_id = state.state_details.flow_run_id
    return state.result(), str(run_id) if run_id else None


def _print_prefect_link(settings: Any, run_id: str | None) -> None:
    if settings.prefect_api_url and run_id:
        ui = settings.prefect_api_url.rstrip("/").removesuffix("/api")
        out.print(f"Prefect flow run: {ui}/runs/flow-run/{run_id}", markup=False)


def _prefect_where(settings: Any) -> str:
    return settings.prefect_api_url or "temporary local server"


def _prefect_settings() -> Any:
    """Settings for a run; with no PREFECT_API_URL, a Prefect server already running on this machine is used
    (set before Prefect is imported), else the run starts a temporary one."""
    from mlops.settings import find_local_prefect, get_settings

    if not os.environ.get("PREFECT_API_URL"):
        found = find_local_prefect()
        if found:
            os.environ["PREFECT_API_URL"] = found
    return get_settings()


@contextmanager
def _prefect(settings: Any) -> Iterator[None]:
    """Quiet, fast embedded Prefect: no analytics, no heartbeat thread (it costs ~1 s a run) when no server is set."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    updates: dict[Any, Any] = (
        {PREFECT_API_URL: settings.prefect_api_url}
        if settings.prefect_api_url
        else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    )
    quiet = _NoTracebackForUserErrors()
    loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        with temporary_settings(updates=updates):
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed run with its traceback; for our user errors the one-line message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], MlopsError):
            record.exc_info, record.exc_text = None, None
        return True


@contextmanager
def _user_errors(debug: bool) -> Iterator[None]:
    try:
        yield
    except MlopsError as exc:
        if isinstance(exc, SpecError):
            _problems(exc.problems)
        err.print("[red]stopped:[/red] ", end="")
        err.print(str(exc), markup=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]: nothing was promoted by this run.")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        from tasks.tracking import unreachable

        down = unreachable(exc)
        if down is not None:
            err.print("[red]stopped:[/red] ", end="")
            err.print(str(down), markup=False)
            raise typer.Exit(down.exit_code) from None
        err.print("[red]error:[/red] ", end="")
        err.print(
            f"{type(exc).__name__}: {exc}\n"
            "This is not a known user error; rerun with --debug for the traceback and report it if it persists.",
            markup=False,
        )
        raise typer.Exit(1) from None


def _print_retrain(r: RetrainResult, settings: Any) -> None:
    from tasks.report import metric_rows

    d = r.decision
    champ = f"v{r.champion_before}" if r.champion_before else "none"
    table = Table("metric", f"champion ({champ})", f"challenger (v{r.version})", "difference",
                  title=f"{r.pipeline}: holdout metrics (same rows for both)")  # fmt: skip
    for name, old, new, diff in metric_rows(r):
        style = "bold" if name == r.metric else None
        table.add_row(name, old, new, diff, style=style)
    out.print()
    out.print(
        f"Data quality: {r.quality}"
        + ("  [yellow](warning: on_failure=warn)[/yellow]" if r.quality_warning else "")
    )
    for note in r.notes:
        out.print(note, markup=False)
    if r.reused_run:
        out.print(f"Split: {r.split}; not refitted: run {r.run_id} already trained this spec, data and code")
    else:
        out.print(f"Split: {r.split}; fit in {r.fit_seconds:.1f} s")
    out.print(table)
    colour = "green" if d.promote else "yellow"
    mode = "" if r.mode == "auto" else f", mode {r.mode}"
    out.print(f"Decision: [{colour}]{d.verdict}[/{colour}] ({d.rule}{mode})")
    for reason in d.reasons:
        out.print(f"  - {reason}", markup=False)
    if (
        d.evidence is not None
        and d.evidence.interval is not None
        and not any("interval" in x for x in d.reasons)
    ):
        out.print(f"  - {d.evidence.interval.describe()}", markup=False)
    if r.duplicate_of:
        out.print(
            f"Registry: nothing new registered: this spec, data and code were already trained as v{r.duplicate_of}; "
            f"champion is v{r.champion_after}"
        )
    elif r.mode == "dry_run":
        out.print(
            f"Registry: {r.model_name} v{r.version} registered (dry run: no alias moved); champion is v{r.champion_after}"
        )
    else:
        out.print(f"Registry: {r.model_name} v{r.version} is challenger; champion is v{r.champion_after}")
    out.print(f"MLflow run {r.run_id}: {r.run_url}", markup=False)
    out.print(f"Model version: {r.version_url}", markup=False)
    out.print(f"Open the MLflow UI: {settings.mlflow_ui_command()}", markup=False)
    if not settings.prefect_api_url:
        out.print(
            "Prefect UI: this run used a temporary server. Start one with `prefect server start` (or `mlops serve`)"
            " and the next runs use it: they start sooner and stay in its UI (http://127.0.0.1:4200)."
        )


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _print_monitor(r: Any) -> None:
    v, d = r.verdict, r.drift
    out.print()
    out.print(f"Data quality: {r.quality}")
    out.print(f"Champion judged: {r.model_name} v{r.champion_version}; batch: {r.batch} ({r.rows:,} rows)")
    out.print(f"Drift: {d.headline()}")
    for c in d.drifted_columns():
        out.print(f"  - {c.describe()}", markup=False)
    if d.prediction_drift is not None:
        out.print(f"Prediction drift: {d.prediction_drift.describe()}", markup=False)
    if d.quality is not None:
        ref = (
            f" (champion's holdout {r.metric}: {r.reference_metric:.4f})"
            if r.reference_metric is not None
            else ""
        )
        out.print(
            "Model quality on the batch: " + ", ".join(f"{k} {x:.4f}" for k, x in d.quality.items()) + ref
        )
    for note in [*d.notes, *r.notes]:
        out.print(f"Note: {note}", markup=False)
    colour = "red" if v.drifted or v.quality_dropped else "green"
    out.print(f"Verdict: [{colour}]{'drift' if v.drifted else 'quality drop' if v.quality_dropped else 'no drift'}[/{colour}]"
              f", action: {v.action}")  # fmt: skip
    for reason in v.reasons:
        out.print(f"  - {reason}", markup=False)
    out.print(f"Retrain: {r.retrain_reason}", markup=False)
    if r.retrain is not None:
        out.print(
            f"  challenger v{r.retrain.version} {r.retrain.decision.verdict}; champion is v{r.retrain.champion_after}"
        )
    if d.html_path:
        out.print(f"Evidently report: {d.html_path}", markup=False)
    out.print(f"MLflow monitor run: {r.run_url}", markup=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
