"""The monitor's verdict, "look" apart from "act": drift is something to look at (an alert), a fall in the model's
quality is a reason to act (a retrain). Figures in, an action and its reasons out; pure, nothing else.

- look: the drift measure (`monitoring.drift_measure`: the raw share of drifted features, or the share weighted by
  each feature's importance to the model) at or above `monitoring.alert_drift_share` raises an alert;
- act: the primary metric's quality (realised when the batch has labels, else estimated from the champion's
  calibrated probabilities or loss model) more than `monitoring.max_quality_drop` worse than the champion's own
  holdout figure, or, where the spec states no max_quality_drop, below what the champion scores on 95% of batches
  of the same size drawn from its holdout (mlops.quality_floor, stored with the model at training), asks for a
  retrain (`monitoring.retrain_on: quality`, the default); `drift` or `both` also retrain
  on drift alone, the rule of older specs;
- without any quality figure (an old champion with no estimator, and no labels) the drift rule of older specs
  decides, and the reasons say so;
- a feature the monitor cannot judge (all null, one value where the reference had several, another kind of value)
  alerts on its own, whatever the drift share (`monitoring.on_unjudgeable: alert`, the default): a broken feed is a
  finding, never 1 column of 19 under a share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops.drift_policy import (
    EPSILON,
    ON_UNJUDGEABLE,
    DriftVerdict,
    unjudgeable_alert_reason,
    unjudgeable_reason,
)
from mlops.quality_floor import QualityFloor, figure, judge
from mlops.spec.schema import Monitoring

DRIFT_MEASURES = ("share", "weighted")
RETRAIN_ON = ("quality", "drift", "both")


@dataclass(frozen=True)
class Signals:
    """What the monitor measured on one batch, for the primary metric: the drift shares (raw, and weighted by
    importance when the champion carries importances), the estimated and realised quality and the champion's
    holdout figure (None when not known)."""

    metric: str
    drift_share: float
    weighted_drift_share: float | None = None
    estimated: float | None = None
    realised: float | None = None
    reference: float | None = None
    unjudgeable: Mapping[str, str] = field(default_factory=dict)
    # why a labelled batch has no realised figure (e.g. one class only)
    realised_unavailable: str | None = None
    # the rows each figure was measured on (the labelled rows; the scored rows of an estimate)
    realised_rows: int | None = None
    estimated_rows: int | None = None
    # the champion's bootstrap of its holdout quality (the default rule), or why it has none
    floor: QualityFloor | None = None
    floor_missing: str | None = None
    # the estimator's own (cross-fitted) estimate of the primary metric on the champion's holdout
    reference_estimated: float | None = None

    @property
    def estimate_offset(self) -> float:
        """How far the estimator reads from the realised figure on the holdout (estimate minus realised): an
        estimate is judged against the floor moved by it, so an estimator that reads a little low does not alarm
        on every large batch. 0 when unknown."""
        if self.reference_estimated is None or self.reference is None:
            return 0.0
        offset = self.reference_estimated - self.reference
        return offset if math.isfinite(offset) else 0.0

    @classmethod
    def of(
        cls,
        metric: str,
        drift_share: float,
        weighted_drift_share: float | None = None,
        estimated: Mapping[str, float] | None = None,
        realised: Mapping[str, float] | None = None,
        reference: Mapping[str, float] | None = None,
        **extra: object,
    ) -> Signals:
        """The signals of the primary metric out of the monitor's {metric: value} maps."""

        def pick(values: Mapping[str, float] | None) -> float | None:
            value = (values or {}).get(metric)
            return None if value is None or not math.isfinite(value) else float(value)

        return cls(
            metric, drift_share, _finite(weighted_drift_share), pick(estimated), pick(realised), pick(reference),
            **extra,  # type: ignore[arg-type]
        )  # fmt: skip


@dataclass(frozen=True)
class VerdictPolicy:
    """The `monitoring` section as the verdict reads it (see policy_of)."""

    alert_drift_share: float = 0.3
    drift_measure: str = "weighted"  # share | weighted
    retrain_on: str = "quality"  # quality | drift | both
    max_quality_drop: float | None = None
    higher_is_better: bool = True
    may_retrain: bool = True  # False: on_drift is alert, the monitor never retrains, it alerts
    drift_share_threshold: float = 0.3  # the drift rule of older specs (raw share), the fallback
    on_unjudgeable: str = "alert"  # alert: an unjudgeable feature alerts on its own; drift: only in the share
    # a spec that states neither max_quality_drop nor retrain_on keeps its drift rule beside the champion's floor
    drift_rule_stays: bool = False

    def __post_init__(self) -> None:
        if self.on_unjudgeable not in ON_UNJUDGEABLE:
            raise ValueError(
                f"on_unjudgeable must be one of {', '.join(ON_UNJUDGEABLE)}, got {self.on_unjudgeable!r}"
            )
        if self.drift_measure not in DRIFT_MEASURES:
            raise ValueError(
                f"drift_measure must be one of {', '.join(DRIFT_MEASURES)}, got {self.drift_measure!r}"
            )
        if self.retrain_on not in RETRAIN_ON:
            raise ValueError(f"retrain_on must be one of {', '.join(RETRAIN_ON)}, got {self.retrain_on!r}")
        for name in ("alert_drift_share", "drift_share_threshold"):
            value = getattr(self, name)
            if math.isnan(value) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.max_quality_drop is not None and (
            math.isnan(self.max_quality_drop) or self.max_quality_drop < 0
        ):
            raise ValueError(f"max_quality_drop must be a non-negative number, got {self.max_quality_drop!r}")


@dataclass(frozen=True)
class Verdict(DriftVerdict):
    """action none | alert | retrain, with reasons a person reads; also what it was judged on."""

    measure: str = "share"  # the drift measure used: share | weighted
    drift_value: float = 0.0
    quality_source: str = ""  # realised | estimated | "" (no quality figure)
    quality: float | None = None
    worsening: float | None = None  # how much worse than the champion's holdout figure (negative: better)


def verdict(signals: Signals, policy: VerdictPolicy) -> Verdict:
    """Look (alert on drift) and act (retrain on a quality drop, or on drift when the policy says so)."""
    if math.isnan(signals.drift_share) or not 0 <= signals.drift_share <= 1:
        raise ValueError(f"drift_share must be between 0 and 1, got {signals.drift_share!r}")
    reasons: list[str] = []

    # look: the declared drift measure against alert_drift_share
    measure, value = policy.drift_measure, signals.drift_share
    if measure == "weighted":
        if signals.weighted_drift_share is None:
            measure = "share"
            reasons.append("no feature importances with this champion: the raw drift share is used")
        else:
            value = signals.weighted_drift_share
    drifted = value >= policy.alert_drift_share
    name = "importance-weighted drift share" if measure == "weighted" else "drifted share of features"
    other = (
        f" (raw share {signals.drift_share:.2f})"
        if measure == "weighted"
        else (
            f" (weighted {signals.weighted_drift_share:.2f})"
            if signals.weighted_drift_share is not None
            else ""
        )
    )
    reasons.insert(
        0,
        f"{name} {value:.2f}{other} is {'at or above' if drifted else 'below'} alert_drift_share "
        f"{policy.alert_drift_share:g}" + (": alert" if drifted else ""),
    )
    broken_feed = bool(signals.unjudgeable) and policy.on_unjudgeable == "alert"
    if broken_feed:
        reasons.append(unjudgeable_alert_reason(signals.unjudgeable))
    elif signals.unjudgeable:
        reasons.append(unjudgeable_reason(signals.unjudgeable))

    # act: the primary metric's quality, realised when labelled, else estimated, against the champion's holdout
    source, quality = (
        ("realised", signals.realised) if signals.realised is not None else ("estimated", signals.estimated)
    )
    if quality is None:
        source = ""
    dropped, worsening = False, None
    decided: str | None = None  # the reason that says the quality dropped
    m = signals.metric
    if signals.realised is None:  # said first, in the words of the realised quality
        why = signals.realised_unavailable or "no labels in the batch"
        if quality is None:
            why += (
                "" if signals.realised_unavailable else " and no estimate (the champion predates estimation)"
            )
        reasons.append(
            f"quality not compared: {why}" + (f"; the estimated {m} is judged" if quality is not None else "")
        )
    if quality is None:
        pass  # said above
    elif signals.reference is None:
        reasons.append(f"{source} {m} {quality:.4g} not judged: the champion has no holdout {m}")
    elif policy.max_quality_drop is None:
        floor: QualityFloor | None = signals.floor
        rows = signals.realised_rows if source == "realised" else signals.estimated_rows
        missing = signals.floor_missing or f"the champion has no bootstrap of its holdout {m}"
        if signals.floor is not None and signals.floor.metric != m:
            missing = f"the champion's holdout bootstrap is of {signals.floor.metric}, not of {m}"
            floor = None
        if floor is None or not rows:
            reasons.append(
                f"{source} {m} {quality:.4g} vs the champion's {signals.reference:.4g}: NOT judged on quality: no "
                f"max_quality_drop set and {missing} (retrain the champion to store it, or set "
                "monitoring.max_quality_drop)"
            )
        else:
            offset = signals.estimate_offset if source == "estimated" else 0.0
            judged_floor = judge(floor, quality, rows, offset)
            worsening = (
                signals.reference - quality if policy.higher_is_better else quality - signals.reference
            )
            dropped = judged_floor.dropped
            decided = _floor_reason(source, m, quality, rows, judged_floor.limit, offset, policy, dropped)
            reasons.append(decided)
    else:
        worsening = signals.reference - quality if policy.higher_is_better else quality - signals.reference
        dropped = worsening > policy.max_quality_drop + EPSILON
        decided = _quality_reason(source, m, quality, signals.reference, worsening, policy, dropped)
        reasons.append(decided)

    judged_quality = worsening is not None
    if policy.retrain_on == "quality" and not judged_quality:
        # no quality figure to act on: today's drift rule (raw share against drift_share_threshold) decides
        rule_drift = signals.drift_share >= policy.drift_share_threshold
        reasons.append(
            ("no quality figure to act on" if quality is None else f"the {source} {m} is not judged")
            + f", so the drift rule decides: drifted share {signals.drift_share:.2f} is "
            f"{'at or above' if rule_drift else 'below'} drift_share_threshold {policy.drift_share_threshold:g}"
            + (": retrain" if rule_drift and policy.may_retrain else "")
        )
        act = rule_drift
        drifted = drifted or rule_drift
    elif policy.retrain_on == "quality" and policy.drift_rule_stays and policy.max_quality_drop is None:
        # the floor judged quality, and a spec that states no quality rule keeps its drift rule beside it
        rule_drift = signals.drift_share >= policy.drift_share_threshold
        act = dropped or rule_drift
        drifted = drifted or rule_drift
        if rule_drift:
            reasons.append(
                f"drifted share {signals.drift_share:.2f} is at or above drift_share_threshold "
                f"{policy.drift_share_threshold:g}: the spec states no max_quality_drop, so its drift rule acts "
                "beside the champion's floor" + (": retrain" if policy.may_retrain else "")
            )
    else:
        act = (policy.retrain_on in ("quality", "both") and dropped) or (
            policy.retrain_on in ("drift", "both") and drifted
        )
        if drifted and not act:
            reasons.append("drift alone is reported, not acted on (retrain_on: quality)")
        elif drifted and act and not dropped:
            reasons.append(f"retrain_on: {policy.retrain_on}, so drift alone retrains")

    if broken_feed and not drifted and not dropped:  # what decided comes first (a notification shows it)
        reasons.insert(0, reasons.pop(reasons.index(unjudgeable_alert_reason(signals.unjudgeable))))
    if dropped and decided is not None:
        reasons.insert(0, reasons.pop(reasons.index(decided)))
    if act and not policy.may_retrain:
        reasons.append("on_drift is alert: the monitor alerts and never retrains")
    action = (
        ("retrain" if policy.may_retrain else "alert")
        if act
        else ("alert" if drifted or dropped or broken_feed else "none")
    )
    return Verdict(
        drifted=drifted, quality_dropped=dropped, action=action, reasons=tuple(reasons), measure=measure,
        drift_value=value, quality_source=source, quality=quality, worsening=worsening, broken_feed=broken_feed,
    )  # fmt: skip


def _quality_reason(
    source: str,
    metric: str,
    quality: float,
    reference: float,
    worsening: float,
    policy: VerdictPolicy,
    dropped: bool,
) -> str:
    """'estimated roc_auc 0.71 is 0.06 below the champion's 0.77, more than max_quality_drop 0.03: retrain'."""
    if worsening <= 0:
        return f"{source} {metric} {quality:.4g} is no worse than the champion's {reference:.4g}"
    gap = abs(quality - reference)
    side = "below" if quality < reference else "above"
    limit = policy.max_quality_drop
    if dropped:
        act = "retrain" if policy.retrain_on in ("quality", "both") and policy.may_retrain else "alert"
        return (
            f"{source} {metric} {quality:.4g} is {gap:.2g} {side} the champion's {reference:.4g}, more than "
            f"max_quality_drop {limit:g}: {act}"
        )
    return (
        f"{source} {metric} {quality:.4g} is {gap:.2g} {side} the champion's {reference:.4g}, within "
        f"max_quality_drop {limit:g}"
    )


def _floor_reason(
    source: str,
    metric: str,
    quality: float,
    rows: int,
    limit: float,
    offset: float,
    policy: VerdictPolicy,
    dropped: bool,
) -> str:
    """'realised roc_auc 0.693 on 1,057 labelled rows; the champion scores at least 0.81 on 95% of 1,057-row batches
    of its holdout: quality drop -> alert'."""
    measured = "labelled rows" if source == "realised" else "rows (no labels)"
    bound = "at least" if policy.higher_is_better else "at most"
    moved = f" (with the estimator's own offset {offset:+.3g} on the holdout)" if offset else ""
    act = "retrain" if policy.retrain_on in ("quality", "both") and policy.may_retrain else "alert"
    return (
        f"{source} {metric} {figure(quality)} on {rows:,} {measured}; the champion scores {bound} {figure(limit)} "
        f"on 95% of {rows:,}-row batches of its holdout{moved}: "
        + (f"quality drop -> {act}" if dropped else "within")
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def policy_of(monitoring: Monitoring, higher_is_better: bool) -> VerdictPolicy:
    """The verdict policy a spec's `monitoring` section declares (mlops.spec.schema.Monitoring), older specs
    included: without alert_drift_share the look is drift_share_threshold on the raw share, as before; on_drift:
    alert never retrains; without max_quality_drop the champion's own holdout bootstrap judges quality (without
    that or a quality figure, the drift rule decides, and the reasons say so)."""
    m = monitoring
    alert = m.alert_drift_share
    return VerdictPolicy(
        alert_drift_share=m.drift_share_threshold if alert is None else alert,
        drift_measure="share" if alert is None else m.drift_measure,
        retrain_on=m.retrain_on,
        max_quality_drop=m.max_quality_drop,
        higher_is_better=higher_is_better,
        may_retrain=m.on_drift == "retrain",
        drift_share_threshold=m.drift_share_threshold,
        on_unjudgeable=m.on_unjudgeable,
        drift_rule_stays=m.max_quality_drop is None and "retrain_on" not in m.model_fields_set,
    )
