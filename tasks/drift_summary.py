"""Drift without Evidently: the small summary a drift report boils down to, the seeded sample both sides are
cut to, and the checks that the two frames can be compared at all (each failure a ValueError naming the
columns). Only tasks/drift.py imports evidently; this module is what the rest of the project needs of it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from mlops.drift_policy import ColumnFacts


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str  # the stat test Evidently used, e.g. "K-S p_value", "Jensen-Shannon distance"
    score: float
    threshold: float
    drifted: bool
    unjudgeable: str | None = None  # why no test could judge it (then it counts as drifted)

    def describe(self) -> str:
        if self.unjudgeable:
            return f"{self.column}: counted as drifted, cannot be judged ({self.unjudgeable})"
        state = "drifted" if self.drifted else "no drift"
        return f"{self.column}: {state} ({self.method} {self.score:.4g}, threshold {self.threshold:g})"


@dataclass(frozen=True)
class DriftSummary:
    rows_reference: int  # rows actually compared (after sampling)
    rows_current: int
    sampled: bool  # True when either side was sampled down
    columns: list[ColumnDrift]
    drifted_share: float  # drifted columns / columns checked
    prediction_drift: ColumnDrift | None
    notes: list[str] = field(default_factory=list)
    html_path: str | None = None
    snapshot_path: str | None = None

    def drifted_columns(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.drifted]

    @property
    def unjudgeable(self) -> dict[str, str]:
        """Columns no test could judge (column -> why): counted as drifted in drifted_share."""
        return {c.column: c.unjudgeable for c in self.columns if c.unjudgeable}

    def headline(self) -> str:
        drifted = len(self.drifted_columns())
        rows = f"{self.rows_current:,} current vs {self.rows_reference:,} reference rows"
        unjudged = len(self.unjudgeable)
        counted = f", {unjudged} of them because they cannot be judged" if unjudged else ""
        return (
            f"{drifted} of {len(self.columns)} columns drifted ({self.drifted_share:.0%}{counted}); "
            f"{rows}{' (sampled)' if self.sampled else ''}"
        )

    def to_markdown(self) -> str:
        """A table of every column checked (drifted ones first), the prediction drift, and the notes."""
        lines = [f"**Data drift**: {self.headline()}", ""]
        rows = sorted(self.columns, key=lambda c: not c.drifted)
        if self.prediction_drift is not None:
            rows = [*rows, self.prediction_drift]
        lines += ["| column | method | score | threshold | drifted |", "|---|---|---|---|---|"]
        for c in rows:
            name = f"{c.column} (prediction)" if c is self.prediction_drift else c.column
            flag = "**yes**" if c.drifted else "no"
            if c.unjudgeable:
                lines.append(f"| {name} | cannot be judged: {c.unjudgeable} | | | **yes** (counted) |")
                continue
            lines.append(f"| {name} | {c.method} | {c.score:.4g} | {c.threshold:g} | {flag} |")
        lines.append("")
        if self.notes:
            lines += ["Notes:", *[f"- {n}" for n in self.notes], ""]
        if self.html_path:
            lines.append(f"Report: {self.html_path}")
        return "\n".join(lines).rstrip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SAMPLE_SALT = "drift"  # the drift report's, the reference data's and the predict run's sample draw alike


def sample(
    frame: pd.DataFrame, max_rows: int, seed: int, columns: Collection[str] | None = None
) -> pd.DataFrame:
    """At most max_rows rows, drawn by a seeded hash of each row's values in `columns` (the batch's identity,
    tasks.data.draw.identity_columns; None: every column), in their original order; the frame itself when small.
    The same rows give the same sample in any order they arrive in, with or without other columns."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if len(frame) <= max_rows:
        return frame
    from tasks.data.draw import draw_sample, identity_columns

    return draw_sample(frame, max_rows, seed, SAMPLE_SALT, identity_columns(list(frame.columns), columns))


def value_kind(series: pd.Series) -> str:
    """A column's coarse kind of values ("" when it has none): numbers, text, booleans, times or other."""
    values = series.dropna()
    if values.empty:
        return ""
    if pd.api.types.is_bool_dtype(values) or values.map(lambda v: isinstance(v, bool)).all():
        return "bool"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "time"
    if values.map(lambda v: isinstance(v, int | float)).all():
        return "numeric"  # numbers in an object column (e.g. a mixed-type feed)
    if values.map(lambda v: isinstance(v, str)).all() or isinstance(values.dtype, pd.CategoricalDtype):
        return "text"
    return "other"


def column_facts(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]) -> list[ColumnFacts]:
    """The profile the unjudgeable-column policy needs (mlops.drift_policy.unjudgeable), one entry per feature."""
    out = []
    for col in features:
        ref = reference[col] if col in reference.columns else pd.Series(dtype=object)
        if col not in current.columns:
            out.append(ColumnFacts(col, missing=True, reference_kind=value_kind(ref)))
            continue
        cur = current[col]
        out.append(
            ColumnFacts(
                col,
                all_null=bool(cur.isna().all()),
                reference_all_null=bool(ref.isna().all()),
                constant=cur.nunique(dropna=True) == 1,
                reference_constant=ref.nunique(dropna=True) <= 1,
                kind=value_kind(cur),
                reference_kind=value_kind(ref),
            )
        )
    return out


def check_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    prediction: str | None,
) -> list[str]:
    """The feature columns, once both frames are known to be comparable; ValueError naming what is wrong."""
    features = [*numeric, *categorical]
    if not features:
        raise ValueError("no feature columns given: pass numeric and/or categorical column names")
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ValueError(f"columns declared both numeric and categorical: {', '.join(both)}")
    if prediction is not None and prediction in features:
        raise ValueError(
            f"the prediction column '{prediction}' is also listed as a feature; list it only as the prediction"
        )
    if current.empty:
        raise ValueError("the current batch has no rows: nothing to compare with the reference")
    if reference.empty:
        raise ValueError("the reference data has no rows: nothing to compare the batch with")
    needed = [*features, *([prediction] if prediction is not None else [])]
    for name, frame in (("current batch", current), ("reference data", reference)):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            other = "reference data" if name == "current batch" else "current batch"
            raise ValueError(
                f"columns missing from the {name}: {', '.join(missing)} (expected in both the {other} "
                f"and the {name}; the {name} has: {_listing(frame.columns)})"
            )
    return features


def check_overrides(
    methods: dict[str, str], thresholds: dict[str, float], features: list[str], prediction: str | None
) -> None:
    known = [*features, *([prediction] if prediction else [])]
    for what, given in (("column_methods", methods), ("column_thresholds", thresholds)):
        unknown = [c for c in given if c not in known]
        if unknown:
            raise ValueError(
                f"{what} names columns that are not checked: {', '.join(unknown)} "
                f"(checked: {', '.join(known)})"
            )
    bad = [
        f"{c}={v!r}"
        for c, v in thresholds.items()
        if not isinstance(v, int | float) or not math.isfinite(v) or v < 0
    ]
    if bad:
        raise ValueError(f"column_thresholds must be finite non-negative numbers: {', '.join(bad)}")


def _listing(columns: Iterable[object], limit: int = 20) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
