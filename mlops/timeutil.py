"""Small, pure helpers for data time (batch ends, training windows). UTC throughout."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_YEAR = re.compile(r"\d{4}")
# a date written day and month first, in an order the text does not say (05/01/2021, 5.1.21, 05-01-2021 06:00):
# pandas and dateutil read it month-first (1 May), most of the world writes it day-first (5 January). Never guessed.
DAY_MONTH = r"\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?:[ T].*)?"
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


def parse_time(value: str | datetime | None) -> datetime | None:
    """An aware UTC datetime from what people type: ISO text (`2013-07-01`, `2013-07-01T06:00`, a date alone
    means midnight), a month (`2013-07`: its first day) or a year (`2013`: 1 January); None stays None.
    Raises ValueError for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        ts = value
    else:
        text = str(value).strip()
        if _YEAR.fullmatch(text):
            ts = datetime(int(text), 1, 1)
        elif month := _MONTH.fullmatch(text):
            ts = datetime(int(month[1]), int(month[2]), 1)
        else:
            ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# why such a date is refused, and the fix: the one sentence every reader of dates says
DAY_MONTH_WHY = (
    "day and month come in an order the text does not say (pandas reads 05/01/2021 as 1 May, most of the world "
    "as 5 January), and a date is never guessed: write dates year first, as ISO text (2021-01-05 or "
    "2021-01-05T06:00), or store them as a date or timestamp type"
)


def as_iso(value: str | None) -> str | None:
    """What people type (`2013`, `2013-07`, ISO dates and times) as ISO text that pydantic and pandas read the
    same way (`2013` alone would be read as 2013 seconds after 1970); other text is left for the caller's check."""
    if value is None:
        return None
    text = str(value).strip()
    if _YEAR.fullmatch(text) or _MONTH.fullmatch(text):
        parsed = parse_time(text)
        return parsed.date().isoformat() if parsed else None
    return text


def window_before(end: datetime, days: int | None, spec_window: Any = None) -> tuple[str | None, str]:
    """The training window of a drift-triggered retrain: the last `days` before `end`, or, without `days`,
    from the spec's own window start up to `end`."""
    if days is not None:
        return (end - timedelta(days=days)).isoformat(), end.isoformat()
    start = parse_time(getattr(spec_window, "start", None)) if spec_window else None
    return (start.isoformat() if start else None), end.isoformat()
