"""What one monitor run judges and records, from the figures its tasks measured: the verdict on the batch (the
primary metric's signals judged by the spec's monitoring policy) and the tags and metrics of its MLflow run.

Pure: it reads those figures through the few attributes it needs (the Protocols below, which the tasks' own
results satisfy), so the ground floor imports no task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mlops.drift_policy import RetrainTrigger
from mlops.labels import LabelReport, realised_verdict
from mlops.quality_floor import QualityFloor
from mlops.spec.schema import PipelineSpec
from mlops.verdict_policy import Signals, Verdict, policy_of, verdict


class Drift(Protocol):
    """tasks.drift_summary.DriftSummary: the share of drifted columns and those no test could judge."""

    @property
    def drifted_share(self) -> float: ...
    @property
    def unjudgeable(self) -> dict[str, str]: ...


class Estimates(Protocol):
    """tasks.estimate.QualitySignals: drift shares, estimated, realised and reference figures by metric."""

    @property
    def drift_share(self) -> float: ...
    @property
    def weighted_drift_share(self) -> float | None: ...
    @property
    def estimated(self) -> dict[str, float]: ...
    @property
    def realised(self) -> dict[str, float]: ...
    @property
    def reference(self) -> dict[str, float]: ...
    def metrics(self) -> dict[str, float]: ...


class Quality(Protocol):
    """tasks.train.BatchQuality: the realised quality on the batch's labelled rows."""

    @property
    def metrics(self) -> dict[str, float] | None: ...
    @property
    def rows(self) -> int: ...
    @property
    def unavailable(self) -> dict[str, str]: ...


class Estimator(Protocol):
    """tasks.tracking.monitoring.Monitoring: the champion's quality floor and its estimator's holdout estimate."""

    @property
    def floor(self) -> QualityFloor | None: ...
    @property
    def floor_missing(self) -> str | None: ...
    def reference_estimate(self, metric: str) -> float | None: ...


def judge_batch(
    spec: PipelineSpec,
    drift: Drift,
    estimates: Estimates,
    quality: Quality,
    estimator: Estimator,
    scored_rows: int,
    arrived: LabelReport | None = None,
) -> Verdict:
    """The verdict on a batch of `scored_rows` rows: look (alert on drift) apart from act (retrain on a quality
    drop), by promotion.metric and the spec's monitoring section (mlops.verdict_policy); a period the labels that
    `arrived` judged worse is a quality drop too, acted on as the batch's own (mlops.labels.realised_verdict)."""
    metric = spec.promotion.metric
    signals = Signals.of(
        metric, estimates.drift_share, estimates.weighted_drift_share, estimates.estimated, estimates.realised,
        estimates.reference, unjudgeable=drift.unjudgeable, realised_unavailable=quality.unavailable.get(metric),
        realised_rows=quality.rows, estimated_rows=scored_rows, floor=estimator.floor,
        floor_missing=estimator.floor_missing, reference_estimated=estimator.reference_estimate(metric),
    )  # fmt: skip
    policy = policy_of(spec.monitoring, higher_is_better=spec.direction == "maximize")
    return realised_verdict(verdict(signals, policy), arrived, policy)


def run_record(
    tags: Mapping[str, str],
    judged: Verdict,
    trigger: RetrainTrigger,
    drift: Drift,
    estimates: Estimates,
    quality: Quality,
    arrived: LabelReport | None,
) -> tuple[dict[str, str], dict[str, float]]:
    """The monitor run's MLflow tags (the gate's `tags`, the verdict's action, the retrain's reason, the columns
    no test could judge) and metrics (drift, the batch's realised quality as `batch_<metric>`, the estimates and
    the late labels' periods)."""
    out_tags = {
        **tags,
        "drift.action": judged.action,
        "drift.retrain": trigger.reason,
        "drift.unjudgeable": ", ".join(drift.unjudgeable),
    }
    metrics = {
        "drift_share": drift.drifted_share,
        "unjudgeable_columns": len(drift.unjudgeable),
        **{f"batch_{k}": v for k, v in (quality.metrics or {}).items()},
        **estimates.metrics(),
        **(arrived.metrics() if arrived else {}),
    }
    return out_tags, metrics
