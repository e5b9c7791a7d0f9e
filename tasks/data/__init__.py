"""Loading, checking and splitting the data a spec declares (pandas; bundled datasets need no download).

`readers` reads sources, bundled datasets and batch files; `checks` says whether data can train the spec or be
scored by the champion; `splits` carves train, holdout and validation parts and hashes data snapshots.
"""

from tasks.data.checks import (
    batch_problems,
    check_batch,
    check_trainable,
    has_labels,
    load,
    set_aside_unscorable,
)
from tasks.data.dataset import spec_columns
from tasks.data.readers import (
    FLIGHT_COLUMNS,
    as_time,
    batch_end,
    builtin_frame,
    in_window,
    load_batch,
    read_batch_file,
    read_frame,
    run_stamp,
    source_label,
)
from tasks.data.splits import (
    Features,
    Identity,
    SplitData,
    TrainedRows,
    frame_sha256,
    identify,
    reference_sample,
    resolve_features,
    row_hashes,
    split,
    training_rows,
    validation_split,
)

__all__ = [
    "FLIGHT_COLUMNS",
    "Features",
    "SplitData",
    "TrainedRows",
    "as_time",
    "batch_end",
    "batch_problems",
    "builtin_frame",
    "check_batch",
    "set_aside_unscorable",
    "spec_columns",
    "check_trainable",
    "frame_sha256",
    "Identity",
    "identify",
    "has_labels",
    "in_window",
    "load",
    "load_batch",
    "read_batch_file",
    "read_frame",
    "reference_sample",
    "resolve_features",
    "row_hashes",
    "run_stamp",
    "source_label",
    "split",
    "training_rows",
    "validation_split",
]
