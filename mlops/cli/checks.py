"""`mlops validate` and the pre-flight of `mlops run`: the schema, then everything a spec points at (data, suite,
estimator, params), with every problem reported at once; each part that passed is remembered by the inputs it reads
(mlops/cli/check_memo.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlops.errors import MlopsError, Problem, SpecError
from mlops.spec import LoadedSpec, load_spec
from mlops.text import did_you_mean

HEAD_ROWS = 200


def spec_files(paths: list[Path]) -> list[Path]:
    """Expand folders into the *.yaml / *.yml files they hold (sorted); keep files as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        else:
            out.append(p)
    return out


def check_spec(
    path: Path, params: dict[str, object] | None = None
) -> tuple[LoadedSpec | None, list[Problem]]:
    """Every problem at once: the schema's and the cross-field rules', and the data, the suite and the params of
    the spec as far as it could be read (an unknown field or a disallowed estimator hides nothing behind it)."""
    try:
        loaded = load_spec(path).with_params(params)
    except SpecError as exc:
        partial = getattr(exc, "partial", None)
        if partial is None:
            return None, exc.problems
        found = [p.render() for p in exc.problems]
        # a source problem is said once, not again by the attempt to read it
        bad_source = any(p.path.startswith("data.source") for p in exc.problems)
        more = [p for p in _references(partial) if not (bad_source and p.path.startswith("data.source"))]
        return partial, exc.problems + [p for p in more if p.render() not in found]
    return loaded, _references(loaded) + _shared_with_siblings(loaded)


def _references(loaded: LoadedSpec) -> list[Problem]:
    """The data, the suite, the stattests, the schedules and the params; each part that passed before with the same inputs is
    not checked again (mlops/cli/check_memo.py)."""
    from mlops.cli.check_memo import data_key, part_key, remembered

    spec, file = loaded.spec, str(loaded.path)
    source = data_key(loaded)
    # the spec fields the data checks read (columns_present, _target_problems, time_problems): keep in step
    read = [
        spec.data.model_dump(mode="json"),
        spec.model.task,
        [g.column for g in spec.promotion.slice_guardrails],
    ]
    problems, columns = remembered(
        None if source is None else part_key("data", file, source, read), lambda: _data_problems(loaded)
    )
    if spec.quality:
        suite = loaded.resolve(spec.quality.suite)
        problems += remembered(
            _suite_key(file, suite, columns), lambda: (_suite_problems(file, suite, columns), 1)
        )[0]
    from mlops.cli.stattest_check import stattest_problems

    monitoring = [spec.monitoring.column_methods, spec.monitoring.column_thresholds]
    problems += remembered(
        part_key("stattests", file, monitoring), lambda: (stattest_problems(file, spec), 1)
    )[0]
    from mlops.cli.prefect_yaml import schedule_problems

    problems += remembered(
        part_key("schedule", file, spec.schedule.model_dump(mode="json")),
        lambda: (schedule_problems(file, spec), 1),
    )[0]
    params = [spec.model.estimator, spec.model.params, spec.model.candidates,
              spec.model.search.model_dump() if spec.model.search else None]  # fmt: skip
    return problems + remembered(part_key("params", file, params), lambda: (_param_problems(loaded), 1))[0]


def _data_problems(loaded: LoadedSpec) -> tuple[list[Problem], list[str] | None]:
    """The head of the data: readable, not empty, the declared columns present, the target and time column usable;
    and the data's columns (None when it could not be read)."""
    from tasks.data import read_frame

    spec, file = loaded.spec, str(loaded.path)
    problems: list[Problem] = []
    columns: list[str] | None = None
    try:
        head = read_frame(loaded, nrows=HEAD_ROWS)
        columns = [str(c) for c in head.columns]
    except SpecError as exc:
        problems += exc.problems
    # a source that did not answer (ServiceDown) is marked: a run then exits 1, not 2
    except MlopsError as exc:
        from mlops.reach import ServiceDown

        down = {"service": "down"} if isinstance(exc, ServiceDown) else {}
        problems.append(Problem(file, "data.source", str(exc), extra=down))
    if columns is not None:
        if not columns or head.empty:
            problems.append(
                Problem(file, "data.source", "the data has no rows", "point the source at a file with data")
            )
        problems += columns_present(file, spec, columns)
        problems += _target_problems(file, spec, head)
        from mlops.cli.time_column import time_problems

        problems += time_problems(file, spec, head)
    return problems, columns


def _suite_key(file: str, suite: Path, columns: list[str] | None) -> str | None:
    from mlops.cli.check_memo import part_key

    try:
        content = suite.read_bytes()
    except OSError:
        return None  # missing: check_suite says so
    return part_key("suite", file, str(suite), hashlib.sha256(content).hexdigest(), columns)


def _suite_problems(file: str, suite: Path, columns: list[str] | None) -> list[Problem]:
    from tasks.quality import check_suite

    return check_suite(file, "quality.suite", suite, columns)


def _param_problems(loaded: LoadedSpec) -> list[Problem]:
    from tasks.train import param_problems, search_problems

    spec, file = loaded.spec, str(loaded.path)
    problems = param_problems(file, spec.model.estimator, dict(spec.model.params))
    for i, candidate in enumerate(spec.model.candidates):
        for p in param_problems(file, spec.model.estimator, {**spec.model.params, **candidate}):
            problems.append(
                Problem(p.file, p.path.replace("model.params", f"model.candidates[{i}]"), p.message, p.hint)
            )
    if spec.model.search:
        from tasks.search import INSTALL_HINT, installed

        if not installed():
            problems.append(
                Problem(file, "model.search", INSTALL_HINT.split(": ", 1)[0], INSTALL_HINT.split(": ", 1)[1])
            )
        problems += search_problems(
            file, spec.model.estimator, dict(spec.model.params), spec.model.search.space
        )
    return problems


def _target_problems(file: str, spec, head) -> list[Problem]:  # type: ignore[no-untyped-def]
    """A classification target that holds measurements (fractions): say so before scikit-learn does."""
    from tasks.data.checks import continuous_target, continuous_target_message

    target = spec.data.target
    if spec.model.task != "classification" or target not in head.columns:
        return []
    why = continuous_target(head[target].dropna())
    if why is None:
        return []
    return [Problem(file, "data.target", continuous_target_message(target, why))]


def columns_present(file: str, spec, columns: list[str]) -> list[Problem]:  # type: ignore[no-untyped-def]
    data = spec.data
    wanted = [("data.target", data.target)]
    if data.time_column:
        wanted.append(("data.time_column", data.time_column))
    if data.id_column:
        wanted.append(("data.id_column", data.id_column))
    for kind in ("numeric", "categorical"):
        for i, col in enumerate(getattr(data.features, kind) or []):
            wanted.append((f"data.features.{kind}[{i}]", col))
    for i, guard in enumerate(spec.promotion.slice_guardrails):
        wanted.append((f"promotion.slice_guardrails[{i}].column", guard.column))
    out = []
    for field_path, col in wanted:
        if col not in columns:
            guess = did_you_mean(col, columns)
            hint = f"did you mean '{guess}'?" if guess else "the data has: " + ", ".join(columns[:20])
            out.append(Problem(file, field_path, f"column '{col}' is not in the data", hint))
    return out


def check_specs(files: list[Path]) -> list[tuple[Path, list[Problem]]]:
    """`check_spec` for each file, then what no single file shows: two specs declaring the same
    registry.model_name (a model belongs to one pipeline)."""
    from mlops.ownership import owner_of, shared_model_names

    checked = [(f, *check_spec(f)) for f in files]
    owners = {
        str(f): (loaded.spec.registry.model_name, owner_of(loaded)) for f, loaded, _ in checked if loaded
    }
    shared = shared_model_names(owners)
    out = []
    for f, _, problems in checked:
        seen = {p.render() for p in problems}  # a sibling in the same folder is already reported
        out.append((f, [*problems, *(p for p in shared.get(str(f), []) if p.render() not in seen)]))
    return out


def _shared_with_siblings(loaded: LoadedSpec) -> list[Problem]:
    """Other specs in the spec's folder that declare the same registry.model_name (schema read only)."""
    from mlops.ownership import owner_of, shared_model_names

    me = loaded.path
    owners = {str(me): (loaded.spec.registry.model_name, owner_of(loaded))}
    for other in spec_files([me.parent]):
        if other.resolve() == me.resolve():
            continue
        try:
            sibling = load_spec(other)
        except SpecError:
            continue  # its own problems are reported when it is checked
        if sibling.spec.registry.model_name == loaded.spec.registry.model_name:
            owners[str(other)] = (sibling.spec.registry.model_name, owner_of(sibling))
    return shared_model_names(owners).get(str(me), [])
