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

    def run(frame: pd.DataFrame) -> dict[str, Any]:
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        result: dict[str, Any] = batch.validate(suite, result_format="SUMMARY").to_json_dict()
        return result

    return run


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
