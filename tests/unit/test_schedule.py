"""tests/schedule.py: the order in which `make test` hands test files to its workers (longest first)."""

from __future__ import annotations

from pathlib import Path

from tests.schedule import DURATIONS, durations_from_junit, load_weights, order


def queue(*files: tuple[str, int]) -> dict[str, dict[str, bool]]:
    return {name: {f"{name}::t{i}": False for i in range(n)} for name, n in files}


def test_the_longest_file_goes_first_whatever_its_number_of_tests() -> None:
    work = queue(("tests/unit/test_a.py", 80), ("tests/e2e/test_b.py", 1), ("tests/unit/test_c.py", 3))
    ranked = order(work, {"tests/e2e/test_b.py": 300.0, "tests/unit/test_a.py": 2.0})
    assert list(ranked) == ["tests/e2e/test_b.py", "tests/unit/test_a.py", "tests/unit/test_c.py"]
    assert ranked["tests/unit/test_a.py"] == work["tests/unit/test_a.py"]  # the tests themselves unchanged


def test_an_unlisted_file_is_weighed_by_its_tier_and_ties_keep_the_collection_order() -> None:
    work = queue(
        ("tests/unit/test_x.py", 50), ("tests/integration/test_y.py", 2), ("tests/unit/test_z.py", 50)
    )
    # 50 unit tests weigh more than 2 integration tests; the two unit files weigh the same and keep their order
    assert list(order(work, {})) == [
        "tests/unit/test_x.py",
        "tests/unit/test_z.py",
        "tests/integration/test_y.py",
    ]


def test_the_weights_are_read_back_from_a_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "suite.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.unit.test_schedule" name="a" time="1.25"/>'
        '<testcase classname="tests.unit.test_schedule" name="b" time="2.5"/>'
        '<testcase classname="tests.e2e.test_replay" name="c" time="200"/>'
        '<testcase classname="tests.gone.test_nothing" name="d" time="9"/>'
        "</testsuite></testsuites>"
    )
    assert durations_from_junit(report) == {
        "tests/e2e/test_replay.py": 200.0,
        "tests/unit/test_schedule.py": 3.8,
    }
    assert all(Path(DURATIONS.parent.parent / name).is_file() for name in load_weights())  # no stale names
