"""The data-quality gate on a batch read in chunks, with the same verdict as on the whole batch at once.

A batch of one chunk is validated by GX as any frame is. A batch of several chunks is validated expectation by
expectation, each in the one way that gives the whole batch's answer:

- row by row (`expect_column_values_to_*`, column-pair and multicolumn map expectations): GX on each chunk, the
  unexpected and in-domain (non-null) counts added up and `mostly` applied to the totals, as GX applies it;
- the table's shape (`expect_column_to_exist`, `expect_table_columns_*`, column counts, `expect_column_type_to_be`):
  GX on each chunk (every chunk has the batch's columns and, CSV types settled, its types); any chunk failing fails;
- aggregates kept as running values: the row count, a column's min, max, sum and mean, the share of non-null
  values, and its distinct values (for the `expect_column_distinct_values_*` set expectations);
- anything else needs the whole column at once (uniqueness, order, median, quantiles, stdev, z-scores, outliers,
  KL divergence, most common value, ...): such a suite is refused with a message that says how to check it,
  never skipped.

GX itself is reached through tasks.quality (the only module that imports it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.errors import Problem, SpecError
from tasks.data.checks import has_labels
from tasks.data.stream import BatchSource, Fingerprint, ValueCounts, batch_chunks
from tasks.quality import (
    FailedExpectation,
    ValidationOutcome,
    columns_of,
    explain_failure,
    failure_of,
    outcome_of,
    read_suite,
    save_report,
    suite_without,
    validator,
)

ROW_WISE_PREFIXES = (
    "expect_column_values_to_", "expect_column_value_", "expect_column_pair_values_", "expect_multicolumn_",
    "expect_select_column_values_",
)  # fmt: skip
WHOLE_COLUMN = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_increasing",
        "expect_column_values_to_be_decreasing",
        "expect_column_value_z_scores_to_be_less_than",
        "expect_column_values_to_not_be_outliers",
        "expect_compound_columns_to_be_unique",
    }
)
SHAPE = frozenset(
    {
        "expect_column_to_exist",
        "expect_column_type_to_be",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
    }
)
RUNNING = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_column_min_to_be_between",
        "expect_column_max_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_distinct_values_to_equal_set",
    }
)


def family(kind: str) -> str:
    """How an expectation type is judged over chunks: 'rows', 'shape', 'running' or 'whole' (needs the whole
    column at once)."""
    if kind in WHOLE_COLUMN:
        return "whole"
    if kind.startswith(ROW_WISE_PREFIXES):
        return "rows"
    if kind in SHAPE:
        return "shape"
    return "running" if kind in RUNNING else "whole"


@dataclass(frozen=True)
class ChunkedCheck:
    """The gate's verdict on a batch read in chunks (None: no suite), its row count, and whether it has labels."""

    outcome: ValidationOutcome | None
    rows: int
    chunks: int
    labelled: bool
    fingerprint: str = ""  # the batch's content hash (tasks/data/stream.py::Fingerprint)
    values: dict[str, int] = field(default_factory=dict)  # non-null counts (stream.py::ValueCounts)


def validate_batch(
    source: BatchSource, suite_path: Path | None, report_dir: Path, target: str, chunk_rows: int
) -> ChunkedCheck:
    """The gate on the batch `source` names, read chunk by chunk (its fingerprint and its non-null counts per
    column taken on the way); the verdict saved in report_dir as tasks.quality.validate saves it."""
    fp, counts = Fingerprint(source.identity), ValueCounts()
    parts = map(counts.add, map(fp.add, batch_chunks(source, chunk_rows)))
    check = validate_chunks(parts, suite_path, target, chunk_rows)
    check = replace(check, fingerprint=fp.hexdigest(), values=counts.counts)
    if check.outcome is None:
        return check
    return replace(check, outcome=save_report(check.outcome, report_dir))


def validate_chunks(
    parts: Iterable[pd.DataFrame], suite_path: Path | None, target: str, chunk_rows: int
) -> ChunkedCheck:
    """Validate the batch `parts` yields against the suite (target expectations left out when no row has a label),
    holding one chunk (two, at the start) at a time. SpecError (exit 2) before any chunk is checked when the suite
    has an expectation that needs the whole column and the batch has more than one chunk."""
    it = iter(parts)
    first = next(it, None)
    if first is None:
        return ChunkedCheck(None, 0, 0, False)
    second = next(it, None)
    raw = read_suite(suite_path) if suite_path is not None else None
    if second is None:  # one chunk is the whole batch: GX as for any frame
        labelled = has_labels(first, target)
        if raw is None:
            return ChunkedCheck(None, len(first), 1, labelled)
        kept = suite_without(raw, () if labelled else (target,))
        return ChunkedCheck(
            outcome_of(validator(kept)(first), first, kept["name"], len(first)), len(first), 1, labelled
        )
    if raw is not None:
        refuse_whole_column(raw, suite_path, chunk_rows)
    combiner = Combiner(raw) if raw is not None else None
    rows, n, labelled = 0, 0, False
    for chunk in _chain(first, second, it):
        rows, n = rows + len(chunk), n + 1
        labelled = labelled or has_labels(chunk, target)
        if combiner is not None:
            combiner.add(chunk)
    outcome = combiner.outcome(rows, () if labelled else (target,)) if combiner is not None else None
    return ChunkedCheck(outcome, rows, n, labelled)


def _chain(first: pd.DataFrame, second: pd.DataFrame, rest: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    yield first
    yield second
    yield from rest


def refuse_whole_column(raw: dict[str, Any], suite_path: Path | None, chunk_rows: int) -> None:
    whole = [(i, e) for i, e in enumerate(raw["expectations"]) if family(str(e.get("type"))) == "whole"]
    if not whole:
        return
    problems = [
        Problem(
            str(suite_path),
            f"expectations[{i}]",
            f"'{e['type']}'{_on(e)} needs the whole column at once, and this batch has more than one chunk of "
            f"{chunk_rows:,} rows, so it cannot be checked exactly chunk by chunk",
            "raise --chunk-rows above the batch's row count (the batch is then checked whole, in memory), or "
            "keep this expectation for the monitor and retrain (which read the batch whole)",
        )  # fmt: skip
        for i, e in whole
    ]
    raise SpecError(problems)


def _on(expectation: dict[str, Any]) -> str:
    cols = sorted(columns_of(expectation))
    return f" on {', '.join(repr(c) for c in cols)}" if cols else ""


def _key(kind: str, kwargs: dict[str, Any]) -> str:
    """One expectation's identity, the same for the suite's JSON and GX's result: GX gives a bound of 0 back as
    0.0, so numbers are compared as floats (else a range with whole-number bounds found no tally and passed)."""
    clean = {k: _as_float(v) for k, v in kwargs.items() if k != "batch_id"}
    return f"{kind} {json.dumps(clean, sort_keys=True, default=str)}"


def _as_float(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_as_float(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_float(v) for k, v in value.items()}
    return value


@dataclass
class _Tally:
    """One expectation's running state over the chunks."""

    unexpected: int = 0
    domain: int = 0
    failed: FailedExpectation | None = None  # the first failure (shape, or a GX error) and its examples
    examples: list[Any] | None = None


class Combiner:
    """Adds chunk after chunk; `outcome` then judges each expectation for the whole batch."""

    def __init__(self, raw: dict[str, Any]):
        self.name = str(raw["name"])
        self.expectations = [e for e in raw["expectations"] if isinstance(e, dict)]
        per_chunk = [e for e in self.expectations if family(str(e["type"])) in ("rows", "shape")]
        self.run = validator({**raw, "expectations": per_chunk}) if per_chunk else None
        self.tallies: dict[str, _Tally] = {}
        self.columns: list[str] = []
        self.stats: dict[str, dict[str, Any]] = {}

    def add(self, chunk: pd.DataFrame) -> None:
        self.columns = self.columns or [str(c) for c in chunk.columns]
        if self.run is not None:
            for r in self.run(chunk)["results"]:
                self._add_result(r, chunk)
        for col in {
            str(e.get("kwargs", {}).get("column")) for e in self.expectations if e["type"] in RUNNING
        }:
            if col in chunk.columns:
                self._add_stats(col, chunk[col])

    def _add_result(self, r: dict[str, Any], chunk: pd.DataFrame) -> None:
        cfg, res = r["expectation_config"], r.get("result") or {}
        tally = self.tallies.setdefault(_key(cfg["type"], cfg.get("kwargs", {})), _Tally())
        failed_here = not r["success"]
        errored = bool((r.get("exception_info") or {}).get("raised_exception"))
        if "unexpected_count" in res and not errored:
            count = int(res["unexpected_count"] or 0)
            tally.unexpected += count
            tally.domain += int(res.get("element_count") or 0) - int(res.get("missing_count") or 0)
            if count and tally.examples is None:
                tally.examples = list(res.get("partial_unexpected_list") or [])[:5]
            if count and tally.failed is None:
                tally.failed = failure_of(r, chunk)
        elif failed_here and tally.failed is None:
            tally.failed = failure_of(r, chunk)  # a shape failure or an error: the same in the whole batch

    def _add_stats(self, col: str, values: pd.Series) -> None:
        s = self.stats.setdefault(col, {"count": 0, "nonnull": 0, "sum": 0.0, "distinct": set()})
        present = values.dropna()
        s["count"] += len(values)
        s["nonnull"] += len(present)
        s["distinct"].update(present.unique().tolist())
        if present.empty:
            return
        low, high = present.min(), present.max()
        s["min"] = low if "min" not in s else min(s["min"], low)
        s["max"] = high if "max" not in s else max(s["max"], high)
        if pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present):
            s["sum"] += float(present.sum())

    def outcome(self, rows: int, skip_columns: tuple[str, ...]) -> ValidationOutcome:
        failed: list[FailedExpectation] = []
        evaluated = 0
        for e in self.expectations:
            if columns_of(e) & set(skip_columns):
                continue
            evaluated += 1
            kind, kwargs = str(e["type"]), dict(e.get("kwargs", {}))
            miss = self._judge(kind, kwargs, rows)
            if miss is not None:
                failed.append(miss)
        return ValidationOutcome(
            suite=self.name, success=not failed, rows=rows, evaluated=evaluated, failed=failed
        )

    def _judge(self, kind: str, kwargs: dict[str, Any], rows: int) -> FailedExpectation | None:
        if kind in RUNNING:
            return self._judge_running(kind, kwargs, rows)
        tally = self.tallies.get(_key(kind, kwargs), _Tally())
        if tally.domain or tally.unexpected:  # row by row: `mostly` on the totals
            mostly = float(kwargs.get("mostly", 1.0))
            share_ok = 1 - tally.unexpected / tally.domain if tally.domain else 1.0
            if share_ok >= mostly:
                return None
            first = tally.failed
            return FailedExpectation(
                type=kind, column=kwargs.get("column"), unexpected_count=tally.unexpected,
                unexpected_percent=100.0 * tally.unexpected / tally.domain if tally.domain else None,
                examples=tally.examples or [], observed=None, kwargs=kwargs, why=first.why if first else "",
            )  # fmt: skip
        return tally.failed

    def _judge_running(self, kind: str, kwargs: dict[str, Any], rows: int) -> FailedExpectation | None:
        col = kwargs.get("column")
        if kind.startswith("expect_table_row_count"):
            observed: Any = rows
        else:
            if str(col) not in self.columns:
                why = explain_failure(kind, kwargs, None, pd.DataFrame(columns=self.columns))
                return FailedExpectation(kind, col, None, None, [], "no such column", kwargs, why)
            observed = self._observed(kind, self.stats[str(col)])
        if _holds(kind, kwargs, observed):
            return None
        shown = sorted(observed, key=str)[:20] if isinstance(observed, set) else observed
        return FailedExpectation(kind, col, None, None, [], shown, kwargs)

    @staticmethod
    def _observed(kind: str, s: dict[str, Any]) -> Any:
        if kind.startswith("expect_column_distinct_values"):
            return s["distinct"]
        if kind == "expect_column_proportion_of_non_null_values_to_be_between":
            return s["nonnull"] / s["count"] if s["count"] else None
        if kind == "expect_column_mean_to_be_between":
            return s["sum"] / s["nonnull"] if s["nonnull"] else None
        if kind == "expect_column_sum_to_be_between":
            return s["sum"]
        return s.get("min" if "_min_" in kind else "max")


def _holds(kind: str, kwargs: dict[str, Any], observed: Any) -> bool:
    """GX's rule for the aggregate expectation `kind` applied to the observed value of the whole batch."""
    if kind == "expect_table_row_count_to_equal":
        return bool(observed == kwargs.get("value"))
    if kind.startswith("expect_column_distinct_values"):
        wanted = set(kwargs.get("value_set") or [])
        if kind.endswith("contain_set"):
            return wanted <= observed
        return observed <= wanted if kind.endswith("be_in_set") else observed == wanted
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        return False
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    try:
        if low is not None and (observed <= low if kwargs.get("strict_min") else observed < low):
            return False
        return not (high is not None and (observed >= high if kwargs.get("strict_max") else observed > high))
    except TypeError:  # a bound of another kind than the values (text against numbers)
        return False
