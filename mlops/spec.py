"""The pipeline spec: one YAML file per pipeline under deployments/, checked by a pydantic schema.

`load_spec` returns a `LoadedSpec` or raises `SpecError` listing every problem at once, each with the file,
the field path, what was expected and, for a misspelling, the closest valid name.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops.catalog import BUILTIN_DATASETS, ESTIMATORS, METRICS, Direction, Task, estimators_for, metrics_for
from mlops.errors import Problem, SpecError

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
ParamValue = str | int | float | bool | None | list[str | int | float | bool | None]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where the data comes from: a CSV or Parquet file (or a glob of them), or a bundled dataset."""

    kind: Literal["csv", "parquet", "builtin"]
    path: str | None = Field(None, description="File or glob, relative to the project root (csv, parquet)")
    name: str | None = Field(None, description=f"Bundled dataset (builtin): {', '.join(BUILTIN_DATASETS)}")


class Window(Strict):
    """Keep rows whose time column falls in [start, end)."""

    start: datetime | None = None
    end: datetime | None = None


class Features(Strict):
    """Declared feature columns; any list left out is inferred from the data and recorded with the model."""

    numeric: list[str] | None = None
    categorical: list[str] | None = None
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features")


class Split(Strict):
    strategy: Literal["stratified", "random", "time"] = "stratified"
    holdout_fraction: Fraction = 0.2
    seed: int = 42


class Data(Strict):
    source: Source
    target: str
    time_column: str | None = None
    window: Window | None = None
    features: Features = Features()
    split: Split = Split()


class Quality(Strict):
    suite: str = Field(description="Great Expectations suite (GX JSON), relative to the project root")
    on_failure: Literal["fail", "warn"] = "fail"


class NumericPreprocessing(Strict):
    impute: Literal["median", "mean", "most_frequent", "none"] = "median"
    scale: bool = False


class CategoricalPreprocessing(Strict):
    impute: Literal["most_frequent", "constant", "none"] = "constant"
    encoding: Literal["onehot", "ordinal"] = "onehot"
    max_categories: int | None = Field(20, ge=2)


class Preprocessing(Strict):
    numeric: NumericPreprocessing = NumericPreprocessing()
    categorical: CategoricalPreprocessing = CategoricalPreprocessing()


class Model(Strict):
    task: Task
    estimator: str = Field(description="Import path of an allowed scikit-learn estimator")
    params: dict[str, ParamValue] = Field(default_factory=dict)
    candidates: list[dict[str, ParamValue]] = Field(
        default_factory=list,
        description="Parameter sets to try, each merged onto params; they train concurrently and the best on a "
        "validation part of the training data becomes the challenger",
    )
    preprocessing: Preprocessing = Preprocessing()


class Registry(Strict):
    model_name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            max_length=128,
            description="Letters, digits, '.', '_' and '-': it also names files (locks, reports), never a path",
        ),
    ]


class Guardrail(Strict):
    """A metric the challenger may not worsen too much (max_drop) or push past an absolute bound."""

    metric: str
    max_drop: float | None = Field(None, ge=0, description="Largest allowed worsening against the champion")
    min: float | None = Field(None, description="The challenger's value may not be below this")
    max: float | None = Field(None, description="The challenger's value may not be above this")


class Bootstrap(Strict):
    """A seeded paired bootstrap of the primary metric's improvement on the holdout: promotion needs the
    interval's lower bound above min_improvement, so a model better by noise alone is not promoted."""

    resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int = 0


class SliceGuardrail(Strict):
    """The metric on each value of `column` may not worsen by more than max_drop against the champion."""

    column: str
    metric: str | None = Field(None, description="Defaults to promotion.metric")
    max_drop: float = Field(ge=0)
    min_rows: int = Field(50, ge=1, description="Slices with fewer holdout rows are not judged")


class Approval(Strict):
    """auto: the policy decides; manual: a person approves a promotion in the Prefect UI or with `mlops
    approve` (the declared timeout rejects); dry_run: decide and record, never move an alias."""

    mode: Literal["auto", "manual", "dry_run"] = "auto"
    timeout_seconds: int = Field(3600, ge=10)


class Promotion(Strict):
    metric: str
    direction: Direction | None = Field(None, description="Defaults to the metric's natural direction")
    min_improvement: float = Field(0.0, ge=0, description="Absolute improvement needed over the champion")
    min_relative_improvement: float | None = Field(
        None, ge=0, description="Improvement needed as a fraction of the champion's value (0.01 = 1%)"
    )
    min_holdout_rows: int = Field(30, ge=1, description="Fewer holdout rows than this: no promotion")
    bootstrap: Bootstrap | None = None
    guardrails: list[Guardrail] = Field(default_factory=list)
    slice_guardrails: list[SliceGuardrail] = Field(default_factory=list)
    approval: Approval = Field(default_factory=Approval)
    on_champion_error: Literal["reject", "promote"] = Field(
        "reject",
        description="What to do when the champion cannot score the holdout (e.g. its inputs changed)",
    )


class Monitoring(Strict):
    """Read by the monitor flow: when a batch counts as drifted and what to do then."""

    drift_share_threshold: Annotated[float, Field(ge=0, le=1)] = 0.3
    on_drift: Literal["alert", "retrain"] = "alert"
    max_sample_rows: int = Field(50_000, ge=100, description="Rows per side compared (seeded sample)")
    max_quality_drop: float | None = Field(
        None, ge=0, description="Largest allowed worsening of promotion.metric on a labelled batch"
    )
    column_methods: dict[str, str] = Field(
        default_factory=dict, description="Evidently stattest per column, e.g. {distance: psi}"
    )
    column_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Drift threshold per column"
    )
    retrain_window_days: int | None = Field(
        None, ge=1, description="A drift-triggered retrain trains on the last N days before the batch's end"
    )
    cooldown_days: float = Field(
        28, ge=0, description="After a drift-triggered retrain, drift within this many days triggers no other"
    )
    seed: int = 0


class PipelineSpec(Strict):
    name: Name
    description: str = ""
    data: Data
    quality: Quality | None = None
    model: Model
    registry: Registry
    promotion: Promotion
    monitoring: Monitoring = Monitoring()

    @property
    def direction(self) -> Direction:
        return self.promotion.direction or METRICS[self.promotion.metric][1]


class LoadedSpec(BaseModel):
    """A checked spec with where it came from: relative paths resolve against `root`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: PipelineSpec
    path: Path
    root: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.spec.model_dump_json().encode()).hexdigest()

    def with_window(self, start: str | None, end: str | None) -> LoadedSpec:
        """The same spec with data.window replaced (a drift-triggered retrain, a replay period)."""
        if start is None and end is None:
            return self
        window = Window.model_validate({"start": start, "end": end})
        data = self.spec.data.model_copy(update={"window": window})
        return self.model_copy(update={"spec": self.spec.model_copy(update={"data": data})})

    def with_params(self, params: dict[str, object] | None) -> LoadedSpec:
        """The same spec with some model.params replaced (try a challenger without editing the file); the
        overridden spec is what gets hashed and recorded."""
        if not params:
            return self
        raw = self.spec.model_dump(mode="json")
        raw["model"]["params"] = {**raw["model"]["params"], **params}
        try:
            spec = PipelineSpec.model_validate(raw)
        except ValidationError as exc:
            raise SpecError([_problem_from_pydantic(str(self.path), e) for e in exc.errors()]) from None
        return self.model_copy(update={"spec": spec})

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    def data_files(self) -> list[Path]:
        """The files a csv/parquet source names (a glob may match several), sorted for a stable order."""
        import glob

        pattern = str(self.resolve(self.spec.data.source.path or ""))
        return sorted(Path(p) for p in glob.glob(pattern)) if glob.has_magic(pattern) else [Path(pattern)]


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice is an error instead of the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}': it is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def project_root(spec_path: Path) -> Path:
    """The nearest folder at or above the spec holding prefect.yaml or pyproject.toml, else the spec's folder."""
    start = spec_path.resolve().parent
    for folder in (start, *start.parents):
        if (folder / "prefect.yaml").exists() or (folder / "pyproject.toml").exists():
            return folder
    return start


def load_spec(path: str | Path) -> LoadedSpec:
    """Parse and check one spec file; raise SpecError with every problem found."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        hint = "check the path" if not path.exists() else "give a .yaml file, not a folder"
        raise SpecError([Problem(shown, "", "no such spec file", hint)])
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([Problem(shown, where, f"not valid YAML ({what})", "fix the YAML syntax")]) from None
    except UnicodeDecodeError:
        raise SpecError(
            [Problem(shown, "", "not a UTF-8 text file", "save the spec as UTF-8 YAML")]
        ) from None
    if not isinstance(raw, dict):
        raise SpecError(
            [Problem(shown, "", "expected a mapping of fields at the top level", "see `mlops schema`")]
        )
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError([_problem_from_pydantic(shown, e) for e in exc.errors()]) from None
    problems = semantic_problems(shown, spec)
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec=spec, path=path, root=project_root(path))


def semantic_problems(file: str, spec: PipelineSpec) -> list[Problem]:
    """Cross-field rules the schema alone cannot express."""
    out: list[Problem] = []
    task = spec.model.task
    src = spec.data.source
    if src.kind == "builtin":
        if src.name not in BUILTIN_DATASETS:
            out.append(
                _choice(file, "data.source.name", src.name, list(BUILTIN_DATASETS), "a bundled dataset")
            )
    elif not src.path:
        out.append(
            Problem(file, "data.source.path", f"a {src.kind} source needs a path", "add `path: data/x.csv`")
        )
    if spec.model.estimator not in ESTIMATORS:
        out.append(
            _choice(file, "model.estimator", spec.model.estimator, list(ESTIMATORS), "an allowed estimator")
        )
    elif ESTIMATORS[spec.model.estimator] != task:
        out.append(
            _choice(
                file,
                "model.estimator",
                spec.model.estimator,
                estimators_for(task),
                f"a {task} estimator",
                close=False,
            )
        )
    valid_metrics = metrics_for(task)
    if spec.promotion.metric not in valid_metrics:
        out.append(
            _choice(file, "promotion.metric", spec.promotion.metric, valid_metrics, f"a metric of {task}")
        )
    for i, guard in enumerate(spec.promotion.guardrails):
        if guard.metric not in valid_metrics:
            out.append(
                _choice(
                    file,
                    f"promotion.guardrails[{i}].metric",
                    guard.metric,
                    valid_metrics,
                    f"a metric of {task}",
                )
            )
        if guard.max_drop is None and guard.min is None and guard.max is None:
            out.append(Problem(file, f"promotion.guardrails[{i}]", "a guardrail needs max_drop, min or max"))
    for i, sg in enumerate(spec.promotion.slice_guardrails):
        if sg.metric is not None and sg.metric not in valid_metrics:
            out.append(
                _choice(
                    file,
                    f"promotion.slice_guardrails[{i}].metric",
                    sg.metric,
                    valid_metrics,
                    f"a metric of {task}",
                )
            )
    if spec.data.split.strategy == "time" and not spec.data.time_column:
        out.append(
            Problem(
                file, "data.split.strategy", "a time split needs data.time_column", "add `time_column: <col>`"
            )
        )
    if spec.data.split.strategy == "stratified" and task == "regression":
        out.append(
            Problem(
                file, "data.split.strategy", "stratified splits are for classification", "use random or time"
            )
        )
    if spec.data.window and not spec.data.time_column:
        out.append(
            Problem(file, "data.window", "a window needs data.time_column", "add `time_column: <col>`")
        )
    declared = (spec.data.features.numeric or []) + (spec.data.features.categorical or [])
    if spec.data.target in declared:
        out.append(
            Problem(file, "data.features", f"the target '{spec.data.target}' is also listed as a feature")
        )
    for kind in ("column_methods", "column_thresholds"):
        for col in getattr(spec.monitoring, kind):
            if declared and col not in declared:
                out.append(
                    _choice(file, f"monitoring.{kind}.{col}", col, sorted(declared), "a declared feature")
                )
    return out


def did_you_mean(value: object, choices: typing.Iterable[str]) -> str | None:
    match = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def _choice(
    file: str, path: str, value: object, choices: list[str], expected: str, close: bool = True
) -> Problem:
    guess = did_you_mean(value, choices) if close else None
    hint = f"did you mean '{guess}'?" if guess else "expected one of: " + ", ".join(choices)
    return Problem(file, path, f"'{value}' is not {expected}", hint)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model that holds the last element of `loc` (for did-you-mean on unknown fields)."""
    model: type[BaseModel] | None = PipelineSpec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field else None
        if model is None:
            return []
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


def _problem_from_pydantic(file: str, err: Any) -> Problem:
    loc = tuple(err["loc"])
    path = _dotted(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(loc)
        guess = did_you_mean(loc[-1], valid)
        hint = f"did you mean '{guess}'?" if guess else "valid fields here: " + ", ".join(valid)
        return Problem(file, path, "unknown field", hint)
    if kind == "missing":
        return Problem(file, path, "required field is missing", "see `mlops schema` for what it takes")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        guess = did_you_mean(err.get("input"), options)
        hint = f"did you mean '{guess}'?" if guess else f"expected {err['ctx']['expected']}"
        return Problem(file, path, f"'{err.get('input')}' is not allowed", hint)
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    return Problem(file, path, f"{err['msg'].lower()} (got {shown})")
