"""`mlops init DATA --target y`: from a data file to a pipeline that `mlops validate` accepts and `mlops run
retrain` trains at once. It profiles the data (tasks/profile.py), lets the pure decisions choose the task, split,
metric and model and write the suite (mlops/init_policy.py), prints each choice with its reason, and writes
deployments/<name>.yaml and expectations/<name>.json. It never overwrites a file, and leaves nothing behind when
it fails (a file it created is removed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli.render import out
from mlops.cli.runtime import fail, spec_problems


def init(
    data: Annotated[
        Path | None,
        typer.Argument(
            help="A CSV or Parquet file with the target and the features (--suite-only: the spec's data)"
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="The column to predict")] = None,
    time_column: Annotated[
        str | None, typer.Option(help="A column of dates or times: enables a time split and batch windows")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The pipeline's name (default: from the file name); names the files")
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="A column to use as a feature whatever init would decide (repeatable)"),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="A column to leave out of the features (repeatable)")
    ] = None,
    suite_only: Annotated[
        bool,
        typer.Option(
            "--suite-only",
            help="Rewrite only the suite of the spec deployments/NAME.yaml from its current columns and the data; "
            "the spec is left alone",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --suite-only: replace the existing suite")
    ] = False,
) -> None:
    """Profile a data file and write a pipeline spec (deployments/NAME.yaml) and its quality suite
    (expectations/NAME.json), printing what it chose and why. Refuses to overwrite either file. With --suite-only,
    rewrite only the suite of an existing spec from the spec's columns (after features were edited by hand).

    Exits 0 when the files were written, 2 when the data, an option or an existing file is in the way.
    """
    if suite_only:
        given = [o for o, v in (("--target", target), ("--time-column", time_column), ("--keep", keep),
                                ("--drop", drop)) if v]  # fmt: skip
        if given:
            fail(
                2,
                f"--suite-only takes the target, time column and features from the spec; leave out "
                f"{', '.join(given)} (edit the spec instead).",
            )
        _suite_only(data, name, force)
        return
    if force:
        fail(2, "--force only goes with --suite-only; `mlops init` never overwrites a spec.")
    if data is None or target is None:
        fail(2, "give the data file and the column to predict: mlops init DATA --target COLUMN.")
    from mlops.init_policy import (
        HOLDOUT_FRACTION,
        MOSTLY,
        SEED,
        InitRefused,
        plan,
        spec_document,
        spec_name,
        suite_document,
    )
    from mlops.spec.loading import project_root

    # the project root: the nearest folder at or above this one holding prefect.yaml or pyproject.toml
    root = project_root(Path.cwd() / "_")
    pipeline = name if name is not None else spec_name(data.stem)
    if not pipeline or spec_name(pipeline) != pipeline:
        fail(
            2,
            f"'{pipeline}' cannot name a pipeline: use lowercase letters, digits, '-' and '_', starting with a "
            f"letter or digit (e.g. --name {spec_name(pipeline) or 'my-pipeline'}).",
        )
    spec_file = root / "deployments" / f"{pipeline}.yaml"
    suite_file = root / "expectations" / f"{pipeline}.json"
    for existing in (spec_file, suite_file):
        if existing.exists():
            fail(
                2,
                f"{existing} already exists; `mlops init` never overwrites a file. Give another --name, or move "
                "the file away first.",
            )
    if not data.is_file():
        fail(2, f"{data}: no such data file; give a CSV or Parquet file.")
    from mlops.catalog import installed
    from mlops.errors import MlopsError

    try:
        from tasks.profile import profile, read, time_holdout_share

        frame = read(data)
        columns = profile(frame, time_column)
        held = None
        if time_column is not None and target in frame.columns and _is_time(columns, time_column):
            held = time_holdout_share(frame, target, time_column, HOLDOUT_FRACTION)
        kept, dropped = tuple(keep or ()), tuple(drop or ())
        boosting = installed(
            "lightgbm.LGBMClassifier"
        )  # the boost extra: init proposes LightGBM, and says so
        choices = plan(
            columns, target, time_column, held, keep=kept, drop=dropped, boosting=boosting
        )  # refuses bad options first
        from tasks.data.leakage import alone_scores

        # how well each chosen feature alone predicts the target: a near-perfect one is a probable leak
        measured = [*choices.numeric, *choices.categorical]
        alone = alone_scores(frame, target, choices.task.value, measured, seed=SEED)
        choices = plan(columns, target, time_column, held, alone, kept, dropped, boosting)
    except InitRefused as exc:
        fail(2, f"{data}: {exc}")
    except MlopsError as exc:  # unreadable, empty, duplicate columns, truncated
        fail(2, str(exc))
    loader_root = project_root(spec_file)  # the folder `mlops validate` resolves the spec's paths against
    by_name = {c.name: c for c in columns}
    kind = "parquet" if data.suffix.lower() in (".parquet", ".pq") else "csv"
    spec = spec_document(
        pipeline, _relative(data, loader_root), kind, _relative(suite_file, loader_root), by_name[target],
        time_column, choices,
    )  # fmt: skip
    suite = suite_document(pipeline, columns, target, time_column, choices)

    rows = columns[0].rows
    out.print(f"Profiled {data}: {rows:,} rows, {len(columns)} columns", markup=False)
    for label, choice in (("Task", choices.task), ("Split", choices.split), ("Metric", choices.metric),
                          ("Model", choices.estimator)):  # fmt: skip
        out.print(f"{label}: {choice.value}: {choice.why}", markup=False)
    for left in choices.left_out:
        out.print(f"Left out: '{left.value}': {left.why}", markup=False)
    for held_on in choices.kept:
        out.print(f"Kept: '{held_on.value}': {held_on.why}", markup=False)
    for warning in choices.warnings:
        out.print(f"Warning: {warning}", markup=False)
    _write_both(spec_file, _yaml(spec, choices), suite_file, json.dumps(suite, indent=2) + "\n")
    _check_written(spec_file, suite_file)
    from mlops.settings import home_is_set

    if not home_is_set():  # the project's store: commands run anywhere under root find it
        from mlops.project import STORE

        (root / STORE).mkdir(exist_ok=True)
    out.print(
        f"Wrote {spec_file} and {suite_file} ({len(suite['expectations'])} expectations; each row-wise one "
        f"tolerates up to {1 - MOSTLY:.0%} bad rows, mostly: {MOSTLY}: predict lists them in its rejects file, "
        "a batch with more stops at the gate).\n"
        f"Next: mlops validate {_shown(spec_file)} && mlops run retrain {_shown(spec_file)}\n"
        f"The first run's model becomes champion. If it later proves leaky or wrong, a better, honest model is "
        f"rejected as not improved against its inflated score: put that one in charge with `mlops promote "
        f"{_shown(spec_file)} --version N --reason TEXT` (`mlops history {_shown(spec_file)}` lists the versions).",
        markup=False,
    )


def _suite_only(data: Path | None, name: str | None, force: bool) -> None:
    """Rewrite the suite of deployments/NAME.yaml from the spec's own target, time column and features (declared,
    else inferred as the retrain infers them) and the data (DATA, else the spec's source); the spec is untouched."""
    from mlops.errors import MlopsError, SpecError
    from mlops.init_policy import MOSTLY, spec_name, suite_for
    from mlops.spec import load_spec
    from mlops.spec.loading import project_root

    pipeline = name if name is not None else (spec_name(data.stem) if data is not None else "")
    if not pipeline:
        fail(
            2, "--suite-only needs --name NAME: the pipeline whose suite to rewrite (deployments/NAME.yaml)."
        )
    spec_file = project_root(Path.cwd() / "_") / "deployments" / f"{pipeline}.yaml"
    if not spec_file.is_file():
        fail(2, f"{spec_file}: no such spec; write one first with `mlops init DATA --target COLUMN`.")
    try:
        loaded = load_spec(spec_file)
    except SpecError as exc:
        spec_problems(exc.problems)
    spec = loaded.spec
    if spec.quality is None:
        fail(
            2,
            f"{spec_file} declares no quality suite; add `quality: {{suite: expectations/{pipeline}.json}}` to it "
            "first, then run this again.",
        )
    suite_file = loaded.resolve(spec.quality.suite)
    if suite_file.exists() and not force:
        fail(
            2,
            f"{suite_file} already exists; `mlops init --suite-only` replaces it only with --force (the old suite's "
            "hand edits are lost: keep a copy, or use git).",
        )
    if data is not None and not data.is_file():
        what = "a folder, not a data file" if data.is_dir() else "no such data file"
        fail(2, f"{data}: {what}; give a CSV or Parquet file, or leave it out to read the spec's data.")
    try:
        from tasks.data import read_frame
        from tasks.data.splits import resolve_features
        from tasks.profile import profile, read

        frame = read(data) if data is not None else read_frame(loaded)
        target, time_column = spec.data.target, spec.data.time_column
        declared = [*(spec.data.features.numeric or []), *(spec.data.features.categorical or [])]
        absent = [
            c for c in [target, *([time_column] if time_column else []), *declared] if c not in frame.columns
        ]
        if absent:
            fail(
                2,
                f"the data has no column {', '.join(repr(c) for c in absent)}, which {spec_file.name} reads; give the "
                "data the spec trains on, or fix the spec.",
            )
        if frame.empty:  # a header alone: every bound, set and null share of the suite would be made up
            shown = str(data) if data is not None else f"the data of {spec_file.name}"
            fail(
                2,
                f"{shown} has no rows; a suite is written from the rows it will check (their ranges, sets and null "
                "shares): give data with rows.",
            )
        features = resolve_features(frame, spec.data)
        columns = profile(frame, time_column)
    except MlopsError as exc:
        fail(2, str(exc))
    suite = suite_for(
        spec.name, columns, target, time_column, spec.model.task, features.numeric, features.categorical
    )
    before = suite_file.read_text(encoding="utf-8") if suite_file.exists() else None
    dropped = _checked_columns(before) - {target, *([time_column] if time_column else []), *features.all}
    text = json.dumps(suite, indent=2) + "\n"
    try:
        suite_file.parent.mkdir(parents=True, exist_ok=True)
        if before is None:
            _create(suite_file, text)
        else:
            tmp = suite_file.with_name(f".{suite_file.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(suite_file)  # whole or not at all
    except OSError as exc:
        fail(2, f"cannot write {suite_file}: {exc.strerror or exc}; the old suite is unchanged.")
    out.print(
        f"Wrote {suite_file} ({len(suite['expectations'])} expectations, each row-wise one with mostly: {MOSTLY}) "
        f"from {spec_file.name}'s columns: target '{target}'"
        + (f", time column '{time_column}'" if time_column else "")
        + f", numeric {features.numeric}, categorical {features.categorical}; the spec was left alone.",
        markup=False,
    )
    if dropped:
        out.print(f"No longer checked: {', '.join(repr(c) for c in sorted(dropped))}.", markup=False)


def _checked_columns(text: str | None) -> set[str]:
    """The columns a suite's JSON names; empty when it cannot be read."""
    from mlops.cli.spec_warnings import checked_columns

    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return set()
    return set(checked_columns(raw)) if isinstance(raw, dict) else set()


def _is_time(columns: list[Any], name: str) -> bool:
    return any(c.name == name and c.kind == "time" for c in columns)


def _relative(path: Path, root: Path) -> str:
    """`path` relative to the project root when it is inside it (the spec then moves with the project)."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return str(resolved)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _yaml(spec: dict[str, Any], choices: Any) -> str:
    import yaml

    header = [
        f"# Written by `mlops init`. {choices.task.value}: {choices.task.why}.",
        f"# split {choices.split.value}: {choices.split.why}.",
        f"# metric {choices.metric.value}: {choices.metric.why}.",
        f"# model {choices.estimator.value}: {choices.estimator.why}.",
        *(f"# left out '{c.value}': {c.why}." for c in choices.left_out),
        *(f"# kept '{c.value}': {c.why}." for c in choices.kept),
        *(f"# warning: {w}" for w in choices.warnings),
        "# Edit freely; `mlops schema` lists every field, `mlops validate` checks it.",
    ]
    header = [" ".join(line.split()) for line in header]  # a column name cannot break out of the comment
    body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True, width=110)
    return "\n".join(header) + "\n" + body


def _write_both(spec_file: Path, spec_text: str, suite_file: Path, suite_text: str) -> None:
    """Both files or neither: each is created exclusively (a file that appeared meanwhile is not overwritten),
    and the first is removed again when the second cannot be written."""
    written: list[Path] = []
    try:
        for path, text in ((suite_file, suite_text), (spec_file, spec_text)):
            path.parent.mkdir(parents=True, exist_ok=True)
            _create(path, text)
            written.append(path)
    except FileExistsError as exc:
        _remove(written)
        folders = (spec_file.parent, suite_file.parent)
        if Path(exc.filename or "") in folders:  # a file where the folder must be: no --name would help
            fail(
                2,
                f"{exc.filename} is a file where `mlops init` needs a folder; move it away and run it again.",
            )
        fail(2, f"{exc.filename} already exists; `mlops init` never overwrites a file. Give another --name.")
    except OSError as exc:
        _remove(written)
        fail(
            2, f"cannot write {exc.filename or spec_file.parent}: {exc.strerror or exc}; nothing was written."
        )


def _create(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _check_written(spec_file: Path, suite_file: Path) -> None:
    """What `mlops validate` checks, on what was just written; on a problem (another spec in the folder naming
    the same model, ...) both files are removed and the problems shown."""
    from mlops.cli.checks import check_spec

    _, problems = check_spec(spec_file)
    if problems:
        _remove([spec_file, suite_file])
        spec_problems(problems)
