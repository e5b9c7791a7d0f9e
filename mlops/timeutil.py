"""Small, pure helpers for data time (batch ends, training windows). UTC throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def parse_time(value: str | datetime | None) -> datetime | None:
    """An aware UTC datetime from ISO text (a date alone means midnight); None stays None."""
    if value is None or value == "":
        return None
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def window_before(end: datetime, days: int | None, spec_window: Any = None) -> tuple[str | None, str]:
    """The training window of a drift-triggered retrain: the last `days` before `end`, or, without `days`,
    from the spec's own window start up to `end`."""
    if days is not None:
        return (end - timedelta(days=days)).isoformat(), end.isoformat()
    start = parse_time(getattr(spec_window, "start", None)) if spec_window else None
    return (start.isoformat() if start else None), end.isoformat()
