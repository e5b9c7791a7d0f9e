"""Checks of the command line that need no spec and no library: a window that ends before it starts, a batch given
twice over, a batch file that is not there. Each is a usage error (exit 2) said before Prefect starts."""

from __future__ import annotations

import glob
from pathlib import Path

from mlops.cli.runtime import fail
from mlops.object_store import is_object_uri


def anchor_spec(value: Path | None) -> Path | None:
    """A spec argument's callback: the command works on the spec's project, found from the spec's folder upwards,
    so `mlops status /abs/proj/deployments/x.yaml` from /tmp reads /abs/proj/.mlops (mlops/project.py)."""
    from mlops.project import anchor_at

    anchor_at(value)
    return value


def check_dates(**options: str | None) -> None:
    """--start/--end must be ISO dates or times; say which one is not, then that the window holds time."""
    from mlops.timeutil import parse_time

    for name, value in options.items():
        try:
            parse_time(value)
        except ValueError:
            fail(2, f"--{name} '{value}' is not a date; write 2013, 2013-07, 2013-07-01 or 2013-07-01T06:00.")
    check_window(options.get("start"), options.get("end"))


def needs_time_column(spec: Path, what: str) -> None:
    """A command that selects rows by time needs the spec's time column."""
    from mlops.errors import SpecError
    from mlops.spec import load_spec

    try:
        loaded = load_spec(spec)
    except SpecError:
        return  # the pre-flight names the spec's problems
    if loaded.spec.data.time_column is None:
        fail(
            2,
            f"{what} selects rows by time, but {spec} declares no data.time_column; add one, or use --batch.",
        )


def check_window(start: str | None, end: str | None) -> None:
    """--start must come before --end (the end is excluded); call after each was checked to be a date."""
    from mlops.timeutil import parse_time

    try:
        first, last = parse_time(start), parse_time(end)
    except ValueError:
        return  # the caller's date check names the option
    if first is not None and last is not None and first >= last:
        same = "is the same time as" if first == last else "is after"
        fail(
            2,
            f"--start {start} {same} --end {end}: the window [start, end) holds no time at all; give a start "
            "earlier than the end (the end is excluded, e.g. --start 2013-07-01 --end 2013-08-01 for July).",
        )


def check_batch(batch: str | None, start: str | None, end: str | None) -> None:
    """One way to name the batch: a file (or glob) with --batch, or a window of the spec's source; the file must
    exist now, not be found missing after Prefect has started."""
    if batch is None:
        return
    if start is not None or end is not None:
        fail(
            2,
            "give the batch one way: --batch PATH judges that file as a whole, --start/--end a window of the spec's "
            "source; use one or the other (to judge part of a file, filter it first).",
        )
    if is_object_uri(batch):  # an object, a folder of objects or a glob: listed now (a HEAD or one listing)
        from mlops.errors import MlopsError
        from tasks.objects import expand

        try:
            expand(batch)
        except MlopsError as exc:
            fail(exc.exit_code, f"--batch {exc}")
        return
    if glob.has_magic(batch):
        if not any(Path(p).is_file() for p in glob.glob(batch)):
            fail(
                2, f"--batch {batch}: no batch file matches it; check the pattern (relative to {Path.cwd()})."
            )
        return
    path = Path(batch)
    if path.is_dir():
        fail(
            2,
            f"--batch {batch}: is a folder; give a CSV or Parquet file, or a glob such as {batch}/*.parquet.",
        )
    if not path.is_file():
        fail(2, f"--batch {batch}: no such batch file (looked in {Path.cwd()}); give a CSV or Parquet file.")
