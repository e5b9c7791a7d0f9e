"""The batch quality gate, wired the same way for every flow that judges or scores a batch (monitor, predict): the
batch's label and tracking tags, the verdict, and a stop recorded as a FAILED MLflow run and a Prefect artifact."""

from __future__ import annotations

from typing import Any

from mlops.errors import DataError, QualityGateFailed
from mlops.policy import gate
from mlops.settings import get_settings
from mlops.spec import LoadedSpec
from tasks import data, steps


def batch_label(batch: str | None, start: str | None, end: str | None) -> str:
    """How runs and messages name a batch: its path, or its window."""
    return batch or f"{start or '...'} to {end or '...'}"


def batch_tags(loaded: LoadedSpec, label: str, rows: int) -> dict[str, str]:
    """The tags every run on a batch carries (the gate adds `quality`)."""
    return {
        "pipeline": loaded.spec.name,
        "batch": label,
        "batch_rows": str(rows),
        "spec_sha256": loaded.sha256,
    }


def gate_batch(
    loaded: LoadedSpec,
    frame: Any,
    batch: str | None,
    start: str | None,
    end: str | None,
    kind: str,
    data_sha256: str | None = None,
) -> tuple[Any, dict[str, str]]:
    """Validate the batch against the spec's suite (its target expectations skipped when the batch has no labels).
    Returns the validation outcome (None when the spec declares no suite) and the batch's tags, the verdict in
    `tags["quality"]`; a stop raises QualityGateFailed (see `judge`). `data_sha256`: the batch's frame_sha256,
    when the caller has it already (the gate's memo is keyed on it)."""
    spec = loaded.spec
    tags = batch_tags(loaded, batch_label(batch, start, end), len(frame))
    if not spec.quality:
        return None, tags
    unlabelled = () if data.has_labels(frame, spec.data.target) else (spec.data.target,)
    checked = steps.validate_data(
        frame,
        loaded.resolve(spec.quality.suite),
        get_settings().reports_dir(spec.name),
        skip_columns=unlabelled,
        data_sha256=data_sha256,
    )
    return judge(loaded, checked, tags, kind), tags


def gate_source(loaded: LoadedSpec, source: Any, kind: str, chunk_rows: int) -> tuple[Any, dict[str, str]]:
    """The gate on a batch read chunk by chunk (tasks/data/stream.py), one chunk held at a time; returns the
    check (its row count, and the outcome: None when the spec declares no suite) and the batch's tags."""
    spec = loaded.spec
    suite = loaded.resolve(spec.quality.suite) if spec.quality else None
    check = steps.validate_chunks(
        source, suite, get_settings().reports_dir(spec.name), spec.data.target, chunk_rows
    )
    if check.rows == 0:
        where = f" between {source.start} and {source.end}" if source.windowed else ""
        raise DataError(f"the batch has no rows{where}; check the file or the window.")
    tags = batch_tags(loaded, source.label, check.rows)
    if check.outcome is not None:
        judge(loaded, check.outcome, tags, kind)
    return check, tags


def judge(loaded: LoadedSpec, checked: Any, tags: dict[str, str], kind: str) -> Any:
    """Record the verdict in `tags["quality"]`. A stop records a FAILED MLflow run and a Prefect artifact, then
    raises QualityGateFailed."""
    spec = loaded.spec
    assert spec.quality is not None
    tags["quality"] = gate(checked.success, spec.quality.on_failure)
    if tags["quality"] == "stop":
        run_url = steps.record_quality_failure(spec.name, loaded.path, tags | {"kind": kind}, checked)
        steps.publish_quality_stop(spec.name, checked.to_markdown(), run_url)
        raise QualityGateFailed(checked.message(), checked.report_path, checked.rows, checked.failures())
    return checked
