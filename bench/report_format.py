"""The figures of `make bench` as people read them: the run's sizes, units, medians and ratios, and the verdict on
each aim (bench/run.py runs the steps, bench/report_rows.py and bench/report_document.py write the page)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median  # noqa: E402


@dataclass(frozen=True)
class Config:
    small: int
    large: int
    batch: int
    repeats_small: int
    repeats_large: int
    repeats_monitor: int
    cli_repeats: int
    first_runs: int  # runs on a temporary server: the first ever, then later ones


FULL = Config(100_000, 1_000_000, 1_000_000, 3, 2, 2, 5, 2)
QUICK = Config(10_000, 100_000, 100_000, 1, 1, 1, 3, 2)
BUDGET, QUICK_BUDGET = 570, 300  # seconds for the whole run: `make bench` ends within 10 minutes


def rows_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def secs(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def gb(mb: float | None) -> str:
    return "n/a" if mb is None else f"{mb / 1024:.2f} GB"


def by_way(runs: list[dict[str, Any]], label: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r["label"] == label:
            out.setdefault(r["way"], []).append(r)
    return out


def med(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return median([r[key] for r in runs])


def ratio_pairs(runs: dict[str, list[dict[str, Any]]], a: str, b: str) -> float:
    """Median of the per-repeat ratios a/b (each pair measured side by side), a steadier figure than a ratio
    of medians when the machine's load changes during the run."""
    pairs = {r["repeat"]: r["seconds"] for r in runs.get(b, [])}
    ratios = [r["seconds"] / pairs[r["repeat"]] for r in runs.get(a, []) if r["repeat"] in pairs]
    return median(ratios)


def laps_median(runs: list[dict[str, Any]]) -> dict[str, float]:
    names: list[str] = []
    for r in runs:
        names += [n for n in r["laps"] if n not in names]
    out = {n: median([r["laps"].get(n, 0.0) for r in runs]) for n in names}
    out["(outside the timed steps)"] = median([r["seconds"] - sum(r["laps"].values()) for r in runs])
    return out


# --- the table ------------------------------------------------------------------------------------------------

Row = tuple[str, str, str, str, str, str]


def verdict_ratio(ratio: float, aim: float) -> str:
    if ratio != ratio:
        return "n/a"
    return "yes" if ratio <= aim else f"**no**: {ratio:.2f}x, {(ratio / aim - 1) * 100:.0f}% over"


def verdict_max(value: float | None, aim: float, unit: str) -> str:
    if value is None or value != value:
        return "n/a"
    if value < aim:
        return "yes"
    return f"**no**: {value - aim:+.1f} {unit} over ({value / aim:.1f}x the aim)"
