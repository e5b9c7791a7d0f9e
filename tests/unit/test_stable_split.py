"""Issue #12, item 2: the champion is never judged on rows it trained on.

The holdout assignment is stable per row (a seeded hash of the row's key), so a row that was in a training set
never lands in a later holdout of the same pipeline when the data grows or the window moves; rows sharing a
timestamp stay on one side of every split; and the comparison leaves out the rows the champion trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.errors import DataError
from mlops.spec import load_spec
from tests.conftest import spec_text, write_spec

SPLIT = "{strategy: stratified, holdout_fraction: 0.3, seed: 3}"


def loaded_spec(tmp_path: Path, split: str, time_column: bool = True):
    extra = "\n  time_column: when" if time_column else ""
    return load_spec(write_spec(tmp_path, spec_text(suite=None).replace(SPLIT, split + extra)))


def rows(start: int, stop: int, per_stamp: int = 3) -> pd.DataFrame:
    """Rows `start..stop` (their ids), `per_stamp` rows sharing each hourly timestamp, newer ids newer."""
    ids = np.arange(start, stop)
    # each row's values depend on its id only: the same row is the same in every frame
    return pd.DataFrame({
        "id": ids,
        "when": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(ids // per_stamp, unit="h"),
        "x": (ids * 2654435761 % 1000) / 100.0, "k": np.where(ids * 7919 % 5 < 2, "a", "b"),
        "target": np.where(ids % 3 == 0, "yes", "no"),
    })  # fmt: skip


def ids(frame: pd.DataFrame) -> set[int]:
    return set(frame["id"].tolist())


def later_frames(n: int) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(what changed, earlier frame, later frame): appended rows, and a window moving forward."""
    return [
        ("grown", rows(0, n), rows(0, n + n // 2)),
        ("grown a little", rows(0, n), rows(0, n + 7)),
        ("moved", rows(0, n), rows(n // 3, n + n // 3)),
        ("moved and grown", rows(30, n), rows(90, 2 * n)),
    ]


@pytest.mark.parametrize("strategy", ["random", "stratified", "time"])
@pytest.mark.parametrize("time_column", [True, False])
def test_no_row_trained_on_lands_in_a_later_holdout(tmp_path: Path, strategy: str, time_column: bool) -> None:
    from tasks import data

    if strategy == "time" and not time_column:
        pytest.skip("a time split needs a time column")
    for seed in (0, 3, 11):
        for fraction in (0.2, 0.3):
            loaded = loaded_spec(
                tmp_path, f"{{strategy: {strategy}, holdout_fraction: {fraction}, seed: {seed}}}", time_column
            )
            for n in (150, 400):
                for what, before, after in later_frames(n):
                    first, second = data.split(before, loaded), data.split(after, loaded)
                    leaked = ids(first.train) & ids(second.holdout)
                    assert not leaked, (strategy, seed, fraction, n, what, sorted(leaked)[:10])
                    assert ids(first.train) | ids(first.holdout) == ids(before)
                    # the holdout is about the declared share of the rows (a per-row draw, not an exact count)
                    assert abs(len(second.holdout) / len(after) - fraction) < 0.12, (
                        what,
                        len(second.holdout),
                    )


def test_the_split_is_the_same_for_the_same_rows_in_any_order(tmp_path: Path) -> None:
    from tasks import data

    loaded = loaded_spec(tmp_path, "{strategy: random, holdout_fraction: 0.3, seed: 5}", time_column=False)
    f = rows(0, 300)
    a, b = data.split(f, loaded), data.split(f.sample(frac=1, random_state=1), loaded)
    assert ids(a.holdout) == ids(b.holdout)
    assert a.holdout_sha256 == data.split(f, loaded).holdout_sha256  # deterministic


def test_a_different_seed_draws_a_different_holdout(tmp_path: Path) -> None:
    from tasks import data

    f = rows(0, 300)
    one = data.split(f, loaded_spec(tmp_path, "{strategy: random, holdout_fraction: 0.3, seed: 1}", False))
    two = data.split(f, loaded_spec(tmp_path, "{strategy: random, holdout_fraction: 0.3, seed: 2}", False))
    assert ids(one.holdout) != ids(two.holdout)


@pytest.mark.parametrize("strategy", ["random", "stratified", "time"])
def test_rows_sharing_a_timestamp_stay_on_one_side_of_both_splits(tmp_path: Path, strategy: str) -> None:
    from tasks import data

    for seed in (0, 1, 2, 3):
        loaded = loaded_spec(tmp_path, f"{{strategy: {strategy}, holdout_fraction: 0.25, seed: {seed}}}")
        for n in (200, 301, 334):
            parts = data.split(rows(0, n, per_stamp=3), loaded)
            assert not set(parts.train["when"]) & set(parts.holdout["when"]), (strategy, seed, n)
            fit, validation = data.validation_split(parts, loaded)
            assert not set(fit["when"]) & set(validation["when"]), (strategy, seed, n)
            assert ids(fit) | ids(validation) == ids(parts.train) and len(fit) and len(validation)
            if strategy == "time":
                assert fit["when"].max() < validation["when"].min()


def test_a_declared_row_key_keeps_a_row_on_its_side_when_its_values_change(tmp_path: Path) -> None:
    from tasks import data

    loaded = loaded_spec(
        tmp_path, "{strategy: random, holdout_fraction: 0.3, seed: 4, key: [id]}", time_column=False
    )
    f = rows(0, 300)
    corrected = f.assign(x=f["x"] + 1.0, target=np.where(f["target"] == "yes", "no", "yes"))
    assert ids(data.split(f, loaded).holdout) == ids(data.split(corrected, loaded).holdout)


def test_a_row_key_naming_a_missing_column_is_refused(tmp_path: Path) -> None:
    from tasks import data

    loaded = loaded_spec(tmp_path, "{strategy: random, holdout_fraction: 0.3, key: [order_id]}", False)
    with pytest.raises(DataError, match=r"data\.split\.key.*order_id"):
        data.split(rows(0, 100), loaded)


def test_the_comparison_leaves_out_the_rows_the_champion_trained_on(tmp_path: Path) -> None:
    """A changed seed reshuffles the assignment: the rows of the new holdout the champion trained on are not
    compared, and both models are scored on the same remaining rows."""
    from tasks import data, evaluate, train

    old = loaded_spec(tmp_path, "{strategy: random, holdout_fraction: 0.3, seed: 1}", time_column=False)
    champion_parts = data.split(rows(0, 300), old)
    trained = data.training_rows(champion_parts)
    new = loaded_spec(tmp_path, "{strategy: random, holdout_fraction: 0.3, seed: 2}", time_column=False)
    parts = data.split(rows(0, 400), new)
    overlap = ids(champion_parts.train) & ids(parts.holdout)
    assert overlap  # the reshuffle put some of the champion's training rows in the new holdout
    fitted = train.train(parts, new.spec.model, "target", 2)
    compared = evaluate.comparison_set(parts, fitted, trained, "target", "classification")
    assert compared.excluded_rows == len(overlap)
    assert ids(compared.holdout) == ids(parts.holdout) - overlap
    assert len(compared.predictions.y) == len(compared.holdout) == compared.compared_rows
    assert compared.metrics == train.score(fitted.model, compared.holdout, parts.features.all, "target",
                                           "classification")  # fmt: skip

    nothing_known = evaluate.comparison_set(parts, fitted, None, "target", "classification")
    assert nothing_known.excluded_rows == 0 and not nothing_known.champion_rows_known
    assert nothing_known.metrics == fitted.metrics and len(nothing_known.holdout) == len(parts.holdout)


def test_the_evidence_says_how_many_rows_were_compared_and_excluded() -> None:
    from mlops.policy import Evidence

    assert Evidence(120, excluded_rows=51).compared_text() == (
        "compared on 120 holdout rows (51 rows the champion trained on excluded)"
    )
    assert "none could be excluded" in Evidence(171, champion_rows_known=False).compared_text()


def test_nothing_left_to_compare_on_is_a_recorded_no() -> None:
    """Every holdout row was trained on by the champion: the challenger's metrics are NaN (nothing to score),
    and the decision is a rejection that says why, not "the challenger has no valid roc_auc"."""
    from mlops.policy import Evidence, decide
    from mlops.spec import Promotion

    d = decide({"roc_auc": float("nan")}, {"roc_auc": 0.9}, Promotion(metric="roc_auc"),
               evidence=Evidence(0, excluded_rows=171))  # fmt: skip
    assert not d.promote and d.rule == "holdout-too-small"
    assert "after excluding 171 rows the champion trained on" in d.reasons[0]


def test_a_validation_part_that_cannot_be_cut_names_what_asked_for_it(tmp_path: Path) -> None:
    """The training rows all share one timestamp: no validation part. The message names the declared field that
    needed one (here model.candidates), not a fixed guess."""
    from tasks import data

    loaded = loaded_spec(tmp_path, "{strategy: time, holdout_fraction: 0.25, seed: 0}")
    text = loaded.path.read_text().replace(
        "  params: {C: 1.0, max_iter: 500}\n", "  params: {C: 1.0, max_iter: 500}\n  candidates: [{C: 0.1}]\n"
    )
    loaded.path.write_text(text)
    loaded = load_spec(loaded.path)
    parts = data.split(rows(0, 40, per_stamp=30), loaded)  # 30 training rows at one time, 10 held out
    with pytest.raises(
        DataError, match="to choose among model.candidates: every training row shares"
    ) as caught:
        data.validation_split(parts, loaded)
    assert "remove model.candidates" in str(caught.value)
