"""Which rows a model trained on, recorded with its training run (the distinct uint64 hashes of each row's key
columns, a few bytes a row, and the key's column names), so a later retrain compares champion and challenger
only on holdout rows the champion never saw."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import MlopsError
from mlops.text import first_line
from tasks.tracking.store import client, is_transient

if TYPE_CHECKING:
    from tasks.data.splits import TrainedRows

ROWS_DIR = "trained_rows"
HASHES, KEY = "hashes.npy", "key.json"


class TrainedRowsUnreadable(MlopsError):
    """The champion's recorded training rows exist but cannot be read: comparing without them could judge it on
    rows it trained on, so the run stops instead."""

    exit_code = 1


def log_trained_rows(rows: TrainedRows) -> None:
    """Inside an active MLflow run: record the training rows' key hashes and the key's columns."""
    import mlflow
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / HASHES, np.asarray(rows.hashes, dtype=np.uint64), allow_pickle=False)
        (Path(tmp) / KEY).write_text(
            json.dumps({"key": list(rows.key), "hash": "pandas.util.hash_pandas_object"})
        )
        mlflow.log_artifacts(tmp, artifact_path=ROWS_DIR)


def load_trained_rows(run_id: str | None) -> TrainedRows | None:
    """The rows the champion's training run trained on; None when there is no champion (no run id) or its run
    recorded none (trained before mlops recorded them). A record that exists but cannot be read stops the run."""
    import mlflow
    import numpy as np

    from tasks.data.splits import TrainedRows

    if run_id is None:
        return None
    c = client()
    try:
        names = {Path(f.path).name for f in c.list_artifacts(run_id, ROWS_DIR)}
    except Exception as exc:
        if is_transient(exc):
            raise
        raise _unreadable(run_id, exc) from exc
    if not {HASHES, KEY} <= names:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=ROWS_DIR, dst_path=tmp)
            )
            key = json.loads((local / KEY).read_text())["key"]
            hashes = np.load(local / HASHES, allow_pickle=False)
        except Exception as exc:
            if is_transient(exc):
                raise
            raise _unreadable(run_id, exc) from exc
    return TrainedRows(tuple(str(k) for k in key), np.asarray(hashes, dtype=np.uint64))


def _unreadable(run_id: str, exc: BaseException) -> TrainedRowsUnreadable:
    said = first_line(exc)
    return TrainedRowsUnreadable(
        f"could not read which rows the champion trained on from its training run {run_id} ({type(exc).__name__}: "
        f"{said}); without them the comparison could judge the champion on rows it learnt, so nothing was "
        f"decided and no alias moved. Check the run's '{ROWS_DIR}' artifacts and the artifact store, then rerun."
    )
