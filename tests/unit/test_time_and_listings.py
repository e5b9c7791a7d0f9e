"""Issue #13, time columns and windows, status/history/replay: the pure parts and the CLI's own checks (time
columns read as years, epoch seconds or text, or refused by `mlops validate`; dates as people type them;
quarterly and yearly replays; a time split that says when ties moved its holdout; the listings' wording, JSON and
wrapping; the decision sentence on a model version)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from mlops.cli import app
from mlops.drift_policy import periods
from mlops.errors import DataError
from mlops.spec import load_spec
from mlops.timeutil import parse_time
from tasks import data
from tasks.tracking.ledger import LedgerEntry
from tests.conftest import cancer_frame, spec_text, write_spec


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- dates as people type them -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2013", utc(2013, 1, 1)),
        ("2013-07", utc(2013, 7, 1)),
        ("2013-07-01", utc(2013, 7, 1)),
        ("2013-07-01T06:00", utc(2013, 7, 1, 6)),
    ],
)
def test_command_line_dates_accept_what_people_type(typed: str, expected: datetime) -> None:
    assert parse_time(typed) == expected


def test_a_year_alone_is_a_year_in_a_window_not_seconds_after_1970(tmp_path: Path) -> None:
    from mlops.timeutil import as_iso

    spec = write_spec(
        tmp_path,
        spec_text(suite=None).replace("  target: target\n", "  target: target\n  time_column: when\n"),
    )
    window = load_spec(spec).with_window("2013", "2013-07").spec.data.window
    assert window is not None
    assert (window.start, window.end) == (datetime(2013, 1, 1), datetime(2013, 7, 1))
    assert as_iso("2013-07-01T06:00") == "2013-07-01T06:00"


def test_the_cli_refuses_a_date_it_cannot_read_and_names_the_forms() -> None:
    result = CliRunner().invoke(app, ["run", "retrain", "nowhere.yaml", "--start", "July"])
    assert result.exit_code == 2
    assert "--start 'July' is not a date" in " ".join(result.output.split())


# --- replay periods ----------------------------------------------------------------------------------------


def test_replay_periods_by_quarter_and_year_end_on_calendar_boundaries() -> None:
    quarters = periods(utc(2013, 2, 15), utc(2014, 3, 1), "quarter")
    assert quarters == [
        (utc(2013, 2, 15), utc(2013, 4, 1)),
        (utc(2013, 4, 1), utc(2013, 7, 1)),
        (utc(2013, 7, 1), utc(2013, 10, 1)),
        (utc(2013, 10, 1), utc(2014, 1, 1)),
        (utc(2014, 1, 1), utc(2014, 3, 1)),
    ]
    assert periods(utc(2012, 6, 1), utc(2014, 1, 1), "year") == [
        (utc(2012, 6, 1), utc(2013, 1, 1)),
        (utc(2013, 1, 1), utc(2014, 1, 1)),
    ]
    months = periods(utc(2013, 11, 15), utc(2014, 2, 1), "month")
    assert [p[0].month for p in months] == [11, 12, 1]


def test_replay_refuses_an_unknown_period_naming_all_five(project: Path) -> None:
    spec = project / "deployments" / "cancer.yaml"
    result = CliRunner().invoke(
        app, ["replay", str(spec), "--start", "2013", "--end", "2014", "--every", "fortnight"]
    )
    assert result.exit_code == 2
    assert "--every must be one of day, week, month, quarter, year, not 'fortnight'" in result.output


# --- time columns ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "how", "first"),
    [
        ([1997, 1998, None], "integer years", utc(1997, 1, 1)),
        (["1997", "1998"], "integer years", utc(1997, 1, 1)),
        ([1372636800, 1372640400], "epoch seconds", utc(2013, 7, 1)),
        (["2013-07-01", "2013-07-02"], "dates", utc(2013, 7, 1)),
        (["2013-07-01 06:00", "2013-07-02T07:30"], "datetimes", utc(2013, 7, 1, 6)),
    ],
)
def test_a_time_column_is_read_and_says_how(values: list, how: str, first: datetime) -> None:
    from tasks.data.timecol import read_time

    times, read_as = read_time(pd.Series(values, name="when"))
    assert read_as == how
    assert times.iloc[0] == pd.Timestamp(first)


@pytest.mark.parametrize(
    ("values", "why"),
    [
        (["monday", "2013-07-01"], "1 value(s) are not dates or times, e.g. 'monday'"),
        ([1, 2, 3], "its numbers (1 to 3) are neither years (1000-2999) nor epoch seconds, e.g. 1, 2, 3"),
        ([1997.5, 1998.0], "it holds fractional numbers, e.g. 1997.5"),
        ([True, False], "it holds true/false values"),
        # day and month in an order the text does not say: never guessed (pandas: 1 May, and 13 January row by row)
        (["05/01/2021", "13/01/2021"], "in 2 value(s) day and month come in an order the text does not say"),
        (
            ["2021-01-04", "5.1.21 06:00"],
            "in 1 value(s) day and month come in an order the text does not say",
        ),
    ],
)
def test_an_unreadable_time_column_is_refused_naming_it_and_the_forms(values: list, why: str) -> None:
    from tasks.data.timecol import read_time

    with pytest.raises(DataError) as caught:
        read_time(pd.Series(values, name="when"))
    text = str(caught.value)
    assert text.startswith(f"the time column 'when' (data.time_column) cannot be read as time: {why}")
    assert "Accepted: dates or datetimes" in text and "integer years (1997)" in text
    assert "epoch seconds" in text and "np.int64" not in text


def test_integer_years_make_a_window_that_holds_the_rows() -> None:
    frame = pd.DataFrame({"year": [1996, 1997, 1998, 1999], "x": [1, 2, 3, 4]})
    frame["year"] = data.as_time(frame["year"])
    kept = data.in_window(frame, "year", "1997", "1999")
    assert kept["x"].tolist() == [2, 3]


def year_project(project: Path, years: list[object]) -> Path:
    frame = cancer_frame()
    frame["year"] = [years[i % len(years)] for i in range(len(frame))]
    frame.to_csv(project / "data" / "cancer.csv", index=False)
    spec = project / "deployments" / "cancer.yaml"
    spec.write_text(spec.read_text().replace("  target: target\n", "  target: target\n  time_column: year\n"))
    return spec


def test_validate_says_how_an_integer_year_column_was_read(project: Path) -> None:
    spec = year_project(project, list(range(1990, 2010)))
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert f"✓ {spec} (time column 'year': integer years)" in result.output
    again = runner.invoke(app, ["validate", str(spec)])  # from the cache of checked inputs: still said
    assert f"✓ {spec} (time column 'year': integer years)" in again.output


def test_validate_refuses_a_text_time_column_naming_it_and_the_forms(project: Path) -> None:
    spec = year_project(project, ["monday", "tuesday"])
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.split())
    assert (
        f"{spec}: data.time_column: the time column 'year' (data.time_column) cannot be read as time" in text
    )
    assert "e.g. 'monday', 'tuesday'" in text and "integer years (1997)" in text
    assert "Traceback" not in result.output


# --- a time split whose ties moved the holdout -------------------------------------------------------------


def test_a_time_split_says_when_ties_on_the_cut_moved_the_holdout(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        spec_text(suite=None).replace(
            "{strategy: stratified, holdout_fraction: 0.3, seed: 3}",
            "{strategy: time, holdout_fraction: 0.25}\n  time_column: when",
        ),
    )
    loaded = load_spec(spec)
    n = 200
    frame = pd.DataFrame({
        "when": pd.to_datetime(["2024-01-01"] * 130 + ["2024-01-02"] * 70, utc=True),
        "x": range(n), "target": ["yes", "no"] * (n // 2),
    })  # fmt: skip
    parts = data.split(frame, loaded)  # the cut (row 150) falls on 2 January: its 70 rows are all held out
    assert len(parts.holdout) == 70
    assert (
        "(holdout 35% of the rows, not the 25% asked: rows sharing a timestamp stay on one side"
        in parts.description
    )
    even = frame.assign(when=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    assert "asked" not in data.split(even, loaded).description  # 25% held out exactly: nothing to say


# --- status, history, rollback wording, JSON, wrapping --------------------------------------------------------


def entry(at: str, action: str, before: str, after: str, **kw: object) -> LedgerEntry:
    fields: dict = dict(version=after, actor="rule:improved", rule="improved", reasons=["better"], run_id="r")
    return LedgerEntry(at=at, action=action, champion_before=before, champion_after=after, **(fields | kw))


def version(
    number: str, aliases: list[str], decision: str = "promoted", rule: str = "improved"
) -> SimpleNamespace:
    tags = {"decision": decision, "decision.rule": rule, "decision.at": f"2026-01-0{number}T00:00:00Z"}
    return SimpleNamespace(
        version=number, aliases=aliases, created=f"2026-01-0{number} 00:00:00", metrics={"roc_auc": 0.9},
        tags=tags, tag=lambda name, t=tags: t.get(name, ""),
    )  # fmt: skip


def test_status_shows_the_ledger_entry_that_made_the_champion_a_rollback_included() -> None:
    from mlops.cli import listings

    entries = [
        entry("2026-01-01T00:00:00Z", "promote", "", "1"),
        entry("2026-01-02T00:00:00Z", "promote", "1", "2"),
        entry("2026-01-03T00:00:00Z", "reject", "2", "2", version="3", rule="not-improved"),
        entry(
            "2026-01-04T09:30:00Z",
            "rollback",
            "2",
            "1",
            actor="user:ana",
            rule="manual-rollback",
            reasons=["complaints"],
        ),  # fmt: skip
    ]
    versions = [version("3", [], "rejected"), version("2", ["previous"]), version("1", ["champion"])]
    doc = listings.status_document("m", versions, entries, "roc_auc")
    assert doc["champion"]["version"] == "1"
    assert doc["champion"]["since"] == "2026-01-04T09:30:00Z"  # the rollback, not v1's first promotion
    assert doc["champion"]["changed_by"]["action"] == "rollback"
    assert doc["champion"]["changed_by"]["actor"] == "user:ana"
    assert listings.champion_change(entries[:3], "2").at == "2026-01-02T00:00:00Z"
    json.dumps(doc)  # scripts read it


def test_a_rollback_is_worded_as_what_it_is() -> None:
    from mlops.cli import listings

    spec = Path("deployments/m.yaml")
    back = listings.rollback_message("m", "3", "1", version("1", ["champion"]), spec)
    assert back.startswith("m: champion moved back from v3 to v1; recorded")
    forward = listings.rollback_message(
        "m", "2", "3", version("3", ["champion"], "rejected", "not-improved"), spec
    )
    assert forward.startswith("m: champion moved forward from v2 to v3 (v3 is newer than v2)")
    assert "v3 had been rejected by the policy (not-improved) and is now champion by your decision" in forward


def printed(fn, *args: object) -> str:  # type: ignore[no-untyped-def]
    from mlops.cli import listings

    buffer = io.StringIO()
    console = Console(file=buffer, width=80, highlight=False, soft_wrap=True)
    original = listings.out
    listings.out = console
    try:
        fn(*args)
    finally:
        listings.out = original
    return buffer.getvalue()


def test_listings_wrap_in_80_columns_instead_of_cutting_timestamps() -> None:
    from mlops.cli import listings

    entries = [
        entry(
            "2026-11-22T03:49:54Z",
            "smoke-test-rollback",
            "12",
            "13",
            actor="approval:someone@example.com",
            reasons=["a long reason " * 6],
        ),  # fmt: skip
    ]
    text = printed(listings.print_history, "a-rather-long-model-name", entries)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    assert "│ 2026-11-22T03:49:54Z │" in text  # the timestamp whole, on one line
    assert "@example" in text and "reason" in text  # the other cells wrap


def test_the_replay_timeline_prints_as_json_with_whole_values(capsys: pytest.CaptureFixture[str]) -> None:
    from mlops.cli import listings
    from tasks.report import Timeline, TimelineRow

    row = TimelineRow("2013-07-01", 120, "FAILED", None, None,
                      "stopped: expect_column_values_to_be_between on 'x': 3 unexpected rows", "1")  # fmt: skip
    ok = TimelineRow("2013-08-01", 100, "passed", 0.123456789, 0.987654321, "none", "1")
    timeline = Timeline(rows=[row, ok], csv_path="t.csv", metric="roc_auc")
    listings.print_replay(timeline, True)
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"][0]["rows"] == 120 and doc["rows"][0]["action"].startswith("stopped: expect_column")
    assert doc["rows"][1]["drift_share"] == 0.123456789 and doc["metric"] == "roc_auc"


def test_every_listing_command_has_a_json_option() -> None:
    runner = CliRunner()
    for command in ("status", "history", "replay"):
        result = runner.invoke(app, [command, "--help"])
        assert "--json" in result.output, command


# --- the decision in one sentence on the model version -------------------------------------------------------


def test_a_version_description_is_the_decision_in_one_sentence() -> None:
    from mlops.policy import decide
    from mlops.spec import Promotion
    from tasks.tracking.registry import version_description

    policy = Promotion(metric="roc_auc", min_improvement=0.01)
    first = decide({"roc_auc": 0.8}, None, policy)
    text = version_description(first, None, "auto", "")
    assert text.startswith(
        "Promoted by the promotion policy (rule 'first-model') with no champion before it, "
    )
    worse = decide({"roc_auc": 0.8}, {"roc_auc": 0.85}, policy)
    text = version_description(worse, "4", "auto", "")
    assert text.startswith(
        "Rejected by the promotion policy (rule 'not-improved') against champion v4, because "
    )
    assert text.count(". ") == 0 and text.endswith(".")
    approved = version_description(decide({"roc_auc": 0.9}, {"roc_auc": 0.8}, policy), "4", "manual",
                                   "approval:ana")  # fmt: skip
    assert approved.startswith(
        "Promoted by ana (manual approval; policy rule 'improved') against champion v4"
    )
    assert version_description(first, None, "dry_run", "").startswith(
        "Dry run, no alias moved: would have been"
    )


# --- the manual (docs/) --------------------------------------------------------------------------------------


def estimator_table() -> str:
    """docs/specs.md's estimator list as generated from the catalog."""
    from itertools import zip_longest

    from mlops.catalog import ESTIMATORS

    by_task = [[k for k, v in ESTIMATORS.items() if v == task] for task in ("classification", "regression")]
    rows = [
        f"| {f'`{a}`' if a else ''} | {f'`{b}`' if b else ''} |"
        for a, b in zip_longest(*by_task, fillvalue="")
    ]
    return "\n".join(["| classification | regression |", "|---|---|", *rows])


def test_the_spec_page_lists_exactly_the_catalogs_estimators() -> None:
    from tests.conftest import REPO

    page = (REPO / "docs" / "specs.md").read_text()
    start = "<!-- estimators: generated from mlops/catalog.py ESTIMATORS -->\n"
    listed = page.split(start, 1)[1].split("\n<!-- end of estimators -->", 1)[0]
    expected = estimator_table()
    assert listed == expected, f"paste this between the estimator markers of docs/specs.md:\n{expected}"


def test_the_manual_documents_time_columns_periods_candidates_and_nulls() -> None:
    from tests.conftest import REPO

    def page(name: str) -> str:
        return " ".join((REPO / "docs" / name).read_text().split())

    specs = page("specs.md")
    assert "integer years (1997) or integer epoch seconds" in specs
    assert "candidates: # optional: parameter sets, each merged onto params" in specs
    assert "let nulls through: # pair them with expect_column_values_to_not_be_null" in specs
    assert "(`--every day`, `week`, `month`, `quarter` or `year`;" in page("drift.md")
    for command in ("status", "history"):
        assert f"| `mlops {command} SPEC [--json]` |" in page("cli.md")


def test_a_bare_year_or_month_in_the_spec_window_means_that_year_or_month() -> None:
    from datetime import datetime

    from mlops.spec.schema import Window

    window = Window.model_validate({"start": 1990, "end": "2013-07"})  # YAML reads `start: 1990` as a number
    assert window.start == datetime(1990, 1, 1) and window.end == datetime(2013, 7, 1)
