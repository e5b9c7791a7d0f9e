"""Labels that arrive after the predictions: which labels count, when a prediction period may be judged on them,
the verdict on its realised quality, and how far the estimate given before the labels came was off. Pure: figures
and dates in, decisions out (tasks/labels.py reads the files and does the join).

- which labels count: a label counts once it is known (its `known_at` at or before the monitor's as-of time); a
  later label of the same id replaces an earlier one (a correction); a label without an id, or for an id no stored
  prediction has, is counted and reported, never joined;
- the share rule: a period (one predict batch, by one model version) is judged only when the share of its
  predictions that has a label reaches `monitoring.min_label_share`; below it the report shows the share and waits;
- the verdict: the realised figure of a judged period against the champion's holdout figure, by
  `monitoring.max_quality_drop` where the spec states it, else by the champion's own floor at the number of
  labelled rows (mlops.quality_floor), as the monitor judges a labelled batch;
- one prediction per id and model version: an id predicted in several batches by one model version is judged
  in the latest of them (its predicted_at; claim_order) and left out of the earlier ones, so its label counts
  once; the earlier period says how many of its ids were predicted again (a batch repeating an id is refused);
- a period judged worse starts a retrain: the champion's realised quality of a period at or above the label
  share, worse than its rule, is a quality drop like the batch's own (realised_verdict): under
  `monitoring.retrain_on: quality` or `both` it retrains (on_drift: alert only alerts), through the same drift
  episode (its cooldown after a promotion, its max_retries_per_episode), so a period that stays worse run after
  run does not retrain without end; under `retrain_on: drift` it alerts;
- the trust record: when a period that was estimated without labels is judged, the estimate given then is set
  beside the realised figure (estimate minus realised: how far the estimate could be trusted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from mlops.errors import MlopsError
from mlops.quality_floor import QualityFloor, figure, judge

if TYPE_CHECKING:
    from mlops.verdict_policy import Verdict, VerdictPolicy

WAITING, OK, WORSE, UNAVAILABLE = "waiting", "ok", "worse", "unavailable"


def counts(known_at: datetime | None, as_of: datetime) -> bool:
    """Whether a label known at `known_at` counts at `as_of`: once known, never before (None: a source without a
    known_at column, where every label present counts)."""
    return known_at is None or known_at <= as_of


def label_share(predicted: int, labelled: int) -> float:
    """The share of a period's predictions that has a label (0 for a period with no predictions)."""
    if predicted < 0 or labelled < 0 or labelled > predicted:
        raise ValueError(f"labelled ({labelled}) must be between 0 and predicted ({predicted})")
    return labelled / predicted if predicted else 0.0


def claim_order(periods: list[tuple[datetime | None, str]]) -> list[int]:
    """The order in which prediction periods (predicted_at, batch id) of one model version take their ids: the
    latest prediction first (the one acted on last), the batch id breaking ties so the order never depends on the
    files' order. An id already taken by a later period is left out of an earlier one. Returns the indexes."""

    def key(i: int) -> tuple[bool, float, str]:
        at, batch_id = periods[i]
        return (at is not None, at.timestamp() if at is not None else 0.0, batch_id)

    return sorted(range(len(periods)), key=key, reverse=True)


@dataclass(frozen=True)
class PeriodVerdict:
    """What the monitor says of one prediction period: waiting for labels, judged ok or worse, or not judgeable
    (e.g. one class only among its labels), with the reason a person reads."""

    state: str  # waiting | ok | worse | unavailable
    reason: str
    limit: float | None = None  # the figure the realised quality was held against

    @property
    def judged(self) -> bool:
        return self.state in (OK, WORSE)


def judge_period(
    *,
    metric: str,
    predicted: int,
    labelled: int,
    min_share: float,
    realised: float | None,
    reference: float | None,
    higher_is_better: bool,
    max_quality_drop: float | None = None,
    floor: QualityFloor | None = None,
    unavailable: str | None = None,
) -> PeriodVerdict:
    """The verdict on one period's realised quality (see the module's docstring for the rules)."""
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    share = label_share(predicted, labelled)
    if labelled == 0 or share + 1e-12 < min_share:
        return PeriodVerdict(
            WAITING,
            f"{labelled:,} of {predicted:,} predictions labelled ({share:.0%}); judged from "
            f"{min_share:.0%} (monitoring.min_label_share)",
        )
    if realised is None or not math.isfinite(realised):
        return PeriodVerdict(
            UNAVAILABLE, f"{metric} cannot be measured on its labels ({unavailable or 'no figure'})"
        )
    sign = 1.0 if higher_is_better else -1.0
    if max_quality_drop is not None and reference is not None and math.isfinite(reference):
        limit = reference - sign * max_quality_drop
        worse = sign * (reference - realised) > max_quality_drop + 1e-12
        rule = f"more than {figure(max_quality_drop)} below the champion's {figure(reference)} (max_quality_drop)"
    elif floor is not None:
        judged = judge(floor, realised, labelled)
        limit, worse = judged.limit, judged.dropped
        rule = f"the champion's floor at {labelled:,} rows ({figure(limit)})"
    elif reference is not None and math.isfinite(reference):
        # no floor stored with an old champion and no max_quality_drop: any worsening is reported
        limit, worse = reference, sign * (reference - realised) > 1e-12
        rule = f"the champion's holdout figure ({figure(reference)})"
    else:
        return PeriodVerdict(
            UNAVAILABLE, f"{metric} {figure(realised)}: no champion figure to hold it against"
        )
    if worse:
        return PeriodVerdict(WORSE, f"{metric} {figure(realised)} is worse than {rule}", limit)
    return PeriodVerdict(OK, f"{metric} {figure(realised)} is within {rule}", limit)


@dataclass(frozen=True)
class Trust:
    """An estimate given before the labels came, beside the realised figure: how far it was off."""

    estimated: float
    realised: float

    @property
    def error(self) -> float:
        """Estimate minus realised (positive: the estimate read too well for a higher-is-better metric)."""
        return self.estimated - self.realised

    def line(self, metric: str) -> str:
        return (
            f"estimated {figure(self.estimated)} before the labels, realised {figure(self.realised)} "
            f"({metric}; estimate off by {self.error:+.3g})"
        )


def trust(estimated: float | None, realised: float | None) -> Trust | None:
    """The trust record of a period, when both figures are known and finite."""
    if estimated is None or realised is None or not (math.isfinite(estimated) and math.isfinite(realised)):
        return None
    return Trust(estimated, realised)


def unmatched_note(without_id: int, unknown_ids: int) -> str | None:
    """Labels the join could not use, for the report: counted, never silently dropped."""
    parts = []
    if without_id:
        parts.append(f"{without_id:,} label(s) without an id")
    if unknown_ids:
        parts.append(
            f"{unknown_ids:,} label(s) for ids no stored prediction has (predicted elsewhere, or not yet)"
        )
    return ("Labels not joined: " + "; ".join(parts) + ".") if parts else None


@dataclass(frozen=True)
class Period:
    """One prediction period (a predict batch, scored by one model version) with the labels that have arrived."""

    batch: str  # the batch as predict named it (a file, or a window of the source)
    batch_id: str  # the batch's content fingerprint: the same batch predicted again is the same period
    model_version: str
    predicted: int
    labelled: int
    realised: float | None
    verdict: PeriodVerdict
    estimated: float | None = None  # the estimate a monitor gave before the labels came
    trust: Trust | None = None
    superseded: int = 0  # ids of this batch predicted again in a later batch (by this version): judged there

    @property
    def share(self) -> float:
        return label_share(self.predicted, self.labelled)

    def line(self, metric: str) -> str:
        head = f"{self.batch} (v{self.model_version}): {self.labelled:,}/{self.predicted:,} labelled ({self.share:.0%})"
        text = f"{head}; {self.verdict.state}: {self.verdict.reason}"
        if self.superseded:
            text += f"; {self.superseded:,} of its ids predicted again in a later batch, judged there"
        if self.trust is not None:
            text += f"; {self.trust.line(metric)}"
        elif not self.verdict.judged and self.estimated is not None:
            text += f"; estimated {figure(self.estimated)} meanwhile"
        return text


@dataclass(frozen=True)
class LabelReport:
    """What the monitor says of the labels that arrived: each period, and the labels it could not join."""

    metric: str
    min_share: float
    periods: tuple[Period, ...]
    labels_read: int
    without_id: int = 0
    unknown_ids: int = 0

    @property
    def worse(self) -> tuple[Period, ...]:
        return tuple(p for p in self.periods if p.verdict.state == WORSE)

    def metrics(self) -> dict[str, float]:
        """For the monitor's MLflow run: periods seen, judged and judged worse, and the trust records' errors."""
        errors = [abs(p.trust.error) for p in self.periods if p.trust is not None]
        out = {
            "label_periods": float(len(self.periods)),
            "label_periods_judged": float(sum(p.verdict.judged for p in self.periods)),
            "label_periods_worse": float(len(self.worse)),
            "labels_unknown_ids": float(self.unknown_ids),
        }
        if errors:
            out["estimate_abs_error_max"] = max(errors)
        return out

    def lines(self) -> list[str]:
        out = [
            f"Labels arrived: {self.labels_read:,} read; {len(self.periods)} prediction period(s), judged from "
            f"{self.min_share:.0%} labelled"
        ]
        out += [f"  - {p.line(self.metric)}" for p in self.periods]
        note = unmatched_note(self.without_id, self.unknown_ids)
        if note:
            out.append(f"  {note}")
        return out


class LabelsRefused(MlopsError):
    """An id column missing or repeated in a batch, labels without the columns the spec names, a label of the wrong
    type: a usage error (exit 2), raised before anything is written."""

    exit_code = 2


def realised_verdict(verdict: Verdict, report: LabelReport | None, policy: VerdictPolicy) -> Verdict:
    """The monitor's verdict with the periods its labels judged worse (the champion's, at or above the share): a
    quality drop, acted on as the batch's own would be (retrain under retrain_on quality or both, when the spec
    may retrain; else an alert). The verdict unchanged when no period is worse."""
    worse = report.worse if report is not None else ()
    if not worse:
        return verdict
    named = "; ".join(
        f"{p.batch} (v{p.model_version}, {p.labelled:,} labelled): {p.verdict.reason}" for p in worse
    )
    acts = policy.retrain_on in ("quality", "both")
    retrains = acts and policy.may_retrain
    reason = (
        f"realised quality of {len(worse)} earlier prediction period(s) judged worse on their labels: {named}"
    )
    if retrains:
        reason += ": retrain"
    elif acts:
        reason += ": alert (on_drift is alert: the monitor never retrains)"
    else:
        reason += ": alert (retrain_on: drift, so a quality drop alerts)"
    action = "retrain" if retrains or verdict.action == "retrain" else "alert"
    return replace(verdict, quality_dropped=True, action=action, reasons=(reason, *verdict.reasons))
