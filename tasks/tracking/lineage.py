"""MLflow dataset lineage for the frames a model was trained and scored on, at the cost of a hash.

Apart from the runs because it reaches into MLflow's PandasDataset (its cached `schema`): that one private-API
trick lives in `with_schema`, and tests/integration/test_library_contracts.py fails if an MLflow upgrade breaks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def dataset(frame: pd.DataFrame, source: Any, name: str, target: str) -> Any:
    """MLflow dataset lineage for a large frame at the cost of a hash: our own content digest, and a schema
    whose types come from the first 1,000 rows and whose nullability comes from the whole frame, vectorised.
    MLflow's defaults map type() over every cell for the digest and test every value for null in Python for
    the schema: about 27 s for 1M rows against 0.5 s this way (docs/benchmarks.md)."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    from tasks.data import frame_sha256

    ds = from_pandas(frame, source=source, name=name, targets=target, digest=frame_sha256(frame)[:32])
    head = frame.head(1_000)
    if head.isna().all().any():  # a column with no value to type in the head: let MLflow read it all
        return ds
    nulls = frame.isna().any()
    columns = infer_signature(head).inputs.inputs
    return with_schema(
        ds, Schema([ColSpec(c.type, c.name, required=not bool(nulls[c.name])) for c in columns])
    )


def with_schema(ds: Any, schema: Any) -> Any:
    """`ds` (an MLflow PandasDataset) with `schema` as its schema, so MLflow never infers it the slow way.

    Private API: `PandasDataset.schema` is a functools.cached_property, so setting the attribute fills its cache.
    The contract test in tests/integration/test_library_contracts.py checks that this still holds."""
    ds.schema = schema
    return ds


def source(label: str) -> Any:
    """MLflow dataset source for lineage: the file (or folder of a glob) as a URI, the bundled dataset's name, or
    a sql source's masked URL and its table or query."""
    if label.startswith("sql:"):  # `sql:<masked URL> <table or query>` (tasks.data.sql.label): no password
        from mlflow.data.code_dataset_source import CodeDatasetSource

        url, _, what = label[4:].partition(" ")
        return CodeDatasetSource(tags={"mlops.sql_url": url, "mlops.sql_source": what})
    if label.startswith("builtin:"):
        from mlflow.data.code_dataset_source import CodeDatasetSource

        return CodeDatasetSource(tags={"mlops.builtin_dataset": label.split(":", 1)[1]})
    from mlops.object_store import is_object_uri

    if is_object_uri(label):  # MLflow's own source for the scheme (s3://, gs://, ...): the URI as given
        return label
    path = Path(label)
    return (path if path.exists() else path.parent).resolve().as_uri()
