"""What `mlops validate` says about a spec's time column: a problem when it cannot be read as time (naming the
column and the accepted forms), else how it was read (dates, datetimes, integer years, epoch seconds), which the
✓ line shows. The reading is remembered with the checks' cache key, so a spec checked before costs no read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.cache import keep_newest, read_quietly, store_file
from mlops.errors import MlopsError, Problem, SpecError

NOTES_FILE = "cache/time_columns.json"


def time_problems(file: str, spec: Any, head: Any) -> list[Problem]:
    """A problem when the time column is in the data but cannot be read as time (none when it is absent: the
    column check says that)."""
    from tasks.data.timecol import read_time

    column = spec.data.time_column
    if not column or column not in head.columns:
        return []
    try:
        read_time(head[column])
    except MlopsError as exc:
        return [Problem(file, "data.time_column", str(exc))]
    return []


def time_note(path: Path) -> str:
    """' (time column 'year': integer years)' for a valid spec with a time column, else ''."""
    from mlops.cli.check_memo import data_key, part_key
    from mlops.cli.checks import HEAD_ROWS
    from mlops.spec import load_spec

    try:
        loaded = load_spec(path)
    except SpecError:
        return ""
    column = loaded.spec.data.time_column
    if not column:
        return ""
    source = data_key(loaded)  # the data and the column alone: an edit elsewhere in the spec reads no data
    key = None if source is None else part_key("time-note", source, column)
    notes = read_quietly(_path())
    if key is not None and isinstance(notes.get(key), str):
        return str(notes[key])
    from tasks.data import read_frame
    from tasks.data.timecol import read_time

    try:
        how = read_time(read_frame(loaded, nrows=HEAD_ROWS)[column])[1]
    except (MlopsError, KeyError):
        return ""
    note = f" (time column '{column}': {how})"
    if key is not None:
        keep_newest(_path(), key, note, 200)  # a note that cannot be saved: a slower next check
    return note


def _path() -> Path | None:
    return store_file(NOTES_FILE)
