"""Longest file first: the order in which `make test` (`-n 3 --dist loadfile`) hands test files to its workers.

pytest-xdist's loadfile hands out files by their number of tests, most first, so a file of one 5-minute test
(test_scale_out) started last, and one worker ran it alone while the other had finished. Started first, the
longest files run beside each other and the many short ones fill in the ends (longest processing time first,
near optimal on a few workers). Only the order changes: every file still runs whole on one worker.

The weights are each file's seconds in a full run (setup + call + teardown of its tests), in
tests/durations.json; a file not listed there weighs its number of tests times its tier's mean. Refresh it
after a full run with `--junitxml`:

    .venv/bin/pytest -q -p no:cacheprovider -n 3 --dist loadfile --junitxml=/tmp/suite.xml
    .venv/bin/python -m tests.schedule /tmp/suite.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

DURATIONS = Path(__file__).resolve().parent / "durations.json"
PER_TEST = {"e2e": 20.0, "integration": 3.0}  # seconds a test of an unlisted file is assumed to take
OTHER_PER_TEST = 0.2


def load_weights(path: Path = DURATIONS) -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError, AttributeError):
        return {}  # an order, not a check: without the file the guess by tier below orders alone


def weight(scope: str, tests: int, weights: dict[str, float]) -> float:
    """Seconds the file is expected to take on one worker."""
    if scope in weights:
        return weights[scope]
    tier = Path(scope).parts[1] if len(Path(scope).parts) > 2 else ""
    return tests * PER_TEST.get(tier, OTHER_PER_TEST)


def order(workqueue: dict[str, dict[str, bool]], weights: dict[str, float]) -> OrderedDict[str, Any]:
    """The work queue, heaviest file first (ties keep the collection's order)."""
    ranked = sorted(workqueue.items(), key=lambda item: -weight(item[0], len(item[1]), weights))
    return OrderedDict(ranked)


def scheduler(config: Any, log: Any) -> Any:
    """xdist's LoadFileScheduling whose queue is put in `order` before the first file is handed out."""
    from xdist.scheduler import LoadFileScheduling

    if not hasattr(LoadFileScheduling, "_assign_work_unit"):
        return (
            None  # the order rests on a private method: an xdist without it keeps its own order (same tests)
        )

    class LongestFileFirst(LoadFileScheduling):
        ordered = False

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the first call comes right after schedule() filled the queue
                self.workqueue = order(self.workqueue, load_weights())
                self.ordered = True
            super()._assign_work_unit(node)

    return LongestFileFirst(config, log)


def durations_from_junit(xml_file: Path) -> dict[str, float]:
    """Each test file's seconds from a junit XML report (pytest --junitxml), rounded to a tenth."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(xml_file).getroot().iter("testcase"):
        classname = case.get("classname", "")
        parts = classname.split(".")
        # tests.e2e.test_x (or tests.e2e.test_x.TestClass): the module is the longest prefix that is a file
        for end in range(len(parts), 0, -1):
            candidate = Path(*parts[:end]).with_suffix(".py")
            if (DURATIONS.parent.parent / candidate).is_file():
                seconds[candidate.as_posix()] += float(case.get("time", 0) or 0)
                break
    return {k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.schedule JUNIT_XML  (writes tests/durations.json)")
    found = durations_from_junit(Path(sys.argv[1]))
    DURATIONS.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    print(f"{len(found)} files, {sum(found.values()):.0f} s in all, written to {DURATIONS}")
