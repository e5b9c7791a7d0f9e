"""`mlops run predict SPEC --batch PATH|--start/--end --out FILE`: score a batch with the champion (or a version
pinned with --version/--alias, for shadow scoring) and write the predictions as Parquet, with the rows the model
cannot score in a rejects file beside them.

Exit codes: 0 the predictions were written (rejected rows are listed, not an error), 1 the pipeline stopped
(quality gate, no champion, unusable batch, a feature empty in every row: the model cannot judge it), 2 a usage or
spec error (also a pinned version that does not exist, an --out that is a file the run reads or cannot be written).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli import render
from mlops.cli.arguments import anchor_spec
from mlops.cli.render import out
from mlops.cli.runtime import fail, flow_run, prefect_context, prefect_settings, prefect_where, user_errors

if TYPE_CHECKING:
    from tasks.predict import PredictResult

SUFFIXES = (".parquet", ".pq")


def run_predict(
    spec: Annotated[
        Path,
        typer.Argument(help="The pipeline spec, e.g. deployments/flight_delays.yaml", callback=anchor_spec),
    ],
    out_path: Annotated[
        str,
        typer.Option(
            "--out",
            help="The Parquet file to write (replaced atomically; rejects go beside it), an object "
            "(s3://bucket/key.parquet, uploaded whole), or a table: "
            "table:NAME@ENV_VAR (ENV_VAR holds a DuckDB or PostgreSQL URL; one transaction; a rerun of the "
            "same batch replaces its rows)",
        ),
    ],
    batch: Annotated[str | None, typer.Option(help="A CSV or Parquet batch file (or a glob of them)")] = None,
    start: Annotated[
        str | None, typer.Option(help="Or: a window of the spec's source, from (ISO date)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="... up to, excluded (ISO date)")] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Score with this model version instead of the champion (shadow scoring)"),
    ] = None,
    alias: Annotated[
        str | None, typer.Option(help="Or: with the version holding this alias, e.g. challenger")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows scored at a time (bounds the memory)")] = 100_000,
    allow_empty_feature: Annotated[
        list[str] | None,
        typer.Option(
            help="Score even though this feature is empty in every row of the batch (by default that stops the "
            "run: the model cannot judge it); repeat for several"
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show the full traceback of unexpected errors.")] = False,
) -> None:
    """Score a batch with the champion and write the predictions (and probabilities) as Parquet, with the model's
    name, version and run id on every row and in the file's metadata; rows that cannot be scored go to
    OUT.rejects.csv with the reason.

    Exits 0 when the predictions were written, 1 when the pipeline stopped (quality gate, no champion, unusable
    batch, a feature empty in every row), 2 on a usage or spec error (also an --out that is an input).
    """
    from mlops.cli.arguments import check_batch, check_dates, needs_time_column
    from mlops.cli.preflight import preflight_spec

    usage_problems(batch, start, end, version, alias, chunk_rows, out_path)
    check_dates(start=start, end=end)  # and check_window: --start before --end
    check_batch(batch, start, end)
    preflight_spec(spec)
    if batch is None:
        needs_time_column(spec, "--start/--end")
    check_outputs(spec, batch, out_path)
    settings = prefect_settings()
    out.print(
        f"[bold]predict[/bold] {spec}  (MLflow: {settings.tracking_uri_shown}; Prefect: {prefect_where(settings)})"
    )
    with prefect_context(settings), user_errors(debug):
        from flows.predict import predict

        result, run_id = flow_run(
            predict, str(spec), out=str(out_path), batch=batch, start=start, end=end,
            version=version.lstrip("v") if version else None, alias=alias, chunk_rows=chunk_rows,
            allow_empty_features=allow_empty_feature or None,
        )  # fmt: skip
    print_predict(result)
    render.print_prefect_link(settings, run_id)


def usage_problems(
    batch: str | None,
    start: str | None,
    end: str | None,
    version: str | None,
    alias: str | None,
    chunk_rows: int,
    out_path: str,
) -> None:
    """Exit 2, with nothing run, on options that cannot make sense together (the batch and the window are checked
    as for the monitor: mlops/cli/arguments.py)."""
    if batch is None and start is None and end is None:
        fail(2, "give the batch to score: --batch PATH, or --start/--end for a window of the spec's source.")
    if version is not None and alias is not None:
        fail(2, "pin the model with --version N or with --alias NAME, not both.")
    if version is not None and not re.fullmatch(r"v?\d+", version):
        fail(
            2,
            f"--version '{version}' is not a version number; give one such as 3 (`mlops status` lists them).",
        )
    if alias is not None and not alias.strip():
        fail(2, "--alias is empty; give an alias such as challenger.")
    if chunk_rows < 1:
        fail(2, f"--chunk-rows must be at least 1, not {chunk_rows}.")
    if str(out_path).startswith(
        "table:"
    ):  # its name and variable here; against the spec's sources in check_outputs
        import os

        from mlops.errors import MlopsError
        from mlops.write_targets import table_problem, table_target

        try:
            target = table_target(str(out_path))
        except MlopsError as exc:
            fail(exc.exit_code, str(exc))
        problem = table_problem(target, os.environ) if target else None
        if problem:
            fail(2, problem)
        return
    if Path(out_path).suffix.lower() not in SUFFIXES:
        fail(
            2,
            f"--out {out_path} is not a Parquet file name; end it with .parquet (or name a table: "
            "table:NAME@ENV_VAR).",
        )


def check_outputs(spec: Path, batch: str | None, out_path: str) -> None:
    """Exit 2, before Prefect starts, when --out (or the rejects file beside it, or the reports folder) cannot be
    written or is a file the run reads (the flow checks again, for deployment runs)."""
    from mlops.errors import MlopsError
    from mlops.spec import load_spec
    from tasks.predict import check_predict_targets

    try:
        check_predict_targets(load_spec(spec), batch, out_path)
    except MlopsError as exc:
        fail(exc.exit_code, str(exc))


def print_predict(r: PredictResult) -> None:
    out.print()
    out.print(f"Data quality: {r.quality}", markup=False)
    out.print(
        f"Model: {r.model_name} v{r.model_version} ({r.selected_by}; run {r.model_run_id})", markup=False
    )
    out.print(f"Predicted {r.scored:,} of {r.rows:,} rows in {r.chunks} chunk(s) -> {r.out}", markup=False)
    if r.empty_features:
        out.print(
            f"[yellow]Empty in every row[/yellow] (scored anyway, as --allow-empty-feature asked; the model filled "
            f"in their values): {', '.join(r.empty_features)}"
        )
    if r.rejected:
        reasons = ", ".join(f"{why} ({n:,})" for why, n in sorted(r.reasons.items(), key=lambda kv: -kv[1]))
        out.print(
            f"[yellow]Rejected {r.rejected:,} row(s)[/yellow] the model cannot score -> {r.rejects}: ", end=""
        )
        out.print(reasons, markup=False)
    else:
        out.print(
            f"No rejected rows ({r.rejects} lists none)." if r.rejects else "No rejected rows.", markup=False
        )
    out.print(f"MLflow predict run: {r.run_url}", markup=False)
