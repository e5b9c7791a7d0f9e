"""The gate's passes remembered (issue 15): the same data checked again with the same suite does not run Great
Expectations again. Re-running a retrain on unchanged data (a new param, a new margin, a retry) is most of the
day's runs, and GX's import alone is about 5 s of the small example's ~20 s here.

Only a pass is remembered, keyed by everything the outcome depends on: the frame's content (values and column
names and types: `frame_sha256`), the suite file's bytes, the expectations skipped, this project's code and
the versions of GX and pandas. The content hash does not see the rows' order (the same rows from a database or a
folder in another order are the same data), so a suite with an expectation on the order of the rows
(ROW_ORDER_CHECKS) is never remembered: its pass on one order says nothing of another. Any change runs the suite
afresh, and a failure always runs again (its report is then written from a fresh run). A remembered pass still writes its report, which says that GX was not run and when
the same check passed. The store is `<MLOPS_HOME>/cache/gate-passes.json`; deleting it only costs a GX run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from mlops.cache import keep_newest, read_quietly
from mlops.settings import get_settings
from tasks import quality
from tasks.data.splits import frame_sha256

FILE = "cache/gate-passes.json"
KEEP = 200
LIBRARIES = ("great-expectations", "pandas")
# GX expectations whose outcome depends on the rows' order, which frame_sha256 does not cover
ROW_ORDER_CHECKS = frozenset(
    {"expect_column_values_to_be_increasing", "expect_column_values_to_be_decreasing"}
)


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
    """The identity of one gate check; None (not remembered) when the suite cannot be read (the check itself says
    why) or checks the rows' order."""
    from mlops.fingerprint import memo_key

    try:
        raw = Path(suite_path).read_bytes()
    except OSError:
        return None
    if _checks_row_order(raw):
        return None
    suite = hashlib.sha256(raw).hexdigest()
    data = data_sha256 or frame_sha256(frame)  # values, column names and types
    return memo_key("gate", [data, suite, sorted(skip_columns)], LIBRARIES)


def _checks_row_order(raw: bytes) -> bool:
    """The suite has an expectation on the rows' order (or cannot be told: then it is not remembered either)."""
    try:
        expectations = json.loads(raw).get("expectations", [])
        return any(str(e.get("type", "")).lower() in ROW_ORDER_CHECKS for e in expectations)
    except (ValueError, AttributeError, TypeError):
        return True


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
