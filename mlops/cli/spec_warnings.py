"""What `mlops validate` warns about: a spec that is valid but will stop runs it was not meant to stop (exit 0)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops.cache import keep_newest, read_quietly

LEAK_SAMPLE_ROWS = (
    5_000  # the head of the data: cheap, and enough to see a column that predicts the target alone
)
LEAK_NOTES = "cache/leak_warnings.json"
COLUMN_SET_TYPES = ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list")


def spec_warnings(path: Path) -> list[str]:
    """Warnings for one valid spec; [] when it cannot be read (its problems are reported elsewhere)."""
    from mlops.errors import SpecError
    from mlops.spec import load_spec

    try:
        loaded = load_spec(path)
    except SpecError:
        return []
    spec = loaded.spec
    if spec.quality is None:
        return []
    import json  # the suite's own JSON: no GX (nor pandas) for a warning on the cached, fast path

    try:
        raw = json.loads(loaded.resolve(spec.quality.suite).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(raw, dict):
        return []
    return [
        *target_in_column_set(raw, spec.data.target, spec.quality.suite),
        *suite_beyond_spec(raw, spec, spec.quality.suite, path.stem),
        *leak_warnings(loaded),
    ]


def suite_beyond_spec(raw: Mapping[str, Any], spec: Any, shown: str, pipeline: str) -> list[str]:
    """The columns the suite checks that the spec no longer reads (taken out of data.features, or excluded): every
    batch without them would stop at the quality gate while the model does not use them (the monitor even calls
    them "not used by the model"). Only when the spec declares its features (inferred ones are whatever the data
    holds)."""
    data = spec.data
    excluded = set(data.features.exclude or [])
    declared = data.features.numeric is not None and data.features.categorical is not None
    read = {data.target, *([data.time_column] if data.time_column else [])}
    read |= set(data.features.numeric or []) | set(data.features.categorical or [])
    stale = [c for c in checked_columns(raw) if c in excluded or (declared and c not in read)]
    if not stale:
        return []
    listed = ", ".join(f"'{c}'" for c in stale)
    return [
        f"{shown} checks column{'s' if len(stale) > 1 else ''} {listed} that the spec no longer reads (not in "
        f"data.features, nor the target or time column): every batch without {'them' if len(stale) > 1 else 'it'} "
        "would stop at the quality gate though the model does not use "
        f"{'them' if len(stale) > 1 else 'it'}; regenerate the suite from the spec's columns and its data with "
        f"`mlops init --suite-only --name {pipeline} --force`, or remove those expectations from the suite"
    ]


def checked_columns(raw: Mapping[str, Any]) -> list[str]:
    """Every column a suite's JSON names, in order: column kwargs and column lists (a column set too: a batch
    without one of its columns fails it)."""
    checked: list[str] = []
    expectations = raw.get("expectations")
    for exp in expectations if isinstance(expectations, list) else []:
        kwargs = exp.get("kwargs") if isinstance(exp, dict) else None
        if not isinstance(kwargs, dict):
            continue
        names = [str(kwargs[k]) for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
        for k in ("column_list", "column_set"):
            if isinstance(kwargs.get(k), list):
                names += [str(c) for c in kwargs[k]]
        checked += [n for n in names if n not in checked]
    return checked


def leak_warnings(loaded: Any) -> list[str]:
    """A feature that alone predicts the target almost perfectly on a sample of the data (tasks/data/leakage.py):
    probably a leak, in a hand-written spec as much as in one `mlops init` wrote. Remembered by the data's, the
    target's and the features' identity, so a spec checked before costs no read; where the data has no cheap
    identity (a database, a bucket, files past check_memo's hashing limit), by the content of the sample read,
    so an unchanged table costs the sample's read but not scikit-learn's import and the scoring."""
    from mlops.cli.check_memo import data_key, part_key
    from mlops.errors import MlopsError

    spec = loaded.spec
    features = spec.data.features
    source, sample = data_key(loaded), None
    if source is None:
        from tasks.data import frame_sha256, read_frame

        try:
            sample = read_frame(loaded, nrows=LEAK_SAMPLE_ROWS)
        except (MlopsError, KeyError, ValueError):
            return []
        source = f"sample:{frame_sha256(sample)}"
    key = part_key("leak-warnings", source, spec.data.model_dump(mode="json"), spec.model.task)
    notes = read_quietly(_notes())
    if isinstance(notes.get(key), list):
        return [str(w) for w in notes[key]]
    from mlops.init_policy import SEED, probable_leaks
    from tasks.data import read_frame
    from tasks.data.leakage import alone_scores
    from tasks.data.splits import resolve_features

    try:
        if sample is None:
            sample = read_frame(loaded, nrows=LEAK_SAMPLE_ROWS)
        if spec.data.target not in sample.columns:
            return []
        used = [c for c in resolve_features(sample, spec.data).all if c in sample.columns]
        scores = alone_scores(sample, spec.data.target, spec.model.task, used, seed=SEED)
    except (MlopsError, KeyError, ValueError):
        return []
    declared = set(features.numeric or []) | set(features.categorical or [])
    found = []
    for col, why in probable_leaks(scores, spec.data.target).items():
        where, fix = (
            ("data.features", "remove it from data.features")
            if col in declared
            else ("the inferred features", "list it in data.features.exclude")
        )
        found.append(
            f"{spec.name}: {where} include '{col}', which is probably a leak: {why}. A value known only after the "
            f"outcome makes the model look right on the holdout and fail in production: {fix} unless it is known "
            "when a prediction is made"
        )
    keep_newest(_notes(), key, found, 200)
    return found


def _notes() -> Path:
    from mlops.settings import get_settings

    return get_settings().home / LEAK_NOTES


def target_in_column_set(raw: Mapping[str, Any], target: str, shown: str) -> list[str]:
    """An expectation on the table's exact column set that lists the target: production batches have no labels,
    so every `mlops run monitor` on one would stop at the quality gate (only expectations on the target's own
    column are left out for an unlabelled batch)."""
    out = []
    expectations = raw.get("expectations")
    for i, exp in enumerate(expectations if isinstance(expectations, list) else []):
        if not isinstance(exp, dict) or exp.get("type") not in COLUMN_SET_TYPES:
            continue
        kwargs = exp.get("kwargs") or {}
        listed = kwargs.get("column_set") or kwargs.get("column_list") or []
        if isinstance(listed, list) and target in map(str, listed):
            out.append(
                f"{shown}: expectation #{i + 1} '{exp['type']}' lists the target '{target}': an unlabelled batch "
                f"(`mlops run monitor` on production data) has no '{target}' column, so it would stop every one; "
                "list the feature (and time) columns only, and check the target with "
                "expect_column_values_to_not_be_null or expect_column_values_to_be_in_set"
            )
    return out
