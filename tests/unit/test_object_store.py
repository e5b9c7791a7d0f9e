"""The pure part of object storage paths (mlops/object_store.py): which text is an object URI, where an output is
staged before it is copied into place, and what a store's error text means."""

from __future__ import annotations

import pytest

from mlops.object_store import classify, fix_for, is_object_uri, parts, rejects_uri, temp_key


@pytest.mark.parametrize(
    ("path", "remote"),
    [
        ("s3://b/k.csv", True),
        ("S3://b/k.csv", True),
        ("gs://b/k", True),
        ("abfs://c/k", True),
        ("data/x.csv", False),
        ("/abs/s3://x", False),
        ("file:///x.csv", False),
        (None, False),
    ],
)
def test_which_paths_are_objects(path: str | None, remote: bool) -> None:
    assert is_object_uri(path) is remote


def test_parts_temp_key_and_rejects() -> None:
    assert parts("s3://b/a/x.csv") == ("s3", "b", "a/x.csv")
    assert temp_key("s3://b/out/p.parquet", pid=7) == "s3://b/out/.p.parquet.7.tmp"
    assert rejects_uri("s3://b/out/p.parquet") == "s3://b/out/p.rejects.csv"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "When getting information for key 'k' in bucket 'b': AWS Error NO_SUCH_BUCKET during HeadObject",
            "missing",
        ),
        ("AWS Error ACCESS_DENIED during HeadObject operation: No response body.", "denied"),
        ("AWS Error INVALID_ACCESS_KEY_ID during ListObjectsV2", "denied"),
        (
            "AWS Error NETWORK_CONNECTION during HeadObject operation: curlCode: 7, Couldn't connect to server",
            "unreachable",
        ),
        ("Parquet magic bytes not found in footer", "other"),
    ],
)
def test_a_store_error_is_sorted_by_what_it_means(text: str, kind: str) -> None:
    assert classify(text) == kind


def test_each_kind_ends_with_a_fix_naming_the_variables() -> None:
    assert "AWS_ENDPOINT_URL" in fix_for("unreachable", "s3://b/k")
    assert "AWS_SECRET_ACCESS_KEY" in fix_for("denied", "s3://b/k")
    assert "AWS_" not in fix_for("denied", "gs://b/k")
