"""What the data may lose before it is refused: pure decisions over counts (no pandas here). The training data's
missing targets, and the features a batch left empty that a model cannot judge."""

from __future__ import annotations

from collections.abc import Mapping

from mlops.drift_policy import ColumnFacts, unjudgeable

MISSING = "missing from the batch"  # mlops.drift_policy.unjudgeable's words for a column the batch lacks


def missing_target_refusal(missing: int, rows: int, max_share: float, target: str) -> str | None:
    """The reason to refuse training when more rows lack a target than the spec allows, else None.

    Rows without a target cannot be learnt from and are left out; past the declared share what remains is no
    longer a fair sample of the data (a broken join, the wrong target column, labels not yet arrived)."""
    if missing <= 0 or rows <= 0 or missing <= max_share * rows:
        return None
    return (
        f"{missing_target_text(missing, rows)} have no value in the target '{target}', more than "
        f"data.max_missing_target_share ({max_share:.1%}) allows; fix the source (a broken join, the wrong "
        "target column, labels not yet arrived?) or, if that many unlabelled rows is expected, raise "
        "data.max_missing_target_share in the spec."
    )


def missing_target_text(missing: int, rows: int) -> str:
    """'12 of 569 rows (2.1%)'."""
    return f"{missing:,} of {rows:,} rows ({missing / rows:.1%})"


# --- features a model cannot judge in a batch (predict fails closed; the monitor's words and logic) -------------


def unjudgeable_features(
    train_profile: Mapping[str, int], batch_profile: Mapping[str, int]
) -> dict[str, str]:
    """The feature columns a model cannot judge in a batch, each with why, in the monitor's words (the same
    mlops.drift_policy.unjudgeable decides): missing from the batch, or all null in the batch while the training
    data had values there. Every row's prediction would then rest on an imputed value, not on the data: a broken
    feed, not a batch to score.

    A profile maps each feature column to its count of non-null values (`train_profile`: the features the model
    reads, from its training/reference data; `batch_profile`: the batch's columns); a column absent from the batch's
    profile is missing from the batch. A feature without values in training either is not counted: the batch
    cannot be worse than what the model learnt from."""
    facts = [
        ColumnFacts(column, missing=column not in batch_profile, all_null=column in batch_profile)
        for column, values in train_profile.items()
        if values > 0 and batch_profile.get(column, 0) <= 0
    ]
    return unjudgeable(facts)


def unjudgeable_refusal(columns: Mapping[str, str], rows: int, option: str = "--allow-empty-feature") -> str:
    """The DataError text when predict stops on features it cannot judge (`columns`: unjudgeable_features)."""
    n = len(columns)
    named = ", ".join(f"'{c}' ({why})" for c, why in columns.items())
    empty = [c for c, why in columns.items() if why != MISSING]
    allow = " ".join(f"{option} {c}" for c in empty)
    escape = (
        f" If an empty column is expected (the model then predicts from its imputed value alone), say so: rerun "
        f"with {allow}."
        if empty
        else ""
    )
    return (
        f"the batch has {n} feature column{'s' if n != 1 else ''} the model cannot judge: {named}; its {rows:,} "
        f"row{'s' if rows != 1 else ''} would be predicted without {'them' if n != 1 else 'it'}, from values the "
        "model fills in, so nothing was scored and nothing was written. Fix the batch (or the broken feed that "
        f"produces it).{escape}"
    )
