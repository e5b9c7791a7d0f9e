"""The gate's passes remembered (issue 15): the same data checked again with the same suite does not run Great
Expectations again. Re-running a retrain on unchanged data (a new param, a new margin, a retry) is most of the
day's runs, and GX's import alone is about 5 s of the small example's ~20 s here.

Only a pass is remembered, keyed by everything the outcome depends on: the frame's content (values and column
names and types: `frame_sha256`), the suite file's bytes, the expectations skipped, this project's code and
the versions of GX and pandas. Any change runs the suite afresh, and a failure always runs again (its report is
then written from a fresh run). A remembered pass still writes its report, which says that GX was not run and when
the same check passed. The store is `<MLOPS_HOME>/cache/gate-passes.json`; deleting it only costs a GX run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from mlops.cache import keep_newest, read_quietly
from mlops.settings import get_settings
from tasks import quality
from tasks.data.splits import frame_sha256

FILE = "cache/gate-passes.json"
KEEP = 200
LIBRARIES = ("great-expectations", "pandas")


def validate(
    frame: pd.DataFrame,
    suite_path: Path,
    report_dir: Path,
    skip_columns: tuple[str, ...] = (),
    data_sha256: str | None = None,
) -> quality.ValidationOutcome:
    """`tasks.quality.validate`, unless this frame passed this suite before: then that pass, with a report that
    says so. `data_sha256` is the frame's `frame_sha256` when the caller has it already."""
    key = gate_key(frame, suite_path, skip_columns, data_sha256)
    passed = _recall(key) if key else None
    if passed is not None:
        return quality.save_report(passed, report_dir)
    outcome = quality.validate(frame, suite_path, report_dir, skip_columns)
    if key and outcome.success:
        _remember(key, outcome)
    return outcome


def gate_key(
    frame: pd.DataFrame, suite_path: Path, skip_columns: tuple[str, ...] = (), data_sha256: str | None = None
) -> str | None:
    """The identity of one gate check; None when the suite cannot be read (the check itself says why)."""
    from mlops.fingerprint import memo_key

    try:
        suite = hashlib.sha256(Path(suite_path).read_bytes()).hexdigest()
    except OSError:
        return None
    data = data_sha256 or frame_sha256(frame)  # values, column names and types
    return memo_key("gate", [data, suite, sorted(skip_columns)], LIBRARIES)


def _path() -> Path:
    return get_settings().home / FILE


def _recall(key: str) -> quality.ValidationOutcome | None:
    entry = read_quietly(_path()).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        return quality.ValidationOutcome(
            suite=str(entry["suite"]),
            success=True,
            rows=int(entry["rows"]),
            evaluated=int(entry["evaluated"]),
            failed=[],
            reused_from=str(entry["at"]),
        )
    except (KeyError, TypeError, ValueError):
        return None  # none, or written by another version of this module: run the suite


def _remember(key: str, outcome: quality.ValidationOutcome) -> None:
    entry = {
        "suite": outcome.suite,
        "rows": outcome.rows,
        "evaluated": outcome.evaluated,
        "at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    keep_newest(_path(), key, entry, KEEP)
