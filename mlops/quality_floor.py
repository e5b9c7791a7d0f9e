"""The quality floor: the default quality rule where a spec states no `max_quality_drop` (issue 23).

At training, the champion's primary metric is bootstrapped on its holdout (tasks/bootstrap.py, quality_floor): for
batch sizes on a log grid from 100 to 50,000 rows (capped by the holdout's size), seeded draws of that many holdout
rows with replacement (resamples_for: 4,000 up to 500 rows, 2,000,000 / size above, at least 400: a 5th percentile
of 400 draws moved the flights' 500-row floor by up to 0.006 between seeds, and 8% of unchanged 500-row batches
fell below the spec seed's; the cost is the rows drawn, so large sizes get fewer), and the metric's 5th percentile over them (its 95th for a metric where lower
is better). That is what the champion scores on 95% of batches of that size drawn like its holdout. It is stored
with the model version (monitoring/quality_floor.json) and read back here as a QualityFloor.

A monitored batch's figure (realised on its labelled rows, else the estimate) below the floor at the batch's size
is a quality drop. Between grid sizes and beyond them the floor is documented, not guessed:

- the gap (holdout figure minus the floor) is interpolated linearly in log(size) against log(gap) between two grid
  sizes (a power law: the gap of a mean shrinks as 1/sqrt(size));
- below the smallest and above the largest grid size it follows 1/sqrt(size) from the nearest grid size;
- the gap is widened by sqrt(1 + size / holdout_rows): the holdout figure is itself measured on finitely many rows,
  and a fresh batch and the holdout vary independently (without it, a batch as large as the holdout from the same
  data would fall below the floor about 12% of the time instead of 5%).

Pure: figures in, a floor and a decision out. The bootstrap itself (numpy, the metric functions) is in tasks/.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMAT = 1
GRID = (100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
LEVEL = 0.05  # the floor is the metric's 5th percentile over the resamples: 95% of batches score at least it
RESAMPLES = 400  # the fewest resamples at any size
MOST_RESAMPLES = 4_000
DRAWN_ROWS = 2_000_000  # rows drawn per size, between those two bounds
FILE = "quality_floor.json"


def resamples_for(size: int) -> int:
    """How many resamples the floor at `size` rows is the 5th percentile of."""
    return min(MOST_RESAMPLES, max(RESAMPLES, DRAWN_ROWS // max(size, 1)))


def grid_for(holdout_rows: int) -> tuple[int, ...]:
    """The bootstrapped batch sizes: GRID capped by the holdout's size (the holdout's own size when it is smaller
    than the smallest)."""
    if holdout_rows < 1:
        return ()
    sizes = tuple(s for s in GRID if s <= holdout_rows)
    return sizes or (holdout_rows,)


@dataclass(frozen=True)
class QualityFloor:
    """The champion's primary metric on its holdout and what it scores on 95% of n-row batches of it."""

    metric: str
    reference: float  # the holdout figure
    higher_is_better: bool
    holdout_rows: int
    sizes: tuple[int, ...]
    floors: tuple[float, ...]  # the 5th percentile (95th when lower is better) at each size
    resamples: int = RESAMPLES  # the fewest at any size (resamples_for)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.sizes or len(self.sizes) != len(self.floors):
            raise ValueError(f"a quality floor needs one floor per size, got {self.sizes} and {self.floors}")
        if list(self.sizes) != sorted(set(self.sizes)) or self.sizes[0] < 1:
            raise ValueError(f"sizes must be positive and increasing, got {self.sizes}")
        if not all(math.isfinite(x) for x in (self.reference, *self.floors)) or self.holdout_rows < 1:
            raise ValueError("a quality floor needs finite figures and a holdout of at least one row")

    def _gap(self, i: int) -> float:
        """How far the floor at sizes[i] sits on the worse side of the holdout figure (never negative)."""
        gap = self.reference - self.floors[i] if self.higher_is_better else self.floors[i] - self.reference
        return max(gap, 0.0)

    def gap_at(self, rows: int) -> float:
        """The distance from the holdout figure to the floor for a batch of `rows` rows (see the module's
        docstring: log-log interpolation, 1/sqrt(size) beyond the grid, widened for the holdout's own size)."""
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        sizes, n = self.sizes, len(self.sizes)
        if rows <= sizes[0]:
            gap = self._gap(0) * math.sqrt(sizes[0] / rows)
        elif rows >= sizes[-1]:
            gap = self._gap(n - 1) * math.sqrt(sizes[-1] / rows)
        else:
            i = next(k for k in range(1, n) if sizes[k] >= rows)
            lo, hi = self._gap(i - 1), self._gap(i)
            t = (math.log(rows) - math.log(sizes[i - 1])) / (math.log(sizes[i]) - math.log(sizes[i - 1]))
            gap = (
                math.exp((1 - t) * math.log(lo) + t * math.log(hi))
                if lo > 0 and hi > 0
                else (1 - t) * lo + t * hi
            )
        return gap * math.sqrt(1 + rows / self.holdout_rows)

    def at(self, rows: int) -> float:
        """The floor for a batch of `rows` rows: the champion scores at least this (at most, when lower is better)
        on 95% of such batches."""
        gap = self.gap_at(rows)
        return self.reference - gap if self.higher_is_better else self.reference + gap

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "metric": self.metric, "reference": self.reference,
            "higher_is_better": self.higher_is_better, "holdout_rows": self.holdout_rows,
            "sizes": list(self.sizes), "floors": list(self.floors), "level": LEVEL,
            "resamples": self.resamples, "seed": self.seed,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> QualityFloor:
        """Read back to_dict; ValueError when it is not a format-1 floor."""
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
            raise ValueError(f"{FILE} is not a format-{FORMAT} quality floor")
        try:
            return cls(
                metric=str(raw["metric"]), reference=float(raw["reference"]),
                higher_is_better=bool(raw["higher_is_better"]), holdout_rows=int(raw["holdout_rows"]),
                sizes=tuple(int(s) for s in raw["sizes"]), floors=tuple(float(f) for f in raw["floors"]),
                resamples=int(raw.get("resamples", RESAMPLES)), seed=int(raw.get("seed", 0)),
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{FILE} lacks a field or has the wrong type ({exc})") from None


def percentile_floor(values: Sequence[float], higher_is_better: bool) -> float:
    """The 5th percentile of a metric's bootstrap values (95th when lower is better), NaN ones left out; NaN when
    none is left. Linear interpolation between order statistics (numpy's default)."""
    xs = sorted(v for v in values if math.isfinite(v))
    if not xs:
        return math.nan
    q = LEVEL if higher_is_better else 1 - LEVEL
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class FloorJudgement:
    limit: float  # the floor at the batch's size (moved by the estimator's offset for an estimate)
    dropped: bool


def judge(floor: QualityFloor, quality: float, rows: int, offset: float = 0.0) -> FloorJudgement:
    """Whether `quality`, measured on `rows` rows, is worse than what the champion scores on 95% of batches of that
    size. `offset`: for an estimated figure, the estimator's own offset on the holdout (estimate minus realised),
    so that an estimator that reads a little low or high does not alarm on every large batch."""
    limit = floor.at(rows) + offset
    eps = 1e-9
    dropped = quality < limit - eps if floor.higher_is_better else quality > limit + eps
    return FloorJudgement(limit, dropped)


def figure(value: float) -> str:
    """A figure a person checks by eye: 3 significant digits ('0.693', '0.81', '52.3'), thousands with commas."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
