"""Which replayed periods a serving model trained on: there its realised quality is in-sample (it has seen those
rows), so a good figure is no evidence of health. Pure: the training window comes from the version's tags
(`trained_from`/`trained_to`, the first and last time of its training rows), the periods from the replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mlops.timeutil import parse_time


@dataclass(frozen=True)
class TrainingWindow:
    version: str
    start: datetime  # the first training row's time
    end: datetime  # the last training row's time (included)


def training_window(version: str, trained_from: str, trained_to: str) -> TrainingWindow | None:
    """From a version's tags; None when they are missing (a version trained before they were recorded, or a spec
    without a time column) or unreadable."""
    try:
        start, end = parse_time(trained_from or None), parse_time(trained_to or None)
    except ValueError:
        return None
    if start is None or end is None:
        return None
    return TrainingWindow(version, start, end)


def inside(start: datetime, end: datetime, window: TrainingWindow | None) -> bool:
    """Whether the period [start, end) holds any time the model trained on."""
    return window is not None and start <= window.end and end > window.start


def in_sample_notes(rows: list[tuple[str, str | None]]) -> list[str]:
    """One line per stretch of consecutive periods inside the same model's training window, from (period label,
    the version whose window holds it or None), in timeline order."""
    notes: list[str] = []
    run: list[str] = []
    version: str | None = None
    for label, held_by in [*rows, ("", None)]:
        if held_by is not None and held_by == version:
            run.append(label)
            continue
        if version is not None and run:
            where = f"period {run[0]} is" if len(run) == 1 else f"periods {run[0]}..{run[-1]} are"
            notes.append(
                f"{where} inside the training window of v{version}: in-sample, not evidence of health"
            )
        version, run = held_by, [label] if held_by is not None else []
    return notes
