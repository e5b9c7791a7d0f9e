"""`mlops init` on real data files (scikit-learn's bundled data written as CSV and Parquet): the spec and suite it
writes pass `mlops validate`'s checks, the suite passes on the data it was made from and on an unlabelled copy
(as the monitor runs it), the retrain flow trains and promotes a first model at once, and no file is ever
overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.cli.checks import check_spec
from mlops.spec import load_spec
from tasks.data import builtin_frame, has_labels, load
from tasks.quality import run_suite

pytestmark = pytest.mark.integration


def init(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """`mlops init ARGS` run from the project folder, in this process: (exit code, stdout, stderr)."""
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["init", *args])
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def suite_passes(spec_file: Path) -> None:
    """The suite passes on the data as a retrain reads it, and on an unlabelled copy as the monitor checks one."""
    loaded = load_spec(spec_file)
    suite = loaded.resolve(loaded.spec.quality.suite)  # type: ignore[union-attr]
    frame = load(loaded)
    outcome = run_suite(frame, suite)
    assert outcome.success, outcome.message()
    target = loaded.spec.data.target
    unlabelled = frame.drop(columns=[target])
    skip = () if has_labels(unlabelled, target) else (target,)  # the monitor's rule (flows/monitor.py)
    outcome = run_suite(unlabelled, suite, skip_columns=skip)
    assert outcome.success and outcome.evaluated > 10, outcome.message()


def trains_and_promotes(spec_file: Path) -> None:
    from flows.retrain import retrain

    result = retrain(str(spec_file))
    assert result.decision.promote and result.decision.rule == "first-model"


def test_init_writes_a_classification_pipeline_that_validates_and_trains(
    project: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    builtin_frame("breast_cancer").to_csv(project / "data" / "tumours.csv", index=False)
    code, out, err = init(project, monkeypatch, "data/tumours.csv", "--target", "target")
    assert code == 0, err
    assert "Task: classification: the target 'target' holds text with 2 distinct values" in out
    assert "Split: stratified: no time column" in out
    assert "Metric: roc_auc: two classes" in out
    spec_file = project / "deployments" / "tumours.yaml"
    spec = load_spec(spec_file).spec
    assert spec.data.source.path == "data/tumours.csv" and spec.registry.model_name == "tumours"
    assert (spec.model.task, spec.data.split.strategy, spec.promotion.metric) == (
        "classification",
        "stratified",
        "roc_auc",
    )
    assert len(spec.data.features.numeric or []) == 30
    assert check_spec(spec_file)[1] == []
    suite_passes(spec_file)
    trains_and_promotes(spec_file)


def test_init_on_parquet_with_a_numeric_target_is_regression(
    project: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    builtin_frame("diabetes").to_parquet(project / "data" / "patients.parquet")
    code, out, err = init(
        project, monkeypatch, "data/patients.parquet", "--target", "target", "--name", "prog"
    )
    assert code == 0, err
    assert "Task: regression: the target 'target' is a number with 214 distinct values" in out
    assert "Split: random" in out and "Metric: rmse" in out
    spec_file = project / "deployments" / "prog.yaml"
    spec = load_spec(spec_file).spec
    assert spec.data.source.kind == "parquet" and spec.model.task == "regression"
    assert check_spec(spec_file)[1] == []
    suite_passes(spec_file)
    suite = json.loads((project / "expectations" / "prog.json").read_text())
    by = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert by[("expect_column_values_to_be_in_set", "sex")]["value_set"] == [1, 2]  # a code, not a range
    age = by[("expect_column_values_to_be_between", "age")]
    assert age["min_value"] < 19 and age["max_value"] > 79  # seen 19 to 79: widened by a margin
    trains_and_promotes(spec_file)


def test_init_with_a_time_column_splits_by_time_and_trains(
    project: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    frame = builtin_frame("breast_cancer")
    frame.insert(0, "day", pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d"))
    frame.insert(1, "Unnamed: 0", range(len(frame)))  # an index written with the data
    frame.to_csv(project / "data" / "daily.csv", index=False)
    code, out, err = init(
        project, monkeypatch, "data/daily.csv", "--target", "target", "--time-column", "day"
    )
    assert code == 0, err
    assert "Split: time: --time-column 'day'" in out
    assert "Left out: 'Unnamed: 0': an identifier" in out
    spec_file = project / "deployments" / "daily.yaml"
    spec = load_spec(spec_file).spec
    assert spec.data.time_column == "day" and spec.data.split.strategy == "time"
    assert "day" not in (spec.data.features.numeric or []) and "Unnamed: 0" not in (
        spec.data.features.numeric or []
    )
    assert check_spec(spec_file)[1] == []
    suite_passes(spec_file)
    trains_and_promotes(spec_file)


def test_init_refuses_to_overwrite_and_writes_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec_file, suite_file = project / "deployments" / "cancer.yaml", project / "expectations" / "cancer.json"
    before = spec_file.read_text(), suite_file.read_text()
    code, out, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target")
    assert code == 2
    assert f"{spec_file} already exists; `mlops init` never overwrites a file" in err
    assert (spec_file.read_text(), suite_file.read_text()) == before

    (project / "expectations" / "other.json").write_text("{}")  # only the suite of 'other' is there
    code, out, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "other")
    assert code == 2 and f"{project / 'expectations' / 'other.json'} already exists" in err
    assert not (project / "deployments" / "other.yaml").exists()
    assert (project / "expectations" / "other.json").read_text() == "{}"

    # a file where a folder must be: another --name (what the message said) could not help
    suites = project / "expectations"
    suites.rename(project / "suites-away")
    suites.write_text("")
    code, out, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "third")
    assert code == 2 and f"{suites} is a file where `mlops init` needs a folder; move it away" in " ".join(
        err.split()
    )
    assert not (project / "deployments" / "third.yaml").exists() and suites.read_text() == ""


def test_init_says_what_is_wrong_with_the_options(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = init(project, monkeypatch, "data/cancer.csv", "--target", "targt", "--name", "x")
    assert code == 2 and "--target 'targt' is not a column of the data; did you mean 'target'?" in err
    code, _, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target", "--time-column", "mean_radius", "--name", "x")  # fmt: skip
    assert code == 2 and "--time-column 'mean_radius' does not hold dates or times" in err
    code, _, err = init(project, monkeypatch, "data/nothing.csv", "--target", "target")
    assert code == 2 and "data/nothing.csv: no such data file" in err
    code, _, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "Bad Name")
    assert code == 2 and "'Bad Name' cannot name a pipeline" in err and "--name bad-name" in err
    assert sorted(p.name for p in (project / "deployments").iterdir()) == ["cancer.yaml"]
    assert sorted(p.name for p in (project / "expectations").iterdir()) == ["cancer.json"]


def test_init_removes_what_it_wrote_when_validate_would_refuse_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the project's cancer.yaml already registers 'cancer-model': a second pipeline may not name it
    code, _, err = init(
        project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "cancer-model"
    )
    assert code == 2
    assert "registry.model_name: 'cancer-model' is also the model of pipeline 'cancer'" in err
    assert not (project / "deployments" / "cancer-model.yaml").exists()
    assert not (project / "expectations" / "cancer-model.json").exists()


def test_profile_counts_the_rarest_class_of_a_target_with_many_classes() -> None:
    from tasks.profile import profile

    frame = pd.DataFrame({"x": range(1000), "y": [f"class-{i % 25}" for i in range(1000)]})
    frame.loc[:4, "y"] = "rare"
    x, y = profile(frame)
    assert (y.kind, y.distinct, y.values, y.smallest) == ("text", 26, None, 5)  # too many values for a set
    assert x.identifier and x.integer  # 0..999 in order: a row number


def test_init_says_the_holdout_share_the_retrains_time_split_really_gives(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.data.splits import split

    frame = builtin_frame("breast_cancer")
    six_years = [2018 + i * 6 // len(frame) for i in range(len(frame))]  # the cut cannot fall inside a year
    frame.insert(0, "year", six_years)
    frame.to_csv(project / "data" / "yearly.csv", index=False)
    code, out, err = init(
        project, monkeypatch, "data/yearly.csv", "--target", "target", "--time-column", "year"
    )
    assert code == 0, err
    loaded = load_spec(project / "deployments" / "yearly.yaml")
    parts = split(load(loaded), loaded)  # the retrain's own split
    share = len(parts.holdout) / (len(parts.train) + len(parts.holdout))
    assert round(share, 2) == 0.33  # asked 20%: the latest two of six years are held out
    assert f"Split: time: --time-column 'year': the latest {share:.0%} of the rows is held out" in out
    assert f"Warning: the time split holds out {share:.0%} of the rows, not the 20% asked" in out
    assert "'year' has 6 distinct values" in out and "strategy: random" in out
    assert (
        f"# warning: the time split holds out {share:.0%}"
        in (project / "deployments" / "yearly.yaml").read_text()
    )


def test_profile_reads_text_with_blanks_as_text_and_dates_written_as_text_as_time() -> None:
    from tasks.profile import profile

    frame = pd.DataFrame(
        {
            "notes": ["wet road", None, "dry", None, "icy"] * 20,  # an object column with blanks
            "day": pd.date_range("2021-01-01", periods=100, freq="D").strftime("%Y-%m-%d"),
            "stamp": pd.date_range("2021-01-01", periods=100, freq="h").strftime("%Y/%m/%d %H:%M"),
            "hour": ["06:30", "17:45"] * 50,  # a time of day: a feature, not a time to split by
            "flag": [True, None, False, True] * 25,  # true/false with blanks
        }
    )
    notes, day, stamp, hour, flag = profile(frame)
    assert (notes.kind, notes.nulls, notes.distinct) == ("text", 40, 3)
    assert (day.kind, day.text_time, day.distinct, day.first, day.last) == (
        "time", True, 100, "2021-01-01", "2021-04-10",
    )  # fmt: skip
    assert (stamp.kind, stamp.text_time, stamp.last) == ("time", True, "2021-01-05 03:00")
    assert (hour.kind, flag.kind) == ("text", "bool")


def test_a_column_that_alone_predicts_the_target_scores_near_one_and_noise_near_half() -> None:
    import numpy as np

    from mlops.init_policy import probable_leaks
    from tasks.data.leakage import alone_scores

    rng = np.random.default_rng(1)
    n = 2000
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-1.5 * x)), "yes", "no")
    frame = pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=n),
            "colour": rng.choice(["r", "g", "b"], n),
            "outcome_code": np.where(y == "yes", rng.choice(["K", "A"], n, p=[0.95, 0.05]), "N"),
            "y": y,
        }
    )
    scores = alone_scores(frame, "y", "classification", ["x", "noise", "colour", "outcome_code"], seed=42)
    assert scores == alone_scores(
        frame, "y", "classification", ["x", "noise", "colour", "outcome_code"], seed=42
    )
    assert scores["outcome_code"].value == 1.0 and scores["outcome_code"].metric == "roc_auc"
    assert 0.7 < scores["x"].value < 0.9 and abs(scores["noise"].value - 0.5) < 0.1
    assert abs(scores["colour"].value - 0.5) < 0.1
    assert list(probable_leaks(scores, "y")) == ["outcome_code"]
    amount = rng.gamma(2.0, 50.0, n)
    regression = pd.DataFrame(
        {"amount": amount, "tax": amount * 0.2 + rng.normal(0, 0.5, n), "z": rng.normal(size=n)}
    )
    r2 = alone_scores(regression, "amount", "regression", ["tax", "z"], seed=42)
    assert r2["tax"].metric == "r2" and r2["tax"].value > 0.95 and r2["z"].value < 0.05


def test_init_leaves_a_planted_leak_out_and_validate_warns_when_a_spec_trains_on_one(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.cli.spec_warnings import spec_warnings

    frame = builtin_frame("breast_cancer")
    # the diagnosis written another way: a code recorded after the biopsy, wrong on 1 row in 100
    code_of = {"malignant": "M", "benign": "B"}
    frame["biopsy_code"] = [code_of[t] if i % 100 else "X" for i, t in enumerate(frame["target"])]
    frame.to_csv(project / "data" / "biopsy.csv", index=False)
    code, out, err = init(project, monkeypatch, "data/biopsy.csv", "--target", "target")
    assert code == 0, err
    assert (
        "Left out: 'biopsy_code': probably a leak: alone it predicts 'target' with ROC AUC 1.000 on a holdout"
        in out
    )
    spec = load_spec(project / "deployments" / "biopsy.yaml").spec
    assert "biopsy_code" not in (spec.data.features.categorical or [])
    assert len(spec.data.features.numeric or []) == 30  # the strong honest features stay (perimeter: 0.97)
    assert spec_warnings(project / "deployments" / "biopsy.yaml") == []

    code, out, err = init(
        project,
        monkeypatch,
        "data/biopsy.csv",
        "--target",
        "target",
        "--keep",
        "biopsy_code",
        "--name",
        "kept",
    )
    assert code == 0, err
    assert (
        "Kept: 'biopsy_code': --keep, as a categorical feature (it would have been left out: probably a leak"
        in out
    )
    (warning,) = spec_warnings(project / "deployments" / "kept.yaml")
    assert "kept: data.features include 'biopsy_code', which is probably a leak" in warning
    assert "remove it from data.features" in warning
    assert spec_warnings(project / "deployments" / "kept.yaml") == [warning]  # remembered: the same answer


def crash_table(rows: int = 2400, seed: int = 11) -> pd.DataFrame:
    """A table as users bring them: a case id, the date as text, numbers, a category with blanks, free text with
    blanks, a constant, and a severity code written after the outcome (a planted leak)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    speed, light = rng.normal(60, 15, rows).round(1), rng.uniform(0, 1, rows).round(3)
    road = rng.choice(["dry", "wet", "icy"], rows, p=[0.6, 0.3, 0.1])
    logit = 0.06 * (speed - 60) - 1.5 * light + (road == "icy") * 1.2
    injured = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    words = np.array(["hit a tree", "rear-ended", "skidded", "rolled over", "hit a deer"], dtype=object)
    notes = np.array(
        [f"{w} near km {k}" for w, k in zip(rng.choice(words, rows), rng.integers(1, 900, rows), strict=True)]
    )
    days = pd.Timestamp("2019-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 1400, rows)), unit="D")
    return pd.DataFrame(
        {
            "case_id": rng.permutation(rows) + 880_000,
            "reported": days.strftime("%Y-%m-%d"),
            "speed": speed,
            "light": light,
            "road": pd.Series(road, dtype=object).where(rng.random(rows) > 0.05),  # 5% blank
            "notes": pd.Series(notes, dtype=object).where(rng.random(rows) > 0.2),  # free text, 20% blank
            "country": "NZ",
            "severity": np.where(
                injured == "yes", rng.choice([3, 4], rows, p=[0.2, 0.8]), rng.choice([1, 2], rows)
            ),
            "injured": injured,
        }
    )


def test_init_on_a_users_table_leaves_out_the_leak_and_id_trains_and_five_bad_values_reach_the_rejects(
    project: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None, tmp_path: Path
) -> None:
    from flows.monitor import monitor
    from flows.predict import predict

    frame = crash_table()
    frame.to_csv(project / "data" / "crashes.csv", index=False)
    code, out, err = init(project, monkeypatch, "data/crashes.csv", "--target", "injured")
    assert code == 0, err
    left = {line.split("'")[1]: line for line in out.splitlines() if line.startswith("Left out: ")}
    assert set(left) == {"case_id", "reported", "notes", "country", "severity"}
    assert "an identifier" in left["case_id"] and "probably a leak" in left["severity"]
    assert (
        "dates or times written as text" in left["reported"] and "--time-column reported" in left["reported"]
    )
    assert "free text" in left["notes"] and "blank" in left["notes"] and "a constant" in left["country"]
    assert "each row-wise one tolerates up to 1% bad rows, mostly: 0.99" in out
    spec_file = project / "deployments" / "crashes.yaml"
    spec = load_spec(spec_file).spec
    assert (spec.data.features.numeric, spec.data.features.categorical) == (["speed", "light"], ["road"])
    assert check_spec(spec_file)[1] == []
    trains_and_promotes(spec_file)

    batch = frame.drop(columns=["injured"]).tail(1057).reset_index(drop=True)
    batch["speed"] = batch["speed"].astype(object)
    batch.loc[[5, 100, 400, 800, 1000], "speed"] = ["?", "unknown", "?", "fast", "--"]
    batch.to_csv(tmp_path / "batch.csv", index=False)
    scored = predict(str(spec_file), str(tmp_path / "scored.parquet"), batch=str(tmp_path / "batch.csv"))
    assert (scored.rows, scored.scored, scored.rejected) == (1057, 1052, 5)
    rejects = pd.read_csv(scored.rejects)
    assert rejects["row"].tolist() == [5, 100, 400, 800, 1000]
    assert rejects["reject_reason"].str.startswith("'speed' is not a number").all()

    judged = monitor(str(spec_file), batch=str(tmp_path / "batch.csv"))
    assert any(n.startswith("5 of 1,057 rows set aside, not judged") for n in judged.notes), judged.notes

    # the monitor on labelled batches (the default quality rule): new rows like the old stay quiet (exit 0), the
    # same rows with 45% of their labels wrong are a quality drop it acts on (exit 3)
    import numpy as np

    fresh = crash_table(rows=1057, seed=12)
    fresh.to_csv(tmp_path / "fresh.csv", index=False)
    quiet = monitor(str(spec_file), batch=str(tmp_path / "fresh.csv"))
    assert not quiet.verdict.acts, (quiet.verdict.reasons, quiet.notes)
    flip = np.random.default_rng(13).random(len(fresh)) < 0.45
    fresh.loc[flip, "injured"] = fresh.loc[flip, "injured"].map({"yes": "no", "no": "yes"})
    fresh.to_csv(tmp_path / "wrong.csv", index=False)
    dropped = monitor(str(spec_file), batch=str(tmp_path / "wrong.csv"))
    assert dropped.verdict.acts and dropped.verdict.quality_dropped, dropped.verdict.reasons


def test_a_suite_checking_columns_the_spec_no_longer_reads_is_warned_and_suite_only_rewrites_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from mlops.cli.spec_warnings import spec_warnings

    code, _, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "tumours")
    assert code == 0, err
    spec_file, suite_file = (
        project / "deployments" / "tumours.yaml",
        project / "expectations" / "tumours.json",
    )
    assert spec_warnings(spec_file) == []
    doc = yaml.safe_load(spec_file.read_text())
    doc["data"]["features"]["numeric"].remove("mean_radius")  # a feature taken out by hand
    spec_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    (warning,) = spec_warnings(spec_file)
    assert "expectations/tumours.json checks column 'mean_radius' that the spec no longer reads" in warning
    assert "every batch without it would stop at the quality gate" in warning
    assert "`mlops init --suite-only --name tumours --force`" in warning

    before = suite_file.read_text()
    code, _, err = init(project, monkeypatch, "--suite-only", "--name", "tumours")
    assert code == 2 and "replaces it only with --force" in err and suite_file.read_text() == before
    code, _, err = init(project, monkeypatch, "--suite-only", "--name", "tumours", "--target", "target")
    assert code == 2 and "leave out --target" in err
    spec_text = spec_file.read_text()
    code, out, err = init(project, monkeypatch, "--suite-only", "--name", "tumours", "--force")
    assert code == 0, err
    assert "from tumours.yaml's columns: target 'target'" in out and "the spec was left alone" in out
    assert "No longer checked: 'mean_radius'." in out
    assert spec_file.read_text() == spec_text
    assert "mean_radius" not in suite_file.read_text() and spec_warnings(spec_file) == []
    assert check_spec(spec_file)[1] == []
    suite_passes(spec_file)
    code, _, err = init(
        project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "x", "--force"
    )
    assert code == 2 and "--force only goes with --suite-only" in err


def test_init_in_a_bare_folder_makes_the_store_so_commands_find_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23: a folder with only a data file becomes a project (deployments/ and .mlops/), and a command run
    from deployments/ then uses that store instead of making one there; init says when `mlops promote` helps."""
    bare = tmp_path / "bare"
    bare.mkdir()
    builtin_frame("breast_cancer").to_csv(bare / "tumours.csv", index=False)
    monkeypatch.delenv("MLOPS_HOME")
    code, out, err = init(bare, monkeypatch, "tumours.csv", "--target", "target")
    assert code == 0, err
    assert (bare / ".mlops").is_dir() and (bare / "deployments" / "tumours.yaml").is_file()
    assert "mlops promote deployments/tumours.yaml --version N --reason TEXT" in " ".join(out.split())
    monkeypatch.chdir(bare / "deployments")
    result = CliRunner().invoke(app, ["status", "tumours.yaml"])
    assert result.exit_code == 0 and "No versions of 'tumours' yet" in result.output, result.output
    assert not (
        bare / "deployments" / ".mlops"
    ).exists()  # the project's store, not a new one beside the spec
    assert not (bare / ".mlops" / "mlflow.db").exists()  # and a read before any run creates no store file


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("empty", "the file is empty (no header row, no rows)"),
        ("header-only", "no rows"),
        ("not-parquet", "cannot be read"),
        ("a-folder", "a folder, not a data file"),
        ("no-target", "the data has no column 'target'"),
        ("missing-table", "nowhere"),
    ],
)
def test_a_suite_only_input_that_cannot_work_is_one_paragraph_exit_2_nothing_written(
    project: Path, monkeypatch: pytest.MonkeyPatch, case: str, said: str
) -> None:
    """Beyond the overwrite refusal: an empty data file, one with a header and no rows, a file that is not the
    format its name says, a folder, data without the spec's target, a spec whose table is not in its database;
    each is one paragraph with exit 2, and the suite is not written (nor a temporary file left)."""
    code, _, err = init(project, monkeypatch, "data/cancer.csv", "--target", "target", "--name", "tumours")
    assert code == 0, err
    suite = project / "expectations" / "tumours.json"
    suite.unlink()
    args = ["--suite-only", "--name", "tumours"]
    bad = project / "data" / "bad.csv"
    if case == "empty":
        bad.write_text("")
    elif case == "header-only":
        bad.write_text((project / "data" / "cancer.csv").read_text().splitlines()[0] + "\n")
    elif case == "not-parquet":
        bad = bad.with_suffix(".parquet")
        bad.write_text("mean_radius,target\n1,benign\n")
    elif case == "a-folder":
        bad.mkdir()
    elif case == "no-target":
        pd.read_csv(project / "data" / "cancer.csv").drop(columns=["target"]).to_csv(bad, index=False)
    if case == "missing-table":
        import duckdb

        duckdb.connect(str(project / "data" / "db.duckdb")).close()
        monkeypatch.setenv("TUMOURS_DB_URL", f"duckdb:///{project / 'data' / 'db.duckdb'}")
        spec = project / "deployments" / "tumours.yaml"
        spec.write_text(
            spec.read_text().replace(
                "{kind: csv, path: data/cancer.csv}", "{kind: sql, url_env: TUMOURS_DB_URL, table: nowhere}"
            )
        )
    else:
        args.insert(0, str(bad))
    code, out, err = init(project, monkeypatch, *args)
    assert code == 2, out + err
    assert said in err and err.startswith("error: ") and "Traceback" not in out + err, err
    assert not suite.exists() and not list(suite.parent.glob(".*tmp"))
