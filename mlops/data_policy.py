"""What the training data may lose before it is refused: pure decisions over counts (no pandas here)."""

from __future__ import annotations


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
