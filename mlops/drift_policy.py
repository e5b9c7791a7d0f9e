"""Pure drift-monitoring rules beside the verdict (mlops/verdict_policy.py decides; DriftVerdict is what it
returns): the feature columns the monitor cannot judge, the drift episode and its retrain trigger, replay periods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

EPSILON = 1e-9


@dataclass(frozen=True)
class DriftVerdict:
    drifted: bool
    quality_dropped: bool
    action: str  # none | alert | retrain
    reasons: tuple[str, ...]
    # a feature the monitor cannot judge (all null, one value, another kind of value) alerts on its own
    broken_feed: bool = False

    @property
    def acts(self) -> bool:
        return self.action != "none"

    @property
    def state(self) -> str:
        """What was found, in a few words: 'drift', 'quality drop', 'unjudgeable features', joined, or 'no drift'."""
        found = [
            name
            for name, on in (
                ("drift", self.drifted),
                ("quality drop", self.quality_dropped),
                ("unjudgeable features", self.broken_feed),
            )
            if on
        ]
        return " and ".join(found) or "no drift"


# --- feature columns the monitor cannot judge (a finding, never a footnote) -------------------------------------

ON_UNJUDGEABLE = ("alert", "drift", "stop")


@dataclass(frozen=True)
class ColumnFacts:
    """What a library-free profile knows of one feature column, the batch against the reference data. Kinds are
    coarse ("numeric", "text", "bool", "time", "other"); an all-null column has no kind ("")."""

    column: str
    missing: bool = False  # not in the batch at all
    all_null: bool = False  # in the batch, without a single value
    reference_all_null: bool = False
    constant: bool = False  # a single distinct value in the batch
    reference_constant: bool = False
    kind: str = ""
    reference_kind: str = ""


def unjudgeable(facts: Iterable[ColumnFacts]) -> dict[str, str]:
    """The columns no drift test can judge, each with why: missing from the batch, no values on either side, a
    changed kind of value, or a single value where the reference had several. The drift share counts them as
    drifted (see counted_share): a feature that stopped arriving is a finding, never '0 of N drifted'."""
    out: dict[str, str] = {}
    for f in facts:
        if f.missing:
            out[f.column] = "missing from the batch"
        elif f.all_null:
            out[f.column] = "all null in the batch"
        elif f.reference_all_null:
            out[f.column] = "no values in the reference data"
        elif f.kind and f.reference_kind and f.kind != f.reference_kind:
            out[f.column] = f"its values changed from {f.reference_kind} to {f.kind}"
        elif f.constant and not f.reference_constant:
            out[f.column] = "a single value in the batch, several in the reference"
    return out


def counted_share(drifted: int, judged: int, unjudged: int) -> float:
    """The drifted share of feature columns, each unjudgeable column counted as drifted."""
    if min(drifted, judged, unjudged) < 0 or drifted > judged:
        raise ValueError(f"bad column counts: {drifted} drifted of {judged} judged, {unjudged} unjudgeable")
    total = judged + unjudged
    return (drifted + unjudged) / total if total else 0.0


def _named(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{c} ({why})" for c, why in columns.items())


def unjudgeable_reason(columns: Mapping[str, str]) -> str:
    n = len(columns)
    return (
        f"{n} column{'s' if n != 1 else ''} could not be judged and count{'' if n != 1 else 's'} as drifted: "
        + (_named(columns))
    )


def unjudgeable_alert_reason(columns: Mapping[str, str]) -> str:
    """The verdict's reason when monitoring.on_unjudgeable is alert (the default): a broken feed is a finding."""
    n = len(columns)
    return (
        f"{n} feature column{'s' if n != 1 else ''} the monitor cannot judge ({_named(columns)}): alert, whatever "
        "the drift share (a broken feed; monitoring.on_unjudgeable: drift counts such columns in the share only)"
    )


def unjudgeable_stop_message(columns: Mapping[str, str]) -> str:
    """The DataError text when monitoring.on_unjudgeable is stop."""
    n = len(columns)
    return (
        f"the batch has {n} feature column{'s' if n != 1 else ''} the monitor cannot judge: {_named(columns)}. "
        "monitoring.on_unjudgeable is stop, so nothing was judged: fix the batch (or the feed that produces it), or "
        "set monitoring.on_unjudgeable: alert (the default) to judge the rest and alert, or drift to count such "
        "columns as drifted only."
    )


# --- drift episodes: a retrain per episode, the cooldown from the promotion that answered it -------------------

_EPISODE_TAGS = {
    "start": "drift_episode.start",
    "attempts": "drift_episode.attempts",
    "last_attempt": "drift_episode.last_attempt",
    "last_outcome": "drift_episode.last_outcome",
    "champion": "drift_episode.champion",
    "last_promotion": "last_drift_promotion",
}


@dataclass(frozen=True)
class Episode:
    """The monitor's memory of drift retrains (kept as registered-model tags): the open drift episode, if any
    (its first attempt's batch end, the attempts so far, the last one's outcome and the champion it had to beat),
    and the batch end of the drift retrain that last promoted a model: the cooldown's start."""

    start: datetime | None = None
    attempts: int = 0
    last_attempt: datetime | None = None
    last_outcome: str = ""
    champion: str | None = None
    last_promotion: datetime | None = None

    @property
    def open(self) -> bool:
        return self.attempts > 0

    def to_tags(self) -> dict[str, str]:
        """Every key, "" for no value (so a write replaces what an earlier episode left)."""
        values = {
            "start": self.start.isoformat() if self.start else "",
            "attempts": str(self.attempts),
            "last_attempt": self.last_attempt.isoformat() if self.last_attempt else "",
            "last_outcome": self.last_outcome[:4000],
            "champion": self.champion or "",
            "last_promotion": self.last_promotion.isoformat() if self.last_promotion else "",
        }
        return {_EPISODE_TAGS[k]: v for k, v in values.items()}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Episode:
        """Read back to_tags; a value that does not parse is treated as absent (the next write repairs it)."""

        def when(key: str) -> datetime | None:
            try:
                return _aware(datetime.fromisoformat(tags.get(_EPISODE_TAGS[key], "") or ""))
            except ValueError:
                return None

        try:
            attempts = max(0, int(tags.get(_EPISODE_TAGS["attempts"], "0") or 0))
        except ValueError:
            attempts = 0
        return cls(
            start=when("start"),
            attempts=attempts,
            last_attempt=when("last_attempt"),
            last_outcome=tags.get(_EPISODE_TAGS["last_outcome"], ""),
            champion=tags.get(_EPISODE_TAGS["champion"]) or None,
            last_promotion=when("last_promotion"),
        )


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class RetrainTrigger:
    retrain: bool
    reason: str
    label: str = ""  # a few words for a timeline: "retrain", "cooldown", "retries used up", ...


def reconcile(episode: Episode, champion_version: str | None) -> Episode:
    """An open episode whose champion changed since its last attempt was answered: a new model was promoted (by
    this monitor's retrain, a deployment's retrain the drift event started, or by hand). The episode ends there and
    the cooldown starts at that attempt's batch end."""
    if episode.open and episode.champion is not None and champion_version not in (None, episode.champion):
        return Episode(
            last_promotion=episode.last_attempt or episode.start,
            last_outcome=f"answered: v{champion_version} became champion",
        )
    return episode


def retrain_trigger(
    action: str,
    batch_end: datetime,
    episode: Episode,
    cooldown_days: float,
    max_retries: int,
    window: str = "the declared training window",
) -> RetrainTrigger:
    """Whether this verdict starts a retrain: only for action 'retrain'; not within cooldown_days (data time) of
    the drift retrain that last PROMOTED a model (a rejected or failed one starts no cooldown); and at most
    max_retries attempts per drift episode (then it only alerts, saying why)."""
    if max_retries < 1:
        raise ValueError(f"max_retries must be at least 1, got {max_retries!r}")
    if action != "retrain":
        return RetrainTrigger(
            False,
            "the policy does not ask for a retrain" if action == "none" else "on_drift is alert",
            action,
        )
    if episode.last_promotion is not None and not episode.open:
        elapsed = (batch_end - episode.last_promotion).total_seconds() / 86_400
        if 0 <= elapsed < cooldown_days:
            return RetrainTrigger(
                False,
                f"same drift episode: a drift retrain promoted a new champion {elapsed:.1f} days earlier "
                f"(cooldown {cooldown_days:g} days)",
                "same episode: cooldown",
            )
    last = f"the last drift retrain was {episode.last_outcome}" if episode.last_outcome else ""
    if episode.open and episode.attempts >= max_retries:
        since = f" since {episode.start.date().isoformat()}" if episode.start else ""
        return RetrainTrigger(
            False,
            f"drift persists: {episode.attempts} drift retrain attempt{'s' if episode.attempts != 1 else ''}{since} "
            f"gave no new champion ({last}); monitoring.max_retries_per_episode is {max_retries}, so no retrain "
            "until a batch without drift ends the episode or a new champion is promoted (e.g. `mlops run retrain`)",
            "drift persists: retries used up",
        )
    attempt = f"attempt {episode.attempts + 1} of {max_retries} in this drift episode"
    if episode.open:
        return RetrainTrigger(True, f"drift persists ({last}): retraining on {window} ({attempt})", "retrain")
    return RetrainTrigger(True, f"drift: retraining on {window} ({attempt})", "retrain")


def window_label(start: str | None, end: str) -> str:
    return f"the window {start or 'from the start of the data'} to {end}"


def after_attempt(
    episode: Episode,
    batch_end: datetime,
    champion: str | None,
    outcome: str,
    *,
    promoted: bool = False,
    new_attempt: bool = True,
) -> Episode:
    """The episode once a drift retrain started (new_attempt: one more attempt, e.g. outcome 'started' or
    'requested by the drift event'), then once it is known: rejected or failed (new_attempt=False: the same
    attempt's outcome), or promoted its challenger (the episode ends, the cooldown starts at batch_end)."""
    if promoted:
        return Episode(last_promotion=batch_end, last_outcome=outcome)
    return replace(
        episode,
        start=episode.start if episode.open else batch_end,
        attempts=episode.attempts + 1 if new_attempt or not episode.open else episode.attempts,
        last_attempt=batch_end,
        last_outcome=outcome,
        champion=champion,
    )


def retrain_outcome(
    champion_before: str | None, champion_after: str | None, version: str, reasons: Iterable[str]
) -> tuple[str, bool]:
    """(outcome, promoted) of a drift retrain: promoted when the champion changed, else rejected with its reasons."""
    if champion_after is not None and champion_after != champion_before:
        return f"promoted v{champion_after}", True
    return f"rejected (v{version}): " + "; ".join(reasons), False


def after_quiet(episode: Episode) -> Episode:
    """A batch that asks for nothing ends an open episode (the drift went away before a model answered it)."""
    if not episode.open:
        return episode
    return Episode(last_promotion=episode.last_promotion, last_outcome="ended: a batch without drift")


def after_verdict(
    episode: Episode,
    trigger: RetrainTrigger,
    acts: bool,
    batch_end: datetime,
    champion: str | None,
    in_process: bool,
) -> Episode:
    """The episode the monitor records once the verdict is known, before any retrain runs: a retrain starts an
    attempt (started in this run, or requested by the drift event when a deployment retrains), a batch that asks
    for nothing ends an open episode, an alert alone leaves it as it is."""
    if trigger.retrain:
        started = "started" if in_process else "requested by the mlops.drift.detected event"
        return after_attempt(episode, batch_end, champion, started)
    return episode if acts else after_quiet(episode)


def after_retrain(
    episode: Episode,
    batch_end: datetime,
    champion: str | None,
    champion_after: str | None,
    version: str,
    reasons: Iterable[str],
) -> Episode:
    """The episode once the drift retrain this monitor started is answered: promoted (the episode ends, the
    cooldown starts), or rejected with its reasons (the same attempt's outcome)."""
    outcome, promoted = retrain_outcome(champion, champion_after, version, reasons)
    return after_attempt(episode, batch_end, champion, outcome, promoted=promoted, new_attempt=False)


def after_failed_retrain(
    episode: Episode, batch_end: datetime, champion: str | None, error: object
) -> Episode:
    """The episode once the drift retrain this monitor started failed: the attempt's outcome says why (a failure
    starts no cooldown, so the next drifted batch tries again, within the episode's retries)."""
    return after_attempt(episode, batch_end, champion, f"failed: {error}"[:500], new_attempt=False)


def drift_event(
    verdict: DriftVerdict,
    trigger: RetrainTrigger,
    *,
    drifted_share: float,
    champion: str | None,
    batch_end: datetime,
    unjudgeable: Mapping[str, str],
    window: tuple[str | None, str],
    run_url: str,
) -> dict[str, object]:
    """The `mlops.drift.detected` payload: what a notification says and what the retrain deployment it starts
    reads (the window, only when this verdict retrains)."""
    return {
        "drifted_share": drifted_share,
        "action": verdict.action,
        "state": verdict.state,
        "reasons": list(verdict.reasons),
        "champion_version": champion,
        "batch_end": batch_end.isoformat(),
        "retrain": trigger.retrain,
        "retrain_reason": trigger.reason,
        "unjudgeable": unjudgeable,
        "window_start": window[0] if trigger.retrain else None,
        "window_end": window[1] if trigger.retrain else None,
        "mlflow_run_url": run_url,
    }


PERIODS = ("day", "week", "month", "quarter", "year")


def periods(start: datetime, end: datetime, every: str) -> list[tuple[datetime, datetime]]:
    """Consecutive [start, end) periods covering [start, end): every 'day', 'week', 'month', 'quarter' or
    'year'. Months, quarters and years end on calendar boundaries (a replay from 2013-02-15 by quarter: 15 Feb to
    1 Apr, then whole quarters)."""
    if every not in PERIODS:
        raise ValueError(f"every must be one of {', '.join(PERIODS)}, got {every!r}")
    if end <= start:
        raise ValueError(f"end {end} must be after start {start}")
    out, cur = [], start
    while cur < end:
        if every in ("month", "quarter", "year"):
            nxt = _next_boundary(cur, {"month": 1, "quarter": 3, "year": 12}[every])
        else:
            nxt = cur + timedelta(days=1 if every == "day" else 7)
        out.append((cur, min(nxt, end)))
        cur = nxt
    return out


def _next_boundary(ts: datetime, months: int) -> datetime:
    """The first instant of the next calendar block of `months` months (1: month, 3: quarter, 12: year)."""
    index = ts.year * 12 + ts.month - 1  # months since year 0
    following = (index // months + 1) * months
    return ts.replace(year=following // 12, month=following % 12 + 1, day=1, hour=0, minute=0, second=0,
                      microsecond=0)  # fmt: skip
