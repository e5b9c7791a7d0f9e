"""bench/sql_read.py's report section says what was measured, or why the step was skipped (make bench runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import sql_read  # noqa: E402


def test_a_skipped_step_says_why() -> None:
    text = sql_read.section({"skipped": "PostgreSQL is not installed here"})
    assert "Skipped in this run: PostgreSQL is not installed here." in text


def test_the_section_gives_each_read_and_the_ratios() -> None:
    res = {
        "rows": 1000, "columns": 15,
        "seconds": {"adbc": 2.0, "ours (read)": 2.1},
        "rows_read": {"adbc": 1000, "ours (read)": 1000},
        "ratios": {"whole table": 1.05, "monitor read, one month": 1.02},
    }  # fmt: skip
    text = sql_read.section(res)
    assert "| ours (read) | 2.10 | 1,000 |" in text and "monitor read, one month 1.02x" in text
