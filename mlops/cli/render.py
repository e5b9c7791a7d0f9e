"""What the commands print: rich tables and lines on the terminal, from the small typed results the flows and the
server calls return. No decisions and no exit codes here (those are in mlops/cli/runtime.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mlops.cli.project_check import CheckReport
    from tasks.report import RetrainResult


class _Masked:
    """A terminal stream through which no credential passes (mlops.settings.hide_secrets): whatever a message
    repeats (a store URL with its password, a library's error text with the URL inside) is masked on its way out."""

    def __init__(self, stream: IO[str]):
        self._stream = stream

    def write(self, text: str) -> int:
        from mlops.secrets import hide_secrets

        return self._stream.write(hide_secrets(text))

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding: the stream's own
        return getattr(self._stream, name)


class MaskedConsole(Console):
    """rich's Console writing through _Masked: every line the CLI prints (messages, tables, --json) is masked."""

    @property
    def file(self) -> IO[str]:
        return cast("IO[str]", _Masked(super().file))

    @file.setter
    def file(self, new_file: IO[str]) -> None:
        self._file = new_file


out = MaskedConsole(highlight=False, soft_wrap=True)
err = MaskedConsole(stderr=True, highlight=False, soft_wrap=True)


# --- pipeline runs -----------------------------------------------------------------------------------------


def print_retrain(r: RetrainResult, settings: Any) -> None:
    from mlops.policy import IMPROVEMENT_HEADER
    from tasks.report import candidate_lines, comparison_line, metric_rows

    d = r.decision
    champ = f"v{r.champion_before}" if r.champion_before else "none"
    table = Table("metric", f"champion ({champ})", f"challenger (v{r.version})", IMPROVEMENT_HEADER,
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
    for line in [*candidate_lines(r), *getattr(r, "search", [])]:
        out.print(line, markup=False)
    if compared := comparison_line(r):
        out.print(compared, markup=False)
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
            "Prefect UI: this run used a temporary server (MLOPS_KEEP_SERVER=0). Unset it, or start one with "
            "`prefect server start` (or `mlops serve`), and the next runs start sooner and stay in its UI."
        )


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def print_monitor(r: Any) -> None:
    v, d = r.verdict, r.drift
    out.print()
    out.print(f"Data quality: {r.quality}")
    out.print(f"Champion judged: {r.model_name} v{r.champion_version}; batch: {r.batch} ({r.rows:,} rows)")
    out.print(f"Drift: {d.headline()}")
    for c in d.drifted_columns():
        out.print(f"  - {c.describe()}", markup=False)
    if d.prediction_drift is not None:
        out.print(f"Prediction drift: {d.prediction_drift.describe()}", markup=False)
    quality = getattr(r, "model_quality", None)
    if quality is not None:
        ref = (
            f" (champion's holdout {r.metric}: {r.reference_metric:.4f})"
            if r.reference_metric is not None
            else ""
        )
        shown = ", ".join(f"{k} {'not computed' if x != x else f'{x:.4f}'}" for k, x in quality.items())
        out.print(f"Model quality on the batch: {shown}{ref}", markup=False)
    signals = getattr(r, "signals", None)  # estimated next to realised quality, weighted drift (issue 14)
    for line in signals.lines(r.metric) if signals is not None else []:
        out.print(line, markup=False)
    labels = getattr(r, "labels", None)  # labels that arrived later, by prediction period (docs/labels.md)
    for line in labels.lines() if labels is not None else []:
        out.print(line, markup=False)
    for note in [*d.notes, *r.notes]:
        out.print(f"Note: {note}", markup=False)
    colour = "red" if v.acts else "green"
    out.print(f"Verdict: [{colour}]{v.state}[/{colour}], action: {v.action}")
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


def print_prefect_link(settings: Any, run_id: str | None) -> None:
    if settings.prefect_api_url and run_id:
        from mlops.text import without_credentials

        ui = without_credentials(settings.prefect_api_url.rstrip("/").removesuffix("/api"))
        out.print(f"Prefect flow run: {ui}/runs/flow-run/{run_id}", markup=False)


# --- prefect.yaml and the server ----------------------------------------------------------------------------


def print_checked(report: CheckReport) -> None:
    table = Table(
        "deployment", "flow", "spec", "schedules", "triggers", "work pool", title="deployments (prefect.yaml)"
    )
    for i in report.deployments:
        table.add_row(
            i.name, i.flow, i.spec_path or "", "\n".join(i.schedules) or "none", "\n".join(i.triggers) or "none",
            i.pool or "",
        )  # fmt: skip
    out.print(table)
    out.print(f"[green]✓[/green] {len(report.deployments)} deployment(s) checked: no problems.")


def print_deployments(rows: list[tuple[str, str, str, str]]) -> None:
    table = Table("deployment", "schedules", "next run", "work pool")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def print_next(ui_url: str, api_url: str, workers: list[str], project: Path) -> None:
    polling = f"a worker polls {', '.join(repr(p) for p in workers)}" if workers else "no worker started"
    out.print()
    out.print(f"[bold]Prefect UI: {ui_url}[/bold]  (runs: {ui_url}/runs, deployments: {ui_url}/deployments)")
    out.print(f"Ready: {polling}; the flow runs' logs follow here. Ctrl-C stops the worker and the server.")
    out.print("Next, in another terminal in this folder:", markup=False)
    out.print(f"  export PREFECT_API_URL={api_url}", markup=False)
    out.print("  mlops trigger retrain deployments/diabetes.yaml --wait", markup=False)
    out.print(
        "  mlops trigger retrain deployments/flight_delays.yaml --wait && mlops trigger monitor "
        "deployments/flight_delays.yaml   # July 2013 drifts: the trigger retrains",
        markup=False,
    )
    sys.stdout.flush()
