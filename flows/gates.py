"""The batch quality gate, wired the same way for every flow that judges or scores a batch (monitor, predict)."""

from __future__ import annotations

from typing import Any

from mlops.errors import QualityGateFailed
from mlops.policy import gate
from mlops.settings import get_settings
from mlops.spec import LoadedSpec
from tasks import data, steps


def gate_batch(loaded: LoadedSpec, frame: Any, tags: dict[str, str], kind: str) -> Any:
    """Validate the batch against the spec's suite (its target expectations skipped when the batch has no labels)
    and record the verdict in `tags["quality"]`. A stop records a FAILED MLflow run and a Prefect artifact, then
    raises QualityGateFailed. Returns the validation outcome, or None when the spec declares no suite."""
    spec = loaded.spec
    if not spec.quality:
        return None
    unlabelled = () if data.has_labels(frame, spec.data.target) else (spec.data.target,)
    checked = steps.validate_data(
        frame,
        loaded.resolve(spec.quality.suite),
        get_settings().reports_dir(spec.name),
        skip_columns=unlabelled,
    )
    tags["quality"] = gate(checked.success, spec.quality.on_failure)
    if tags["quality"] == "stop":
        run_url = steps.record_quality_failure(spec.name, loaded.path, tags | {"kind": kind}, checked)
        steps.publish_quality_stop(spec.name, checked.to_markdown(), run_url)
        raise QualityGateFailed(checked.message(), checked.report_path, checked.rows, checked.failures())
    return checked
