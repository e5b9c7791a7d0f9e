"""predict: open a batch -> quality gate, chunk by chunk -> the champion (or a pinned version, for shadow
scoring) -> predictions scored in chunks (the batch is never held whole), written atomically as Parquet with the
model's lineage, rows that cannot be scored listed in a rejects file -> a `predict` MLflow run with a seeded
sample of the predictions."""

from __future__ import annotations

from flows.gates import gate_source
from mlops.errors import NoChampion
from mlops.object_store import is_object_uri, rejects_uri
from mlops.ownership import check_ownership, owner_of
from mlops.spec import load_spec
from mlops.write_targets import table_target
from tasks import data, steps
from tasks.predict import (
    ModelRef,
    PredictResult,
    check_predict_targets,
    discard_staged,
    refuse_unjudgeable,
    staged_object,
    staged_out,
)


@steps.masked_flow(name="predict", flow_run_name="predict-{spec_path}", validate_parameters=True)
def predict(
    spec_path: str,
    out: str,
    batch: str | None = None,
    start: str | None = None,
    end: str | None = None,
    version: str | None = None,
    alias: str | None = None,
    chunk_rows: int = 100_000,
    allow_empty_features: list[str] | None = None,
) -> PredictResult:
    """Score a batch (a file, or the [start, end) window of the source) with the champion, or with the model
    `version` or `alias` names (shadow scoring), and write the predictions to `out`. A feature all null in the batch
    (values in training) stops the run, unless `allow_empty_features` names it."""
    loaded = load_spec(spec_path)
    spec = loaded.spec
    model_name = spec.registry.model_name
    # before any work: no output replaces an input, and each can be written
    check_predict_targets(loaded, batch, out)
    # --out table:NAME@ENV_VAR: Parquet under MLOPS_HOME first, then one transaction
    table = table_target(out)
    check_ownership(model_name, owner_of(loaded), steps.read_model_owner(model_name))
    # read chunk by chunk, twice (the gate, then the scoring): the memory is bounded by chunk_rows, not the batch
    source = steps.open_batch(loaded, batch, start, end, chunk_rows)
    # each row's own id, or a label arriving later could not say which prediction it is
    if spec.data.id_column:
        steps.check_ids(source, spec.data.id_column, chunk_rows)
    checked, tags = gate_source(loaded, source, "predict", chunk_rows)
    label = tags["batch"]
    # a table or an object in a store: written under MLOPS_HOME first, then put there whole
    stored = is_object_uri(out)
    written_to = (
        str(staged_out(spec.name, table, checked.fingerprint[:16])) if table
        else str(staged_object(spec.name, out, checked.fingerprint[:16])) if stored
        else out
    )  # fmt: skip

    try:
        model = steps.load_model(model_name, version=version, alias=alias)
        if model is None:
            raise NoChampion(
                f"'{model_name}' has no champion yet: train one first with `mlops run retrain {spec_path}`, "
                "or pin a version with --version N."
            )
        selected_by = f"version {version}" if version is not None else f"alias {alias or 'champion'}"
        reference, kinds = steps.load_reference(model.run_id)
        features = data.Features(kinds["numeric"], kinds["categorical"])
        # a feature empty in every row (values in training): each prediction would rest on a filled-in value
        empty = refuse_unjudgeable(
            reference, checked.values, features, allow_empty_features or [], checked.rows
        )
        ref = ModelRef(model_name, model.version, model.run_id or "")
        scored = steps.score_batch(
            model.model, source, features, spec.model.task, ref, written_to,
            metadata={"pipeline": spec.name, "spec_sha256": loaded.sha256, "batch": label,
                      "selected_by": selected_by, "scored_at": data.run_stamp()},
            chunk_rows=chunk_rows, sample_rows=spec.monitoring.max_sample_rows, seed=spec.monitoring.seed,
        )  # fmt: skip
        # the batch's earlier rows replaced by these, in one transaction (batch_id column)
        if table is not None:
            steps.write_table(scored.out, table, checked.fingerprint, str(loaded.root))
        # both objects uploaded to temporary keys, then copied onto theirs: no part is ever seen
        if stored:
            steps.upload_predictions(scored.out, out)
        kept = None
        # what was predicted per id, for the labels that arrive later (docs/labels.md)
        if spec.data.id_column:
            kept = steps.keep_predictions(
                scored.out, pipeline=spec.name, id_column=spec.data.id_column, time_column=spec.data.time_column,
                batch_id=checked.fingerprint, batch=label, model_version=model.version,
                classes=list(getattr(model.model, "classes_", [])),
            )  # fmt: skip
    except BaseException:
        if (
            table is not None or stored
        ):  # a failed run leaves no staged file behind (the target holds what it held)
            discard_staged(written_to, keep_rejects=False)
        raise
    # in the table now: the staged Parquet goes; its rejects file stays only when it lists rows
    rejects = (
        discard_staged(written_to, keep_rejects=scored.rejected > 0) if table is not None else scored.rejects
    )
    shown_out = str(table) if table else out if stored else scored.out
    if stored:  # in the store now, the rejects object beside it: nothing stays under MLOPS_HOME
        discard_staged(written_to, keep_rejects=False)
        rejects = rejects_uri(out)
    run_id, run_url = steps.track_predict_run(
        pipeline=spec.name, model_name=model_name, model_version=model.version,
        tags=tags | {"selected_by": selected_by, "out": shown_out, "rejects": rejects,
                     "model_run_id": ref.run_id, "sample_seed": str(spec.monitoring.seed),
                     "sample_max_rows": str(spec.monitoring.max_sample_rows), "batch_fingerprint": checked.fingerprint,
                     "allowed_empty_features": ",".join(empty), "kept_by_id": kept or ""},
        metrics={"rows": scored.rows, "scored": scored.scored, "rejected": scored.rejected,
                 "sample_rows": len(scored.sample)},
        sample=scored.sample,
    )  # fmt: skip
    return PredictResult(
        pipeline=spec.name, model_name=model_name, model_version=model.version, model_run_id=ref.run_id,
        selected_by=selected_by, batch=label, rows=scored.rows, scored=scored.scored, rejected=scored.rejected,
        reasons=scored.reasons, out=shown_out, rejects=rejects,
        quality=checked.outcome.headline() if checked.outcome else "no suite declared", run_url=run_url,
        run_id=run_id, chunks=scored.chunks, empty_features=tuple(empty), kept_by_id=kept or "",
    )  # fmt: skip
