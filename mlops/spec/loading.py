"""Reading a spec file: YAML (a key given twice is an error), then the schema, then the cross-field rules.

`load_spec` returns a `LoadedSpec` or raises `SpecError` listing every problem at once, each with the file,
the field path, what was expected and, for a misspelling, the closest valid name.
"""

from __future__ import annotations

import hashlib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlops import text
from mlops.catalog import (
    BOOSTING,
    BUILTIN_DATASETS,
    NATIVE_CATEGORICAL,
    estimators,
    estimators_for,
    metrics_for,
)
from mlops.errors import Problem, SpecError
from mlops.spec.allowlist import unknown_estimator
from mlops.spec.partial import without_bad_fields
from mlops.spec.sanity import feature_and_window_problems, too_deep
from mlops.spec.schema import PipelineSpec, Source, Window
from mlops.text import did_you_mean, yaml_error
from mlops.timeutil import as_iso


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
        window = Window.model_validate({"start": as_iso(start), "end": as_iso(end)})
        data = self.spec.data.model_copy(update={"window": window})
        return self.model_copy(update={"spec": self.spec.model_copy(update={"data": data})})

    def with_params(self, params: dict[str, object] | None) -> LoadedSpec:
        """The same spec with some model.params replaced (try a challenger without editing the file); the
        overridden spec is what gets hashed and recorded."""
        if not params:
            return self
        raw = self.spec.model_dump(
            mode="json", exclude_unset=True
        )  # what the file said: defaults stay defaults
        raw["model"]["params"] = {**raw["model"].get("params", {}), **params}
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
        folder = Path(pattern)
        if self.spec.data.source.kind == "parquet" and folder.is_dir():  # a dataset: its files, at any depth
            return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        return sorted(Path(p) for p in glob.glob(pattern)) if glob.has_magic(pattern) else [Path(pattern)]


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice is an error instead of the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, list | dict | set):  # `? [a, b]`: unhashable, and never a field name
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a plain name, not a {type(key).__name__}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}': it is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> object:  # type: ignore[override]
        """A date that looks right but does not exist (2013-02-30) stays text, for the schema to refuse at its field
        path like any other bad date (PyYAML would raise a bare ValueError)."""
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[no-untyped-call]
        except ValueError:
            return str(node.value)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_yaml_timestamp)


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
        where, what = yaml_error(exc)
        raise SpecError([Problem(shown, where, f"not valid YAML ({what})", "fix the YAML syntax")]) from None
    except UnicodeDecodeError:
        raise SpecError(
            [Problem(shown, "", "not a UTF-8 text file", "save the spec as UTF-8 YAML")]
        ) from None
    except RecursionError:
        raise SpecError([too_deep(shown)]) from None
    if not isinstance(raw, dict):
        raise SpecError(
            [Problem(shown, "", "expected a mapping of fields at the top level", "see `mlops schema`")]
        )
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem_from_pydantic(shown, e) for e in exc.errors()]
        partial = without_bad_fields(raw, exc.errors())
        if partial is not None:  # what the refused fields hid: checked too, reported at once
            # a default now stands where a value was refused: no second word on it, or on what holds it
            refused = [p.path for p in problems if p.message != "unknown field"]
            problems += [
                p
                for p in semantic_problems(shown, partial)
                if p not in problems and not any(_related(p.path, r) for r in refused)
            ]
        raise PartialSpecError(problems, _loaded(partial, path)) from None
    except RecursionError:
        raise SpecError([too_deep(shown)]) from None
    problems = semantic_problems(shown, spec)
    if problems:
        raise PartialSpecError(problems, _loaded(spec, path))
    return LoadedSpec(spec=spec, path=path, root=project_root(path))


class PartialSpecError(SpecError):
    """A spec with problems, and the spec as far as it could be read (`partial`, None when not at all): `mlops
    validate` checks the data, suite and params of `partial` too, so one problem does not hide the others."""

    def __init__(self, problems: list[Problem], partial: LoadedSpec | None):
        self.partial = partial
        super().__init__(problems)


def _related(path: str, refused: str) -> bool:
    """Whether a field path is the refused one, inside it, or holds it."""
    inner, outer = sorted((path, refused), key=len, reverse=True)
    return inner == outer or inner.startswith((f"{outer}.", f"{outer}["))


def _loaded(spec: PipelineSpec | None, path: Path) -> LoadedSpec | None:
    return None if spec is None else LoadedSpec(spec=spec, path=path, root=project_root(path))


def sql_source_problems(file: str, src: Source, where: str = "data.source") -> list[Problem]:
    """A sql source (the data's, or the labels' at `where`) names its URL's variable (or writes a DuckDB URL) and
    exactly one of table or query (a single SELECT)."""
    from mlops.sql_policy import query_problem, table_problem
    from mlops.write_targets import engine_of

    out: list[Problem] = []
    if src.url is not None and src.url_env:
        out.append(Problem(file, f"{where}.url", "a sql source takes url: or url_env:, not both",
                           "keep url_env: (the URL in that environment variable), or, for DuckDB, url: alone"))  # fmt: skip
    elif src.url is not None and engine_of(src.url) != "duckdb":
        out.append(Problem(file, f"{where}.url", "a URL written in the spec is allowed for DuckDB only (duckdb:///...): "
                           "any other database URL holds a user and password, and a spec is committed, logged and "
                           "shown",
                           "put the URL in an environment variable and name it instead: `url_env: FLIGHTS_DB_URL` "
                           "with FLIGHTS_DB_URL=postgresql://USER:PASSWORD@HOST:5432/DB"))  # fmt: skip
    elif src.url is None and not src.url_env:
        out.append(Problem(file, f"{where}.url_env", "a sql source needs url_env (or, for DuckDB, url:)",
                           "add `url_env: FLIGHTS_DB_URL` and put the database URL in that environment variable "
                           "(never in the spec); a DuckDB URL may be written as `url: duckdb:///:memory:`"))  # fmt: skip
    for field in ("path", "name"):
        if getattr(src, field) is not None:
            out.append(Problem(file, f"{where}.{field}", f"{field} is not used by a sql source",
                               "remove it; name the data with table: or query:"))  # fmt: skip
    if bool(src.table) == bool(src.query):
        out.append(Problem(file, where, "a sql source needs either table: or query: (one of them)",
                           "e.g. `table: flights`, or `query: SELECT ... FROM flights JOIN weather USING (...)`"))  # fmt: skip
    elif src.table and (why := table_problem(src.table)):
        out.append(Problem(file, f"{where}.table", f"'{src.table}' is not a table name", why))
    elif src.query and (why := query_problem(src.query)):
        out.append(
            Problem(file, f"{where}.query", f"{why}", "give one SELECT statement (WITH ... SELECT allowed)")
        )
    return out


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
    elif src.kind == "sql":
        out += sql_source_problems(file, src)
    elif not src.path:
        out.append(
            Problem(file, "data.source.path", f"a {src.kind} source needs a path", "add `path: data/x.csv`")
        )
    for where, source in (
        ("data.source", src),
        ("labels.source", spec.labels.source if spec.labels else None),
    ):
        if source is None:
            continue
        if source.kind == "sql" and where == "labels.source":  # the data's was checked above
            out += sql_source_problems(file, source, where)
        if source.kind != "sql":
            for field in ("url_env", "url", "table", "query"):
                if getattr(source, field) is not None:
                    out.append(Problem(file, f"{where}.{field}", f"{field} is for a sql source, not {source.kind}",
                                       "remove it, or set kind: sql"))  # fmt: skip
    allowed = estimators()
    if spec.model.estimator not in allowed:
        out.append(unknown_estimator(file, spec.model.estimator, task))
    elif allowed[spec.model.estimator] != task:
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
    out += _estimator_options(file, spec.model)
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
    return out + feature_and_window_problems(file, spec)


def _estimator_options(file: str, model: Any) -> list[Problem]:
    """Options only some estimators have: native categorical handling, early stopping on a validation part."""
    out = []
    short = model.estimator.rsplit(".", 1)[-1]
    if model.preprocessing.categorical.encoding == "native" and model.estimator not in NATIVE_CATEGORICAL:
        out.append(
            Problem(
                file,
                "model.preprocessing.categorical.encoding",
                f"'native' needs an estimator that splits on categories itself, and {short} does not",
                "use onehot or ordinal, or one of: " + ", ".join(sorted(NATIVE_CATEGORICAL)),
            )
        )
    if model.early_stopping_rounds is not None and model.estimator not in BOOSTING:
        out.append(
            Problem(
                file,
                "model.early_stopping_rounds",
                f"{short} does not stop early on a validation part here",
                "remove it (HistGradientBoosting has its own params: early_stopping, validation_fraction, "
                "n_iter_no_change), or use one of: " + ", ".join(sorted(BOOSTING)),
            )
        )
    return out


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
    if kind == "conflict":  # fields that contradict each other: the message names them and the fix
        return Problem(file, path, err["msg"])
    got = err.get("input")
    given = text.shown(got) if not isinstance(got, dict | list) else f"a {type(got).__name__}"
    return Problem(file, path, f"{err['msg'].lower()} (got {given})")
