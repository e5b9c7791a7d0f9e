"""Issue #12, item 2, on real MLflow (SQLite), Prefect and scikit-learn: the champion is never judged on rows it
trained on. Its training rows are recorded with its run; a later retrain on grown data keeps them out of the
holdout (a stable split), and when the assignment changes anyway (another seed) they are left out of the
comparison, and the summary and the recorded evidence say how many rows were compared and excluded."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from flows.retrain import retrain
from mlops.spec import load_spec
from tasks import data
from tasks.report import summary_markdown
from tasks.tracking import ledger
from tasks.tracking.trained_rows import load_trained_rows

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

SEED_3 = "{strategy: stratified, holdout_fraction: 0.3, seed: 3}"


def rows_of(frame: pd.DataFrame) -> set[tuple]:
    return set(frame.itertuples(index=False, name=None))


def test_a_reshuffled_holdout_never_judges_the_champion_on_its_training_rows(project: Path) -> None:
    spec = project / "deployments" / "cancer.yaml"
    csv = project / "data" / "cancer.csv"
    full = pd.read_csv(csv)
    full.iloc[:400].to_csv(csv, index=False)  # data A
    first = retrain(str(spec))
    assert first.decision.rule == "first-model"
    recorded = load_trained_rows(first.run_id)
    assert recorded is not None and len(recorded.hashes) == len(
        data.split(data.read_frame(load_spec(spec)), load_spec(spec)).train
    )
    champion_train = rows_of(data.split(pd.read_csv(csv), load_spec(spec)).train)

    full.to_csv(csv, index=False)  # A plus new rows, and another seed: the assignment changes
    spec.write_text(spec.read_text().replace(SEED_3, SEED_3.replace("seed: 3", "seed: 4")))
    loaded = load_spec(spec)
    holdout = data.split(data.read_frame(loaded), loaded).holdout
    overlap = rows_of(holdout) & champion_train
    assert overlap, "the new seed should put some of the champion's training rows in the holdout"

    reshuffled = retrain(str(spec))
    ev = reshuffled.decision.evidence
    assert ev.excluded_rows == len(overlap)
    assert ev.holdout_rows == len(holdout) - len(overlap)
    line = f"Compared on {ev.holdout_rows:,} holdout rows ({len(overlap):,} rows the champion trained on excluded)"
    assert line in summary_markdown(reshuffled)
    # the decision recorded in the ledger carries the counts
    entry = ledger.history("cancer-model")[-1]
    recorded_ev = mlflow.artifacts.load_dict(f"runs:/{entry.run_id}/evidence.json")["evidence"]
    assert recorded_ev["holdout_rows"] == ev.holdout_rows and recorded_ev["excluded_rows"] == len(overlap)
