"""How much memory the preprocessing will build, estimated from counts before anything is fitted, and the
refusal when it would not fit: one-hot encoding a column with a category per row builds a dense matrix of tens
of GB, and the kernel kills the process without a word. Pure arithmetic, plus one read of the machine's free
memory (no pandas, no scikit-learn here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DENSE_BYTES = 8  # one float64 a cell
SPARSE_BYTES = 12  # a stored value (float64) and its column index (int32)
# scikit-learn's ColumnTransformer (sparse_threshold=0.3) makes its output dense when 30% or more of it is
# non-zero, so a few-category one-hot encoding stays dense even for an estimator that accepts sparse input.
SPARSE_THRESHOLD = 0.3
COPIES = 2  # the transformers' blocks and the stacked matrix are held at once during the fit
BUDGET_SHARE = (
    0.5  # of the memory available when the run starts: the fit itself, the frames, MLflow need the rest
)


@dataclass(frozen=True)
class EncodingEstimate:
    rows: int
    width: int  # columns after preprocessing
    sparse: bool  # whether the matrix the estimator gets is sparse
    bytes: int  # peak memory of the preprocessing output, copies included
    widest: tuple[str, int] | None  # the categorical column adding the most columns, and its category count


def encoded_columns(categories: int, encoding: str, max_categories: int | None) -> int:
    """Columns one categorical column becomes: one (ordinal), or one per kept category (one-hot; the rarer ones
    beyond max_categories share one 'infrequent' column)."""
    if encoding != "onehot":
        return 1
    kept = min(categories, max_categories) if max_categories else categories
    return max(1, kept)


def estimate_encoding(
    rows: int,
    numeric: int,
    categories: Mapping[str, int],
    encoding: str,
    max_categories: int | None,
    sparse: bool,
) -> EncodingEstimate:
    """The preprocessing's output for `rows` rows, `numeric` numeric columns and categorical columns with the
    given category counts (nulls count as one, imputation makes them a category); `sparse`: the one-hot
    encoder may output a sparse matrix (the estimator accepts one)."""
    per_column = {c: encoded_columns(n, encoding, max_categories) for c, n in categories.items()}
    width = numeric + sum(per_column.values())
    stored = numeric + len(per_column)  # non-zeros a row, at most
    is_sparse = bool(sparse and encoding == "onehot" and width and stored / width < SPARSE_THRESHOLD)
    matrix = rows * stored * SPARSE_BYTES + (rows + 1) * 8 if is_sparse else rows * width * DENSE_BYTES
    widest = max(per_column, key=lambda c: (per_column[c], categories[c]), default=None)
    return EncodingEstimate(
        rows=rows,
        width=width,
        sparse=is_sparse,
        bytes=COPIES * matrix,
        widest=(widest, categories[widest]) if widest is not None else None,
    )


def memory_refusal(estimate: EncodingEstimate, budget_bytes: int) -> str | None:
    """Why the preprocessing must not run (it would need more than the budget), with the fix; None when it fits."""
    if estimate.bytes <= budget_bytes:
        return None
    kind = "sparse" if estimate.sparse else "dense"
    head = (
        f"the preprocessing would build a {kind} matrix of {estimate.rows:,} rows x {estimate.width:,} columns, "
        f"about {size_text(estimate.bytes)}, more than the {size_text(budget_bytes)} this run may use "
        f"({BUDGET_SHARE:.0%} of the memory available); the run was stopped before fitting so that the machine "
        "does not run out of memory"
    )
    if estimate.widest is not None and estimate.widest[1] > 1:
        column, count = estimate.widest
        return (
            f"{head}. The categorical column '{column}' has {count:,} categories (one-hot encoding makes a column "
            "of each): cap them with model.preprocessing.categorical.max_categories (e.g. 20; the rarer ones "
            "share one column), use model.preprocessing.categorical.encoding: ordinal, or drop the column "
            "(data.features.exclude, or leave it out of data.features.categorical)."
        )
    return f"{head}. Train on fewer rows (data.window) or fewer features (data.features)."


def available_memory() -> int | None:
    """Bytes of memory this process can still take: the kernel's MemAvailable (or free pages), bounded by the
    container's cgroup limit when there is one; None when the machine does not say."""
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        free = None
    if free is None:
        try:
            free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (OSError, ValueError, AttributeError):
            free = None
    limit = _cgroup_room()
    if limit is not None:
        free = limit if free is None else min(free, limit)
    return free


def _cgroup_room() -> int | None:
    """memory.max - memory.current of this process's cgroup (v2), or None without a limit."""
    try:
        folder = Path("/sys/fs/cgroup")
        text = (folder / "memory.max").read_text().strip()
        if text == "max":
            return None
        return max(0, int(text) - int((folder / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def memory_budget() -> int | None:
    """What one run's preprocessing may use: MLOPS_MEMORY_BUDGET_BYTES when set (a shared worker, a test), else
    half the memory available now; None when the machine does not say (no check then)."""
    from mlops.settings import get_settings

    declared = get_settings().memory_budget_bytes
    if declared is not None:
        return declared
    free = available_memory()
    return int(free * BUDGET_SHARE) if free is not None else None


def size_text(n: int) -> str:
    """'3.2 GB', '512 MB', '900 kB' (powers of 1000, as people read them)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
