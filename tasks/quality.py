"""The data-quality gate. The only module that imports great_expectations.

Suites are GX's own JSON under expectations/; an ephemeral GX context rebuilds them, so nothing but the JSON
needs to live in git.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.errors import Problem
from mlops.text import did_you_mean, shown

COLUMN_KWARGS = ("column", "column_A", "column_B")
LIST_KWARGS = ("column_list", "column_set")


@dataclass(frozen=True)
class FailedExpectation:
    type: str
    column: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: list[Any]
    observed: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # what is wrong and the fix, in words, when GX's observed value alone does not say it

    def describe(self) -> str:
        where = f" on '{self.column}'" if self.column else ""
        if self.why:
            got = self.why
        elif self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            got = f"{self.unexpected_count:,} unexpected rows{pct}"
            if self.examples:
                got += f", e.g. {', '.join(map(shown, self.examples[:3]))}"
        else:
            got = f"observed {shown(self.observed)}"
        return f"{self.type}{where}: {got}"


@dataclass(frozen=True)
class ValidationOutcome:
    suite: str
    success: bool
    rows: int
    evaluated: int
    failed: list[FailedExpectation]
    report_path: str | None = None
    reused_from: str = ""  # when the same data passed the same suite before: then (tasks/quality_memo.py)

    @property
    def passed(self) -> int:
        return self.evaluated - len(self.failed)

    def headline(self) -> str:
        status = "passed" if self.success else f"FAILED {len(self.failed)} of {self.evaluated} expectations"
        if self.reused_from:
            status += f" (the same data passed the same suite at {self.reused_from}; GX not run again)"
        return f"suite '{self.suite}' on {self.rows:,} rows: {status}"

    def failures(self) -> list[str]:
        """One line per failed expectation (a replay's timeline shows them)."""
        return [f.describe() for f in self.failed]

    def message(self) -> str:
        """The plain-text account for the terminal: the headline, each failed expectation, the report's path."""
        lines = [f"Data quality gate: {self.headline()}."]
        lines += [f"  - {f.describe()}" for f in self.failed]
        if self.report_path:
            lines.append(f"Report: {self.report_path}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [f"**Data quality**: {self.headline()}", ""]
        if self.failed:
            lines += ["| expectation | column | unexpected | examples |", "|---|---|---|---|"]
            for f in self.failed:
                count = (
                    ""
                    if f.unexpected_count is None
                    else f"{f.unexpected_count:,} ({f.unexpected_percent or 0:.2f}%)"
                )
                examples = f.why or (
                    ", ".join(map(shown, f.examples[:3])) if f.examples else shown(f.observed)
                )
                lines.append(f"| {f.type} | {f.column or ''} | {count} | {examples} |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_suite(path: Path) -> dict[str, Any]:
    """The suite's JSON; ValueError with a readable reason when it is not a GX suite."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise ValueError('not a GX suite: expected an object with "name" and an "expectations" list')
    raw.setdefault("name", path.stem)
    return raw


def suite_columns(suite: dict[str, Any]) -> set[str]:
    """Every column an expectation of the suite names."""
    cols: set[str] = set()
    for exp in suite.get("expectations", []):
        cols |= columns_of(exp)
    return cols


def columns_of(expectation: Any) -> set[str]:
    kwargs = expectation.get("kwargs", {}) if isinstance(expectation, dict) else {}
    cols = {str(kwargs[k]) for k in COLUMN_KWARGS if isinstance(kwargs.get(k), str)}
    for k in LIST_KWARGS:
        if isinstance(kwargs.get(k), list) and k != "column_set":
            cols.update(map(str, kwargs[k]))
    return cols


def check_suite(spec_file: str, field_path: str, path: Path, columns: list[str] | None) -> list[Problem]:
    """Problems with a suite file: missing, not JSON, not GX, unknown expectation types, unknown columns."""
    if not path.is_file():
        return [
            Problem(spec_file, field_path, f"suite file '{path}' does not exist", "create it or fix the path")
        ]
    try:
        raw = read_suite(path)
    except ValueError as exc:
        return [Problem(spec_file, field_path, f"{path}: {exc}")]
    problems = [
        Problem(spec_file, field_path, f"{path}: {message}", NON_FINITE_HINT)
        for message in non_finite_values(raw)
    ]
    try:
        if not problems:
            _build_suite(raw)
    except Exception as exc:  # noqa: BLE001 - GX raises many types for a bad suite; all become a Problem
        problems.append(Problem(spec_file, field_path, f"{path}: GX rejects the suite: {exc}"))
    if columns is not None:
        from mlops.text import did_you_mean

        for col in sorted(suite_columns(raw) - set(columns)):
            guess = did_you_mean(col, columns)
            hint = f"did you mean '{guess}'?" if guess else "the data has: " + ", ".join(columns[:20])
            problems.append(
                Problem(spec_file, field_path, f"{path}: column '{col}' is not in the data", hint)
            )
    return problems


NON_FINITE_HINT = "give a number, or null (or leave the key out) where no bound is meant"


def non_finite_values(raw: dict[str, Any]) -> list[str]:
    """Each NaN or infinite number in an expectation's kwargs (JSON NaN/Infinity, which Python's json reads): a
    NaN bound makes every comparison false and GX quietly passes or skips the check, so it is refused."""
    found = []
    for i, exp in enumerate(raw.get("expectations", [])):
        if not isinstance(exp, dict):
            continue
        for where, value in _numbers(exp.get("kwargs", {}), ""):
            text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            found.append(
                f"expectation #{i + 1} '{exp.get('type')}': {where or 'kwargs'} is {text}, which would disable the "
                "check without a word"
            )
    return found


def _numbers(value: Any, where: str) -> list[tuple[str, float]]:
    """(path, value) of every non-finite float in a JSON value."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(where, value)]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _numbers(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [hit for n, v in enumerate(value) for hit in _numbers(v, f"{where}[{n}]")]
    return []


def _gx_reason(exc: Exception) -> str:
    text = str(exc).split(": ")[-1] if str(exc) else type(exc).__name__
    return text.strip()


def _build_suite(raw: dict[str, Any]) -> Any:
    """A GX suite from its JSON. GX itself logs and drops an invalid expectation; here it is an error."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import warnings

    import great_expectations as gx

    warnings.filterwarnings("ignore", module="great_expectations")
    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
    non_finite = non_finite_values(raw)
    if non_finite:
        raise ValueError(f"{non_finite[0]}; {NON_FINITE_HINT}")
    for i, exp in enumerate(raw["expectations"]):
        if not isinstance(exp, dict) or "type" not in exp:
            raise ValueError(f'expectation #{i + 1} needs a "type" and "kwargs"')
        try:
            _expectation(exp["type"], exp.get("kwargs", {}))
        except Exception as exc:  # noqa: BLE001 - GX raises many types for a bad expectation; all become ValueError
            raise ValueError(f"expectation #{i + 1} '{exp['type']}': {_gx_reason(exc)}") from None
    keep = {k: raw[k] for k in ("name", "expectations", "meta", "notes", "id") if k in raw}
    return gx.ExpectationSuite(**keep)


def _expectation(kind: object, kwargs: object) -> Any:
    """One expectation built from its JSON by GX's public class for it; GX's own error (and wording) when the
    type is unknown or the kwargs do not fit."""
    if not isinstance(kind, str):
        raise TypeError("expectation_type must be a string")
    if not isinstance(kwargs, dict):
        raise TypeError("expectation configuration kwargs must be a dict.")
    cls = expectation_classes().get(kind)
    if cls is None:
        guess = did_you_mean(kind, expectation_classes())
        near = f"did you mean '{guess}'?" if guess else "see the expectation types of Great Expectations 1.x"
        raise LookupError(f"not an expectation type of Great Expectations ({near})")
    return cls(**kwargs)


@functools.cache
def expectation_classes() -> dict[str, type]:
    """GX's expectation classes by their JSON type ("expect_column_values_to_not_be_null"), from the public
    great_expectations.expectations namespace (each class names its own type in `expectation_type`)."""
    import great_expectations as gx

    return {
        cls.expectation_type: cls
        for cls in vars(gx.expectations).values()
        if isinstance(cls, type) and issubclass(cls, gx.expectations.Expectation) and cls.expectation_type
    }


def run_suite(frame: pd.DataFrame, suite_path: Path, skip_columns: tuple[str, ...] = ()) -> ValidationOutcome:
    """Validate a frame against a suite file with an ephemeral GX context.

    Expectations on `skip_columns` are left out (an unlabelled production batch has no target column to check).
    """
    raw = suite_without(read_suite(suite_path), skip_columns)
    return outcome_of(validator(raw)(frame), frame, raw["name"], len(frame))


def suite_without(raw: dict[str, Any], skip_columns: tuple[str, ...]) -> dict[str, Any]:
    """The suite less the expectations that name one of `skip_columns`."""
    if not skip_columns:
        return raw
    kept = [e for e in raw["expectations"] if not (columns_of(e) & set(skip_columns))]
    return {**raw, "expectations": kept}


def validator(raw: dict[str, Any]) -> Callable[[pd.DataFrame], dict[str, Any]]:
    """A function validating frames against the suite `raw`, GX's result as JSON (one ephemeral context for every
    frame it is given: a batch checked chunk by chunk pays for the context once)."""
    suite = _build_suite(raw)
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    quiet_progress_bars(context)
    suite = context.suites.add(suite)
    asset = context.data_sources.add_pandas("mlops").add_dataframe_asset("batch")
    definition = asset.add_batch_definition_whole_dataframe("all")

    numeric = numeric_columns(raw)

    def run(frame: pd.DataFrame) -> dict[str, Any]:
        checked, texts = numbers_from_text(frame, numeric)
        batch = definition.get_batch(batch_parameters={"dataframe": checked})
        result: dict[str, Any] = batch.validate(suite, result_format="SUMMARY").to_json_dict()
        return judged_by_rows(result, frame, numeric, texts)

    return run


# --- numbers written as text --------------------------------------------------------------------------------
# A CSV column of numbers with a few values that are not numbers ('?', 'unknown') is read as text, whole. GX then
# judges every row of it by its Python type (str: 1,057 of 1,057 rows "unexpected") and a range on it fails with
# no observed value at all. The gate judges the rows instead, as predict does (it rejects the rows whose number is
# text): the column is checked as numbers, and the values that are not numbers are the failed rows of every value
# expectation on it (not of, e.g., not-null), shown as examples, and tolerated up to the expectation's `mostly`.

NUMERIC_TYPE_WORDS = ("number", "numeric", "integer", "double", "decimal", "long")


@dataclass(frozen=True)
class NotNumbers:
    """The values of a numeric column read as text that are not numbers: how many, the column's non-null count,
    and the first few of them (as written)."""

    count: int
    present: int
    examples: list[Any]


def numeric_columns(raw: dict[str, Any]) -> set[str]:
    """The columns the suite expects to hold numbers: a type expectation naming numeric types only, or a range
    with numeric bounds."""
    cols: set[str] = set()
    for exp in raw.get("expectations", []):
        kwargs = exp.get("kwargs", {}) if isinstance(exp, dict) else {}
        col = kwargs.get("column") if isinstance(kwargs, dict) else None
        if not isinstance(col, str):
            continue
        if exp.get("type") in TYPE_EXPECTATIONS:
            types = kwargs.get("type_list") or ([kwargs["type_"]] if kwargs.get("type_") else [])
            if types and all(_numeric_type(str(t)) for t in types):
                cols.add(col)
        elif exp.get("type") == "expect_column_values_to_be_between":
            bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
            given = [b for b in bounds if b is not None]
            if given and all(isinstance(b, int | float) and not isinstance(b, bool) for b in given):
                cols.add(col)
    return cols


def _numeric_type(name: str) -> bool:
    low = name.lower()
    return low.startswith(("int", "uint", "float")) or low in NUMERIC_TYPE_WORDS


def numbers_from_text(frame: pd.DataFrame, numeric: set[str]) -> tuple[pd.DataFrame, dict[str, NotNumbers]]:
    """`frame` with each numeric column read as text converted to numbers (the values that are not numbers
    become nulls), and what was not a number, per column. A column with no number at all, or only numbers stored
    as text (a Parquet column of another type: every row is of the wrong type), is left as it is, and GX says so."""
    texts: dict[str, NotNumbers] = {}
    converted: dict[str, pd.Series] = {}
    for col in sorted(numeric):
        if col not in frame.columns:
            continue
        values = frame[col]
        if (
            pd.api.types.is_numeric_dtype(values)
            or pd.api.types.is_bool_dtype(values)
            or pd.api.types.is_datetime64_any_dtype(values)
        ):
            continue
        present = values.notna()
        as_text = values.where(~present, values.astype(str).str.strip())
        numbers = pd.to_numeric(as_text, errors="coerce")
        bad = present & numbers.isna()
        if not numbers.notna().any() or not bad.any():
            continue  # all text, or numbers stored as text (a Parquet schema change): GX's own verdict
        converted[col] = numbers
        texts[col] = NotNumbers(int(bad.sum()), int(present.sum()), values[bad].head(20).tolist())
    if not converted:
        return frame, {}
    return frame.assign(**converted), texts


def judged_by_rows(
    result: dict[str, Any], frame: pd.DataFrame, numeric: set[str], texts: dict[str, NotNumbers]
) -> dict[str, Any]:
    """GX's result with each value expectation on a numeric column read as text counting the values that are not
    numbers as its failed rows (and not-null not counting them as nulls), `mostly` applied again; a type expectation
    on a numeric column gets its row counts too, so chunks add up to the batch's."""
    changed = False
    for r in result.get("results", []):
        cfg = r.get("expectation_config") or {}
        kwargs, kind = cfg.get("kwargs") or {}, str(cfg.get("type"))
        col = kwargs.get("column")
        if col not in numeric or (r.get("exception_info") or {}).get("raised_exception"):
            continue
        res = r.setdefault("result", {})
        if col not in texts:
            if kind in TYPE_EXPECTATIONS and r.get("success") and col in frame.columns:
                nulls = int(frame[col].isna().sum())
                res.update(element_count=len(frame), missing_count=nulls, unexpected_count=0)
                res.update(unexpected_percent=0.0, partial_unexpected_list=[])
            continue
        bad = texts[col]
        if kind == "expect_column_values_to_not_be_null":
            unexpected = max(0, int(res.get("unexpected_count") or 0) - bad.count)
            res.update(unexpected_count=unexpected, partial_unexpected_list=[None] * min(unexpected, 20))
            res["unexpected_percent"] = 100.0 * unexpected / len(frame) if len(frame) else 0.0
            judged = len(frame)
        elif kind in TYPE_EXPECTATIONS or kind.startswith("expect_column_values_to_"):
            before = 0 if kind in TYPE_EXPECTATIONS else int(res.get("unexpected_count") or 0)
            unexpected = before + bad.count
            listed = [] if kind in TYPE_EXPECTATIONS else list(res.get("partial_unexpected_list") or [])
            res.update(
                element_count=len(frame), missing_count=len(frame) - bad.present, unexpected_count=unexpected,
                unexpected_percent=100.0 * unexpected / bad.present if bad.present else 0.0,
                partial_unexpected_list=(bad.examples + listed)[:20], observed_value=None,
            )  # fmt: skip
            judged = bad.present
        else:
            continue
        mostly = float(kwargs.get("mostly", 1.0))
        r["success"] = (judged - res["unexpected_count"]) / judged >= mostly if judged else True
        changed = True
    if changed:
        results = result.get("results", [])
        passed = sum(1 for r in results if r.get("success"))
        result["success"] = passed == len(results)
        stats = result.setdefault("statistics", {})
        stats.update(successful_expectations=passed, unsuccessful_expectations=len(results) - passed)
        stats["success_percent"] = 100.0 * passed / len(results) if results else 100.0
    return result


def failure_of(r: dict[str, Any], frame: pd.DataFrame) -> FailedExpectation:
    """One failed expectation of a GX result, with what it means (explain_failure) for `frame`."""
    cfg, res = r["expectation_config"], r.get("result") or {}
    kwargs = {k: v for k, v in cfg.get("kwargs", {}).items() if k != "batch_id"}
    exc_info = r.get("exception_info") or {}
    observed = res.get("observed_value")
    if exc_info.get("raised_exception"):
        observed = f"error: {exc_info.get('exception_message')}"
    return FailedExpectation(
        type=cfg["type"],
        column=kwargs.get("column"),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=res.get("unexpected_percent"),
        examples=list(res.get("partial_unexpected_list") or [])[:5],
        observed=observed,
        kwargs=kwargs,
        why=explain_failure(cfg["type"], kwargs, observed, frame),
    )


def outcome_of(result: dict[str, Any], frame: pd.DataFrame, suite: str, rows: int) -> ValidationOutcome:
    return ValidationOutcome(
        suite=suite,
        success=bool(result["success"]),
        rows=rows,
        evaluated=int(result["statistics"]["evaluated_expectations"]),
        failed=[failure_of(r, frame) for r in result["results"] if not r["success"]],
    )


TYPE_EXPECTATIONS = ("expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list")


def explain_failure(kind: str, kwargs: dict[str, Any], observed: Any, frame: pd.DataFrame) -> str:
    """What a failure means when GX reports only an observed value: a column the batch lacks, the columns a
    column-set expectation misses or did not expect, a column of another type; each with the fix. "" otherwise."""
    present = [str(c) for c in frame.columns]
    for key in COLUMN_KWARGS:
        col = kwargs.get(key)
        if isinstance(col, str) and col not in present:
            guess = did_you_mean(col, present)
            near = f" (did you mean '{guess}'?)" if guess else ""
            return (
                f"column '{col}' is not in the data{near}; add it to the data, or fix or remove this expectation "
                "in the suite"
            )
    wanted = kwargs.get("column_set") or kwargs.get("column_list")
    if isinstance(wanted, list) and kind.startswith("expect_table_columns_to_match"):
        missing = [str(c) for c in wanted if str(c) not in present]
        exact = kind.endswith("ordered_list") or kwargs.get("exact_match", True) is not False
        extra = [c for c in present if c not in map(str, wanted)] if exact else []
        parts = [f"missing column(s): {', '.join(missing)}"] if missing else []
        if extra:
            parts.append(f"column(s) the suite does not list: {', '.join(extra)}")
        if not parts and kind.endswith("ordered_list"):
            parts.append(f"the columns are in another order: {', '.join(present)}")
        if parts:
            return "; ".join(parts) + "; fix the data, or the expectation's column list in the suite"
    if kind in TYPE_EXPECTATIONS and observed is not None and not str(observed).startswith("error:"):
        expected = kwargs.get("type_") or " or ".join(map(str, kwargs.get("type_list") or []))
        return (
            f"column '{kwargs.get('column')}' holds {observed}, expected {expected}; convert the column in the data "
            "(e.g. numbers stored as text), or change the expected type in the suite"
        )
    return ""


def quiet_progress_bars(context: Any) -> None:
    """No tqdm bars on stderr from this context's validations.

    The one use of a GX internal (ProgressBarsConfig, the type of the public context.variables.progress_bars;
    GX 1.x exports no public one): tests/integration/test_library_contracts.py pins it."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def validate(
    frame: pd.DataFrame, suite_path: Path, report_dir: Path, skip_columns: tuple[str, ...] = ()
) -> ValidationOutcome:
    """Run the gate and save a readable report (Markdown) and the raw outcome (JSON) in report_dir."""
    return save_report(run_suite(frame, suite_path, skip_columns), report_dir)


def save_report(outcome: ValidationOutcome, report_dir: Path) -> ValidationOutcome:
    """The outcome written to report_dir (Markdown to read, JSON to parse), with the Markdown's path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S%fZ")
    md = report_dir / f"quality-{stamp}.md"
    md.write_text(outcome.to_markdown() + "\n", encoding="utf-8")
    (report_dir / f"quality-{stamp}.json").write_text(
        json.dumps(outcome.to_dict(), indent=2, default=str), encoding="utf-8"
    )
    return ValidationOutcome(**{**outcome.__dict__, "report_path": str(md)})
