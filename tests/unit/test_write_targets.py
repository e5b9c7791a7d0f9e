"""Where predict writes is checked before any work (mlops/write_targets.py): an output that is an input, a folder,
a path under a regular file or in a folder that refuses new files is refused naming the path, nothing created;
the atomic writer leaves no temporary part behind whatever fails. And the pure decision on features a model
cannot judge in a batch (mlops/data_policy.py::unjudgeable_features)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.data_policy import unjudgeable_features, unjudgeable_refusal
from mlops.write_targets import OutputRefused, atomic_files, check_targets, target_problem


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_an_output_that_is_an_input_is_refused_by_any_spelling(tmp_path: Path) -> None:
    batch = tmp_path / "b.parquet"
    batch.write_bytes(b"PAR1 data")
    link = tmp_path / "link.parquet"
    link.symlink_to(batch)
    for given in (batch, tmp_path / "sub" / ".." / "b.parquet", link):
        (tmp_path / "sub").mkdir(exist_ok=True)
        problem = target_problem("--out", given, [batch])
        assert problem is not None and "is a file this run reads" in problem and str(batch) in problem
    with pytest.raises(OutputRefused, match="Nothing was run and nothing was written") as caught:
        check_targets({"--out": batch}, [batch])
    assert caught.value.exit_code == 2
    assert batch.read_bytes() == b"PAR1 data"


def test_an_output_inside_a_data_folder_is_refused(tmp_path: Path) -> None:
    dataset = tmp_path / "flights"
    dataset.mkdir()
    problem = target_problem("--out", dataset / "year=2013" / "p.parquet", [dataset])
    assert problem is not None and "is inside a folder the run reads its data from" in problem


def test_an_output_a_data_glob_would_read_next_time_is_refused(tmp_path: Path) -> None:
    pattern = str(tmp_path / "in" / "*.csv")
    with pytest.raises(OutputRefused, match="the next run would read it back as data"):
        check_targets({"the rejects file": tmp_path / "in" / "p.rejects.csv"}, [], None, [pattern])
    check_targets(
        {"--out": tmp_path / "in" / "sub" / "p.rejects.csv"}, [], None, [pattern]
    )  # * stays in a folder
    check_targets({"--out": tmp_path / "out" / "p.rejects.csv"}, [], None, [pattern])


def test_a_folder_a_path_under_a_file_and_a_refusing_folder_are_named(tmp_path: Path) -> None:
    (tmp_path / "pred.rejects.csv").mkdir()
    problem = target_problem("the rejects file", tmp_path / "pred.rejects.csv")
    assert problem is not None and "is a folder; give a file name" in problem

    some_file = tmp_path / "some_file.csv"
    some_file.write_text("a\n1\n")
    problem = target_problem("--out", some_file / "deeper" / "pred.parquet")
    assert problem is not None and f"would be under {some_file}, which is a regular file" in problem

    problem = target_problem("--out", Path("/proc/x.parquet"))  # refuses new files even to root
    assert problem is not None and "the folder /proc does not take new files" in problem

    reports = tmp_path / "reports"
    reports.write_text("not a folder")
    problem = target_problem("the reports folder", reports, folder=True)
    assert problem is not None and "is a file, not a folder" in problem
    assert files_in(tmp_path) == ["pred.rejects.csv", "reports", "some_file.csv"]  # the probes left nothing


def test_a_name_too_long_for_the_folder_is_named_before_any_work(tmp_path: Path) -> None:
    problem = target_problem("--out", tmp_path / ("p" * 250 + ".parquet"))
    assert problem is not None and "is too long for the file system" in problem


def test_a_writable_new_path_passes_and_nothing_is_created(tmp_path: Path) -> None:
    check_targets({"--out": tmp_path / "new" / "deep" / "p.parquet"}, [], {"reports": tmp_path / "r" / "x"})
    assert files_in(tmp_path) == []


def test_atomic_files_leave_no_part_when_the_block_or_a_rename_fails(tmp_path: Path) -> None:
    out, rejects = tmp_path / "out" / "p.parquet", tmp_path / "out" / "p.rejects.csv"
    with pytest.raises(RuntimeError), atomic_files(out, rejects) as (a, b):
        a.write_text("part")
        b.write_text("part")
        raise RuntimeError("scoring failed")
    assert files_in(tmp_path) == []  # neither the temporary files nor the folder made for them

    (tmp_path / "out").mkdir()
    rejects.mkdir()  # the rename onto it fails
    with pytest.raises(OSError), atomic_files(out, rejects) as (a, b):
        a.write_text("whole")
        b.write_text("whole")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))

    rejects.rmdir()
    with atomic_files(out, rejects) as (a, b):
        a.write_text("whole")
        b.write_text("whole")
    assert out.read_text() == rejects.read_text() == "whole"
    assert files_in(tmp_path) == ["out", "out/p.parquet", "out/p.rejects.csv"]


def test_a_feature_empty_in_every_row_cannot_be_judged() -> None:
    train = {"age": 442, "bmi": 442, "s1": 0}
    assert unjudgeable_features(train, {"age": 442, "bmi": 0, "s1": 0}) == {"bmi": "all null in the batch"}
    # some values: judged, each empty one imputed row by row
    assert unjudgeable_features(train, {"age": 3, "bmi": 1, "s1": 0}) == {}
    assert unjudgeable_features(train, {"bmi": 10}) == {"age": "missing from the batch"}


def test_the_refusal_names_the_column_and_the_way_out() -> None:
    text = unjudgeable_refusal({"bmi": "all null in the batch"}, 442)
    assert "1 feature column the model cannot judge: 'bmi' (all null in the batch)" in text
    assert "its 442 rows" in text and "nothing was written" in text
    assert "--allow-empty-feature bmi" in text
    missing = unjudgeable_refusal({"age": "missing from the batch"}, 10)
    assert "--allow-empty-feature" not in missing  # a missing column cannot be allowed: the model reads it
