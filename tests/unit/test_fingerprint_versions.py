"""Issue 15: the library versions that key the validate memo and the code hash are read once per process
(`mlops validate` asked importlib.metadata for the same few distributions about 20 times, ~10 ms a call here)."""

from __future__ import annotations

from importlib.metadata import version

from mlops.fingerprint import _library_version, library_versions


def test_versions_are_read_once_per_process_and_a_missing_library_says_so() -> None:
    _library_version.cache_clear()
    first = library_versions(("pandas", "no-such-distribution-mlops"))
    assert first == [f"pandas=={version('pandas')}", "no-such-distribution-mlops missing"]
    again = library_versions(("no-such-distribution-mlops", "pandas"))
    assert again == first[::-1]
    info = _library_version.cache_info()
    assert (info.misses, info.hits) == (2, 2)  # the second call read no metadata
