"""retrain: load -> quality gate -> split -> train -> track -> score champion and challenger on the same holdout
-> decide -> register and move aliases -> summary. It only wires tasks together."""

from __future__ import annotations

from typing import Any

from flows.gates import judge
from mlops.fingerprint import code_sha256, idempotency_key
from mlops.ownership import check_ownership, note_feature_changes, owner_of
from mlops.policy import apply_approval, best_candidate, recheck_after_approval
from mlops.settings import get_settings
from mlops.spec import LoadedSpec, load_spec
from tasks import data, parallel, promotion, report, search, steps, train
from tasks.locking import check_promotion_lock, holding_promotion_lock
from tasks.tracking.runs import TrainingRun


@steps.masked_flow(name="retrain", flow_run_name="retrain-{spec_path}", validate_parameters=True)
def retrain(
    spec_path: str,
    window_start: str | None = None,
    window_end: str | None = None,
    params: dict[str, Any] | None = None,
) -> report.RetrainResult:
    """Retrain the pipeline declared in `spec_path` and promote the new model when its policy allows.

    `window_start`/`window_end` override the spec's data.window (drift-triggered retrains, replays); `params`
    overrides some of model.params (the overridden spec is the one hashed and recorded)."""
    loaded = load_spec(spec_path).with_window(window_start, window_end).with_params(params)
    spec = loaded.spec
    promotion.check_approval_possible(spec.promotion)
    check_promotion_lock(spec.registry.model_name)  # refused before any work when no lock covers every writer
    if spec.model.candidates or spec.model.search:
        parallel.check_cluster()  # MLOPS_DASK_ADDRESS set: its scheduler must answer before any work
    # a model belongs to one pipeline: another pipeline's (or task's, target's) is refused before any work
    check_ownership(
        spec.registry.model_name, owner_of(loaded), steps.read_model_owner(spec.registry.model_name)
    )
    frame = steps.load_data(loaded)
    # the same rows in another order (a database's scan, a folder's files) are the same data and train the same model
    identity = steps.identify_data(frame, spec.data.time_column)
    tags = {
        "pipeline": spec.name,
        "spec_path": str(loaded.path),
        "spec_sha256": loaded.sha256,
        "data_sha256": identity.sha256,
        "data_rows": str(len(frame)),
    }

    checked = None
    if spec.quality:  # a stop is recorded (a FAILED MLflow run, a Prefect artifact), then raised
        checked = steps.validate_data(
            frame, loaded.resolve(spec.quality.suite), get_settings().reports_dir(spec.name),
            data_sha256=tags["data_sha256"],
        )  # fmt: skip
        judge(loaded, checked, tags, "retrain")
    verdict = tags.get("quality", "pass")

    parts = steps.split(frame, loaded, identity.order)
    tags["holdout_sha256"] = parts.holdout_sha256
    tags |= parts.tags  # what the split left out: excluded_features, missing_target_rows
    tags["code_sha256"] = code_sha256()
    tags["idempotency_key"] = idempotency_key(tags["spec_sha256"], tags["data_sha256"], tags["code_sha256"])
    if spec.data.window:
        tags["window"] = f"{spec.data.window.start or ''}..{spec.data.window.end or ''}"
    finished = steps.find_finished_training(spec.name, tags["idempotency_key"])
    tried: list[train.CandidateResult] = []  # each candidate's validation score, for the summary
    ran_on = ""  # where the candidates were fitted: "3 fits on Dask tcp://..." or "... on 3 threads"
    searched: search.Outcome | None = None  # model.search's trials, when declared
    if finished is not None:  # the same work finished before (resumed or repeated run): reuse it, no refit
        run, fitted = finished.run, steps.rescore(finished.model, parts, spec.data.target, spec.model.task)
    else:
        run, fitted, tried, ran_on, searched = _train_and_track(loaded, parts, tags, checked)
    policy, mode = spec.promotion, spec.promotion.approval.mode
    # read champion, compare, move aliases: one at a time, under the promotion lock; each time it is taken,
    # killed runs (any data, any key) that may have moved aliases without committing are put back first
    with holding_promotion_lock(spec.registry.model_name, on_take=steps.undo_unpublished) as lock:
        champion = steps.load_champion(spec.registry.model_name)
        # compare on the holdout minus the rows the champion trained on (both models on the same rows)
        trained_rows = steps.load_trained_rows(champion.run_id if champion else None)
        compared = steps.comparison_set(
            parts, fitted, trained_rows, spec.data.target, spec.model.task, champion is not None
        )
        champion_score = steps.score_champion(champion, compared.holdout, spec.data.target, spec.model.task)
        evidence = steps.gather_evidence(
            compared.predictions, champion_score, compared.holdout, policy, parts.holdout_sha256,
            compared.excluded_rows, compared.champion_rows_known,
        )  # fmt: skip
        decision = steps.decide_promotion(compared.metrics, champion_score, policy, evidence)
        decision = note_feature_changes(decision, champion.features if champion else None, parts.features.all)
        approval = None
        if mode == "manual":  # a person answers with the lock released: a rollback is never blocked by it
            with lock.released():
                approval = promotion.await_approval(
                    decision, report.evidence_markdown(decision), policy.approval.timeout_seconds
                )
            # the lock taken again (a run killed meanwhile undone): the champion is read again
            now = steps.champion_version(spec.registry.model_name)
            decision = recheck_after_approval(apply_approval(decision, approval), champion_score.version, now)
        # record (or check again, under the lock) that this pipeline owns the model, then register in it
        claimed = steps.claim_model(spec.registry.model_name, owner_of(loaded, parts.features.all))
        published = steps.register_and_promote(
            spec.registry.model_name, run, decision, champion_score.version, fitted.metrics, tags, mode=mode,
            actor=f"approval:{approval.by}" if approval else "", smoke_sample=parts.holdout[parts.features.all].head(100),
        )  # fmt: skip
    result = report.RetrainResult(
        pipeline=spec.name, model_name=spec.registry.model_name,
        quality=checked.headline() if checked else "no suite declared", quality_warning=verdict == "warn",
        split=parts.description, metric=spec.promotion.metric,
        challenger_metrics=compared.metrics, champion_metrics=champion_score.metrics,
        champion_before=champion_score.version, decision=decision, version=published.version,
        champion_after=published.champion_version, run_url=run.run_url, version_url=published.version_url,
        run_id=run.run_id, fit_seconds=fitted.fit_seconds, mode=mode, reused_run=finished is not None,
        duplicate_of=published.duplicate_of, candidates=report.candidate_scores(tried, spec.direction), candidates_ran_on=ran_on,
        search=report.search_lines(searched),
        notes=[*parts.notes, *claimed, *([checked.message()] if checked and verdict == "warn" else [])],
    )  # fmt: skip
    steps.publish_summary(result)
    return result


def _train_and_track(
    loaded: LoadedSpec, parts: data.SplitData, tags: dict[str, str], checked: Any
) -> tuple[TrainingRun, train.Trained, list[train.CandidateResult], str, search.Outcome | None]:
    """Train (the candidates concurrently, or a search's trials, when declared; the best on validation becomes the
    challenger), then record the MLflow run."""
    spec = loaded.spec
    model, tried, ran_on, searched = spec.model, [], "", None
    # one validation part cut from the training rows, for the search, the candidates and early stopping: the
    # holdout is not handed over
    needs_cut = spec.model.search or spec.model.candidates or train.stops_early(spec.model)
    cut = steps.validation_split(parts, loaded) if needs_cut else None
    if spec.model.search and cut is not None:
        train.check_target(spec.model, parts.train, spec.data.target)  # before the trials, not after them
        searched = search.run_search(
            spec.model.search, name=search.study_name(spec.name, tags["idempotency_key"]),
            storage=get_settings().search_storage_url, metric=spec.promotion.metric, direction=spec.direction,
            seed=spec.model.search.seed if spec.model.search.seed is not None else spec.data.split.seed,
            fitter=parallel.trial_fitter(steps.fit_trial, train.FitData.of(cut, parts.features, spec), spec.model,
                                         spec.model.search.parallel),
            pruner=spec.model.pruner(),
        )  # fmt: skip
        model = train.trial_models(spec.model, [searched.best.params])[0]
        tags |= search.version_tags(searched)
    if spec.model.candidates and cut is not None:
        fanned = parallel.fit_candidates(  # on threads, or on the Dask cluster at MLOPS_DASK_ADDRESS
            steps.fit_candidate,
            train.FitData.of(cut, parts.features, spec),
            train.candidate_models(spec.model),
        )
        tried, ran_on = fanned.results, fanned.where
        model = train.candidate_models(spec.model)[best_candidate([t.value for t in tried], spec.direction)]
    fitted = steps.train_model(parts, model, spec.data.target, spec.data.split.seed,
                               validation=cut if train.stops_early(model) else None)  # fmt: skip
    # what the monitor needs to estimate quality without labels and to weigh drift: fitted on the holdout
    monitoring = steps.fit_monitoring(fitted.model, parts.holdout, parts.features.numeric,
                                      parts.features.categorical, spec.data.target, spec.model.task,
                                      spec.data.split.seed)  # fmt: skip
    # what it scores on 95% of batches of each size drawn from its holdout: the monitor's default quality rule
    floor = steps.quality_floor(fitted, spec.promotion.metric, spec.data.split.seed,
                                higher_is_better=spec.direction == "maximize")  # fmt: skip
    run = steps.track_training_run(
        pipeline=spec.name, spec_path=loaded.path, tags=tags,
        params=train.run_params(spec, parts.features, tried) | fitted.params, metrics=fitted.metrics, model=fitted.model,
        train=parts.train, holdout=parts.holdout, features=parts.features.all,
        target=spec.data.target, source=data.source_label(loaded), quality=checked,
        reference=steps.reference_sample(parts, spec.data.target, spec.data.time_column,
                                         spec.monitoring.max_sample_rows, spec.monitoring.seed),
        trained_rows=steps.training_rows(parts),
        feature_kinds={"numeric": parts.features.numeric, "categorical": parts.features.categorical,
                       "target": spec.data.target, "time_column": spec.data.time_column},
        monitoring=monitoring, quality_floor=floor, search=searched,
    )  # fmt: skip
    return run, fitted, tried, ran_on, searched
