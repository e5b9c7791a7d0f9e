"""retrain: load -> quality gate -> split -> train -> track -> score champion and challenger on the same holdout
-> decide -> register and move aliases -> summary. It only wires tasks together."""

from __future__ import annotations

from typing import Any

from prefect import flow

from mlops.errors import QualityGateFailed
from mlops.fingerprint import code_sha256, idempotency_key
from mlops.policy import apply_approval, best_candidate, gate
from mlops.settings import get_settings
from mlops.spec import LoadedSpec, load_spec
from tasks import data, promotion, report, steps, train
from tasks.locking import promotion_lock
from tasks.tracking.runs import TrainingRun


@flow(name="retrain", flow_run_name="retrain-{spec_path}", validate_parameters=True)
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
    frame = steps.load_data(loaded)
    tags = {
        "pipeline": spec.name,
        "spec_path": str(loaded.path),
        "spec_sha256": loaded.sha256,
        "data_sha256": data.frame_sha256(frame),
        "data_rows": str(len(frame)),
    }

    checked = None
    verdict = "pass"
    if spec.quality:
        checked = steps.validate_data(
            frame, loaded.resolve(spec.quality.suite), get_settings().reports_dir(spec.name)
        )
        verdict = gate(checked.success, spec.quality.on_failure)
        tags["quality"] = verdict
        if verdict == "stop":
            run_url = steps.record_quality_failure(spec.name, loaded.path, tags, checked)
            steps.publish_quality_stop(spec.name, checked.to_markdown(), run_url)
            raise QualityGateFailed(checked.message(), checked.report_path)

    parts = steps.split(frame, loaded)
    tags["holdout_sha256"] = parts.holdout_sha256
    tags["code_sha256"] = code_sha256()
    tags["idempotency_key"] = idempotency_key(tags["spec_sha256"], tags["data_sha256"], tags["code_sha256"])
    if spec.data.window:
        tags["window"] = f"{spec.data.window.start or ''}..{spec.data.window.end or ''}"
    finished = steps.find_finished_training(spec.name, tags["idempotency_key"])
    if finished is not None:  # the same work finished before (resumed or repeated run): reuse it, no refit
        run, fitted = finished.run, steps.rescore(finished.model, parts, spec.data.target, spec.model.task)
    else:
        run, fitted = _train_and_track(loaded, parts, tags, checked)
    policy, mode = spec.promotion, spec.promotion.approval.mode
    with promotion_lock(spec.registry.model_name):  # read champion, compare, move aliases: one at a time
        # a killed run with the same key may have moved aliases without committing: put them back first
        steps.undo_unpublished(spec.registry.model_name, tags["idempotency_key"])
        champion = steps.load_champion(spec.registry.model_name)
        champion_score = steps.score_champion(champion, parts.holdout, spec.data.target, spec.model.task)
        evidence = steps.gather_evidence(
            fitted.predictions, champion_score, parts.holdout, policy, parts.holdout_sha256
        )
        decision = steps.decide_promotion(fitted.metrics, champion_score, policy, evidence)
        approval = None
        if mode == "manual":
            approval = promotion.await_approval(
                decision, report.evidence_markdown(decision), policy.approval.timeout_seconds
            )
            decision = apply_approval(decision, approval)
        published = steps.register_and_promote(
            spec.registry.model_name, run, decision, champion_score.version, fitted.metrics, tags, mode=mode,
            actor=f"approval:{approval.by}" if approval else "", smoke_sample=parts.holdout[parts.features.all].head(100),
        )  # fmt: skip
    result = report.RetrainResult(
        pipeline=spec.name, model_name=spec.registry.model_name,
        quality=checked.headline() if checked else "no suite declared", quality_warning=verdict == "warn",
        split=parts.description, metric=spec.promotion.metric,
        challenger_metrics=fitted.metrics, champion_metrics=champion_score.metrics,
        champion_before=champion_score.version, decision=decision, version=published.version,
        champion_after=published.champion_version, run_url=run.run_url, version_url=published.version_url,
        run_id=run.run_id, fit_seconds=fitted.fit_seconds, mode=mode, reused_run=finished is not None,
        duplicate_of=published.duplicate_of,
        notes=[checked.message()] if checked and verdict == "warn" else [],
    )  # fmt: skip
    steps.publish_summary(result)
    return result


def _train_and_track(
    loaded: LoadedSpec, parts: data.SplitData, tags: dict[str, str], checked: Any
) -> tuple[TrainingRun, train.Trained]:
    """Train (the candidates concurrently, when declared; the best on validation becomes the challenger), then
    record the MLflow run."""
    spec = loaded.spec
    model, tried = spec.model, []
    if spec.model.candidates:
        fit, validation = steps.validation_split(parts, loaded)
        futures = [
            steps.fit_candidate.submit(fit, validation, parts.features, m, spec.data.target, spec.data.split.seed, spec.promotion.metric)
            for m in train.candidate_models(spec.model)
        ]  # fmt: skip
        tried = [f.result() for f in futures]
        model = train.candidate_models(spec.model)[best_candidate([t.value for t in tried], spec.direction)]
    fitted = steps.train_model(parts, model, spec.data.target, spec.data.split.seed)
    run = steps.track_training_run(
        pipeline=spec.name, spec_path=loaded.path, tags=tags,
        params=train.run_params(spec, parts.features, tried) | fitted.params, metrics=fitted.metrics, model=fitted.model,
        train=parts.train, holdout=parts.holdout, features=parts.features.all,
        target=spec.data.target, source=data.source_label(loaded), quality=checked,
        reference=data.reference_sample(parts, spec.data.target, spec.data.time_column,
                                        spec.monitoring.max_sample_rows, spec.monitoring.seed),
        feature_kinds={"numeric": parts.features.numeric, "categorical": parts.features.categorical,
                       "target": spec.data.target, "time_column": spec.data.time_column},
    )  # fmt: skip
    return run, fitted
