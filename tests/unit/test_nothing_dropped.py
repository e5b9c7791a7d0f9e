"""Issue #12, items 7 and 8: nothing is dropped without saying so, and no run can take the machine down.

Pure pieces on real small frames: all-null features, rows without a target, duplicate column names, the memory
estimate of the preprocessing and its refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.data_policy import missing_target_refusal
from mlops.errors import DataError, SpecError
from mlops.memory import available_memory, estimate_encoding, memory_refusal
from mlops.spec import PipelineSpec, load_spec
from tasks import data, train
from tests.conftest import spec_text, write_spec


def loaded_spec(tmp_path: Path, data_extra: str = "", **kwargs: str):
    text = spec_text(suite=None, **kwargs)
    if data_extra:
        text = text.replace("  target: target\n", "  target: target\n" + data_extra)
    return load_spec(write_spec(tmp_path, text))


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n), "z": rng.normal(size=n), "k": rng.choice(["a", "b"], size=n),
        "target": rng.choice(["yes", "no"], size=n),
    })  # fmt: skip


# -- all-null features ---------------------------------------------------------------------------------------


def test_a_declared_feature_with_no_values_stops_naming_the_column_and_the_fix(tmp_path: Path) -> None:
    loaded = loaded_spec(tmp_path, "  features: {numeric: [x, z], categorical: [k]}\n")
    f = frame().assign(z=np.nan)
    with pytest.raises(DataError, match=r"'z'.*no values.*data\.features"):
        data.check_trainable(f, loaded)
    with pytest.raises(DataError, match=r"'z'"):  # and split, which sees the rows that have a target
        data.split(f, loaded)


def test_a_declared_categorical_with_no_values_stops_too(tmp_path: Path) -> None:
    loaded = loaded_spec(tmp_path, "  features: {numeric: [x], categorical: [k]}\n")
    with pytest.raises(DataError, match=r"'k'"):
        data.check_trainable(frame().assign(k=None), loaded)


def test_an_inferred_feature_with_no_values_is_excluded_and_said(tmp_path: Path) -> None:
    loaded = loaded_spec(tmp_path)
    f = frame().assign(empty=np.nan, gone=None)
    data.check_trainable(f, loaded)  # not declared: no error
    parts = data.split(f, loaded)
    assert "empty" not in parts.features.all and "gone" not in parts.features.all
    assert parts.features.excluded == ["empty", "gone"]
    assert parts.tags["excluded_features"] == "empty,gone"
    (note,) = [n for n in parts.notes if "empty" in n]
    assert "gone" in note and "no values" in note


def test_no_exclusion_leaves_no_note(tmp_path: Path) -> None:
    parts = data.split(frame(), loaded_spec(tmp_path))
    assert parts.features.excluded == [] and parts.notes == []
    assert parts.tags["excluded_features"] == "" and parts.tags["missing_target_rows"] == "0"


# -- rows without a target -----------------------------------------------------------------------------------


def test_rows_without_a_target_are_counted_in_the_split_and_its_notes(tmp_path: Path) -> None:
    f = frame(200)
    f.loc[:9, "target"] = None  # 10 of 200 = 5%
    parts = data.split(f, loaded_spec(tmp_path))
    assert len(parts.train) + len(parts.holdout) == 190
    assert parts.tags["missing_target_rows"] == "10"
    assert "10 rows without a target" in parts.description
    assert any("10 of 200 rows (5.0%)" in n and "data.max_missing_target_share" in n for n in parts.notes)


def test_too_many_rows_without_a_target_are_refused(tmp_path: Path) -> None:
    f = frame(200)
    f.loc[:59, "target"] = None  # 30%
    with pytest.raises(DataError, match=r"60 of 200 rows \(30\.0%\).*'target'.*max_missing_target_share"):
        data.split(f, loaded_spec(tmp_path))
    loose = loaded_spec(tmp_path, "  max_missing_target_share: 0.5\n")
    assert data.split(f, loose).tags["missing_target_rows"] == "60"


def test_the_missing_target_decision_is_pure() -> None:
    assert missing_target_refusal(0, 100, 0.0, "y") is None
    assert missing_target_refusal(10, 100, 0.1, "y") is None  # at the limit: allowed
    message = missing_target_refusal(11, 100, 0.1, "y")
    assert message is not None and "11 of 100 rows (11.0%)" in message and "'y'" in message
    assert "data.max_missing_target_share" in message
    assert missing_target_refusal(1, 100, 0.0, "y") is not None  # 0 means: every row needs a target


def test_the_missing_target_share_is_a_declared_fraction_with_its_range_in_the_schema(tmp_path: Path) -> None:
    prop = PipelineSpec.model_json_schema()["$defs"]["Data"]["properties"]["max_missing_target_share"]
    assert prop["minimum"] == 0 and prop["maximum"] == 1 and prop["default"] == 0.1
    with pytest.raises(SpecError, match="max_missing_target_share"):
        loaded_spec(tmp_path, "  max_missing_target_share: 1.5\n")


# -- duplicate column names ----------------------------------------------------------------------------------


def test_a_csv_batch_with_duplicate_column_names_is_refused(tmp_path: Path) -> None:
    batch = tmp_path / "batch.csv"
    batch.write_text("x,z,x,k\n1,2,3,a\n4,5,6,b\n")
    with pytest.raises(DataError, match=r"duplicate column names: x"):
        data.read_batch_file(batch)


def test_a_parquet_batch_with_duplicate_column_names_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch = tmp_path / "batch.parquet"
    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["x", "x"]), batch)
    with pytest.raises(DataError, match=r"duplicate column names: x;"):
        data.read_batch_file(batch)


# -- the memory of the preprocessing -------------------------------------------------------------------------


def test_the_estimate_counts_one_column_per_kept_category() -> None:
    est = estimate_encoding(rows=1000, numeric=3, categories={"k": 5, "id": 1000}, encoding="onehot",
                            max_categories=None, sparse=False)  # fmt: skip
    assert est.width == 3 + 5 + 1000 and not est.sparse
    assert est.bytes >= 1000 * (3 + 5 + 1000) * 8
    assert est.widest == ("id", 1000)
    capped = estimate_encoding(1000, 3, {"k": 5, "id": 1000}, "onehot", max_categories=20, sparse=False)
    assert capped.width == 3 + 5 + 20
    ordinal = estimate_encoding(1000, 3, {"k": 5, "id": 1000}, "ordinal", max_categories=None, sparse=False)
    assert ordinal.width == 5


def test_sparse_output_costs_the_stored_values_only() -> None:
    est = estimate_encoding(1_000_000, 2, {"id": 1_000_000}, "onehot", max_categories=None, sparse=True)
    assert est.sparse and est.bytes < 1_000_000 * 3 * 12 * 4  # three stored values a row, not a million
    dense = estimate_encoding(1_000_000, 2, {"id": 1_000_000}, "onehot", max_categories=None, sparse=False)
    assert dense.bytes > 8 * 10**12


def test_a_dense_few_category_encoding_stays_dense_even_when_sparse_is_allowed() -> None:
    # scikit-learn's ColumnTransformer densifies an output with 30% or more non-zeros: estimate what it builds
    est = estimate_encoding(1000, 5, {"k": 3}, "onehot", max_categories=None, sparse=True)
    assert not est.sparse and est.bytes >= 1000 * 8 * 8


def test_the_refusal_names_the_widest_column_its_count_and_the_fixes() -> None:
    est = estimate_encoding(
        100_000, 2, {"k": 4, "user_id": 100_000}, "onehot", max_categories=None, sparse=False
    )
    message = memory_refusal(est, budget_bytes=10**9)
    assert message is not None
    assert "'user_id'" in message and "100,000 categories" in message
    for fix in ("max_categories", "ordinal", "data.features.exclude"):
        assert fix in message
    assert memory_refusal(est, budget_bytes=est.bytes) is None


def test_available_memory_is_read_from_the_machine() -> None:
    free = available_memory()
    assert free is not None and free > 10 * 2**20


def test_a_high_cardinality_column_is_refused_before_fitting(tmp_path: Path) -> None:
    n = 2000
    f = frame(n).assign(user_id=[f"u{i}" for i in range(n)])
    text = spec_text(suite=None, estimator="sklearn.ensemble.HistGradientBoostingClassifier", params="{}")
    text = text.replace("{numeric: {scale: true}}", "{categorical: {max_categories: null}}")
    loaded = load_spec(write_spec(tmp_path, text))
    parts = data.split(f, loaded)
    with pytest.raises(DataError, match=r"'user_id'.*1,[0-9]{3} categories"):
        train.check_memory(parts.train, loaded.spec.model, parts.features, budget_bytes=1_000_000)
    with pytest.raises(DataError, match=r"'user_id'"):
        train.train(parts, loaded.spec.model, "target", 0, memory_budget=1_000_000)
    train.check_memory(parts.train, loaded.spec.model, parts.features, budget_bytes=10**9)  # room enough


def test_an_estimator_that_takes_sparse_input_gets_a_sparse_encoding(tmp_path: Path) -> None:
    import scipy.sparse as sp

    n = 300
    f = frame(n).assign(user_id=[f"u{i}" for i in range(n)])
    text = spec_text(suite=None).replace("{numeric: {scale: true}}", "{categorical: {max_categories: null}}")
    loaded = load_spec(write_spec(tmp_path, text))
    parts = data.split(f, loaded)
    fitted = train.train(parts, loaded.spec.model, "target", 0)  # LogisticRegression accepts sparse
    assert sp.issparse(fitted.model.named_steps["preprocess"].transform(parts.holdout[parts.features.all]))
    hgb = loaded.spec.model.model_copy(update={"estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                                               "params": {}})  # fmt: skip
    pipe = train.build_pipeline(hgb, parts.features, 0).fit(
        parts.train[parts.features.all], parts.train["target"]
    )
    assert not sp.issparse(pipe.named_steps["preprocess"].transform(parts.holdout[parts.features.all]))
