"""The replay's two baselines (issue 23), computed without registering anything: the first champion judged on
every period (never retrain), and a challenger trained at the end of every period and put in charge when the
spec's promotion gate says so (retrain every period). The models a baseline trains live in memory only: no MLflow
run, no model version, no alias, no ledger entry; the real store is only read (the first champion, its reference
and its training rows).

Every figure is computed as the monitor computes the champion's: the period's batch from the source, the rows
predict would reject set aside, the same seeded sample of up to `monitoring.max_sample_rows` rows, the same metric
function. A baseline's retrain is the retrain flow's work without its records: the spec's retrain window ending at
the period's end, the quality gate, the split, the fit (the best candidate on validation when candidates are
declared), the champion's training rows left out of the holdout, the bootstrap and slices, `decide`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.baselines import EVERY, NEVER, Outcome, outcome, serving
from mlops.policy import best_candidate, gate
from mlops.spec import LoadedSpec
from mlops.timeutil import window_before
from tasks import data, evaluate, promotion, quality_memo, train
from tasks.data.splits import Features, TrainedRows, training_rows
from tasks.drift_summary import sample


@dataclass
class Contender:
    """A model a baseline may serve: the first champion, or a challenger it trained (named c<period index>)."""

    version: str
    model: Any
    features: list[str]
    kinds: Features
    trained: TrainedRows | None = None


@dataclass
class BaselineRun:
    never: Outcome
    every: Outcome
    notes: list[str] = field(default_factory=list)


def realised(loaded: LoadedSpec, who: Contender, frame: Any) -> float | None:
    """The primary metric of `who` on the batch, as the monitor computes the champion's."""
    spec = loaded.spec
    scorable, _ = data.set_aside_unscorable(frame, who.kinds)
    current = sample(scorable, spec.monitoring.max_sample_rows, spec.monitoring.seed)
    quality = train.batch_quality(who.model, current, who.features, spec.data.target, spec.model.task)
    value = (quality.metrics or {}).get(spec.promotion.metric)
    return None if value is None or math.isnan(value) else value


def challenge(
    loaded: LoadedSpec, champion: Contender, end: datetime, name: str, report_dir: Path
) -> tuple[Contender | None, bool, str]:
    """Train a challenger on the spec's retrain window ending at `end` and judge it against `champion` by the
    spec's gate. Returns (the challenger or None when the quality gate stopped it, promoted?, a note)."""
    spec = loaded.spec
    start, stop = window_before(end, spec.monitoring.retrain_window_days, spec.data.window)
    windowed = loaded.with_window(start, stop)
    frame = data.load(windowed)
    if spec.quality:
        checked = quality_memo.validate(frame, windowed.resolve(spec.quality.suite), report_dir)
        if gate(checked.success, spec.quality.on_failure) == "stop":
            return None, False, f"{name}: the quality gate stopped the retrain on {start}..{stop}"
    parts = data.split(
        frame, windowed, data.identify(frame, spec.data.time_column).order
    )  # in content order, as retrain's
    model = (
        spec.model
    )  # a model.search is not run again here: the declared params are trained (said in a note)
    needs_cut = spec.model.candidates or train.stops_early(spec.model)
    cut = data.validation_split(parts, windowed) if needs_cut else None
    if spec.model.candidates and cut is not None:
        models = train.candidate_models(spec.model)
        shared = train.FitData.of(cut, parts.features, spec)
        tried = [train.fit_candidate(shared, m) for m in models]
        model = models[best_candidate([t.value for t in tried], spec.direction)]
    fitted = train.train(parts, model, spec.data.target, spec.data.split.seed,
                         validation=cut if train.stops_early(model) else None)  # fmt: skip
    compared = evaluate.comparison_set(
        parts, fitted, champion.trained, spec.data.target, spec.model.task, True
    )
    scored = evaluate.score_champion(champion, compared.holdout, spec.data.target, spec.model.task)
    evidence = evaluate.gather_evidence(
        compared.predictions, scored, compared.holdout, spec.promotion, parts.holdout_sha256,
        compared.excluded_rows, compared.champion_rows_known,
    )  # fmt: skip
    decision = promotion.decide_promotion(compared.metrics, scored, spec.promotion, evidence)
    challenger = Contender(name, fitted.model, parts.features.all, parts.features, training_rows(parts))
    searched = "; model.search not run: the declared params trained" if spec.model.search else ""
    return (
        challenger,
        decision.promote,
        f"{name} ({start[:10] if start else ''}..{stop[:10]}): {decision.verdict} ({decision.rule}){searched}",
    )


def run_baselines(
    loaded: LoadedSpec,
    windows: list[tuple[datetime, datetime]],
    judged: list[bool],
    first: Contender,
    report_dir: Path,
) -> BaselineRun:
    """Both baselines over the replay's periods. `judged[i]`: the replay got a realised figure for period i (a
    period its quality gate stopped, or without labels, is judged by no strategy)."""
    labels = [p0.date().isoformat() for p0, _ in windows]
    rows: list[int] = []
    never: list[float | None] = []
    every: list[float | None] = []
    promoted_after: list[str | None] = []
    current, retrains, notes = first, 0, []
    for i, (p0, p1) in enumerate(windows):
        frame = data.load_batch(loaded, None, p0.isoformat(), p1.isoformat()) if judged[i] else None
        rows.append(len(frame) if frame is not None else 0)
        never.append(realised(loaded, first, frame) if frame is not None else None)
        if frame is None:
            every.append(None)
        elif current is first:
            every.append(never[-1])
        else:
            every.append(realised(loaded, current, frame))
        promoted_after.append(None)
        if i == len(windows) - 1:  # a model trained after the last period would serve nothing here
            break
        challenger, promote, note = challenge(loaded, current, p1, f"c{i + 1}", report_dir)
        notes.append(note)
        if challenger is None:
            continue
        retrains += 1
        if promote:
            current, promoted_after[-1] = challenger, challenger.version
    models = serving(first.version, promoted_after)
    promotions = sum(p is not None for p in promoted_after)
    return BaselineRun(
        never=outcome(NEVER, labels, [first.version] * len(labels), rows, never, 0, 0),
        every=outcome(EVERY, labels, models, rows, every, retrains, promotions),
        notes=notes,
    )


def first_contender(model_name: str) -> Contender | None:
    """The champion at the replay's start, with what scoring it as the monitor does needs (read-only)."""
    from tasks.tracking.champion import load_champion
    from tasks.tracking.runs import load_reference
    from tasks.tracking.trained_rows import load_trained_rows

    champion = load_champion(model_name)
    if champion is None:
        return None
    _, kinds = load_reference(champion.run_id)
    features = Features(list(kinds["numeric"]), list(kinds["categorical"]))
    return Contender(
        f"v{champion.version}", champion.model, features.all, features, load_trained_rows(champion.run_id)
    )
