"""The monitor's drift report (tasks.drift.drift_report) against Evidently's DataDriftPreset doing the same tests,
in the same process, one after the other: CPU seconds of each, report and HTML, on the breast-cancer data (569 rows,
30 numeric columns, five of them moved). The first round warms both up and is not counted.

usage: python bench/drift_report.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def main(rounds: int = 3) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from tasks.data import builtin_frame
    from tasks.drift import drift_report

    reference = builtin_frame("breast_cancer")
    numeric = [c for c in reference.columns if c != "target"]
    current = reference.copy()
    current[numeric[:5]] = current[numeric[:5]] * 3
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=[])
    out = Path(tempfile.mkdtemp())

    def preset(i: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snapshot = Report([DataDriftPreset(columns=numeric)], include_tests=True).run(
                current_data=Dataset.from_pandas(current[numeric], data_definition=definition),
                reference_data=Dataset.from_pandas(reference[numeric], data_definition=definition),
            )
        snapshot.save_html(str(out / f"preset-{i}.html"))
        (out / f"preset-{i}.json").write_text(snapshot.dumps(), encoding="utf-8")

    def ours(i: int) -> None:
        drift_report(
            reference, current, numeric=numeric, categorical=[],
            html_path=out / f"ours-{i}.html", snapshot_path=out / f"ours-{i}.json",
        )  # fmt: skip

    took: dict[str, list[float]] = {"DataDriftPreset": [], "drift_report": []}
    for i in range(rounds + 1):
        for name, run in (("DataDriftPreset", preset), ("drift_report", ours)):
            start = time.process_time()
            run(i)
            if i:
                took[name].append(time.process_time() - start)
    bare, mine = statistics.median(took["DataDriftPreset"]), statistics.median(took["drift_report"])
    print(f"DataDriftPreset report + HTML + snapshot: {bare:.2f} s CPU (median of {rounds})")
    print(f"tasks.drift.drift_report, the same:       {mine:.2f} s CPU ({mine / bare:.2f}x)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
