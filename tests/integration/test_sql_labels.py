"""Labels read from a database (`labels.source: {kind: sql}`) on DuckDB, embedded: the labels known by the as-of
time count (the bound pushed into the query), the latest label of an id wins, a missing column is exit 2."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from mlops.labels import LabelsRefused
from mlops.spec import load_spec
from tasks.labels import read_labels
from tests.conftest import spec_text

pytestmark = [pytest.mark.integration]


def spec_with_sql_labels(project: Path, label_column: str = "target") -> Path:
    path = project / "deployments" / "cancer.yaml"
    labels = (
        "labels:\n"
        "  source: {kind: sql, url_env: LABELS_DB_URL, table: arrived}\n"
        f"  label_column: {label_column}\n"
        "  known_at_column: known_at\n"
    )
    path.write_text(
        spec_text(extra=labels).replace("  target: target\n", "  target: target\n  id_column: row_id\n")
    )
    return path


def test_labels_from_a_duckdb_table_count_once_known_and_the_latest_wins(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = project / "labels.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE arrived (row_id INTEGER, target VARCHAR, known_at TIMESTAMP)")
        con.execute(
            "INSERT INTO arrived VALUES (1, 'benign', '2013-07-01 10:00'), (2, 'malignant', '2013-07-02 10:00'),"
            " (1, 'malignant', '2013-07-03 10:00'), (3, 'benign', '2013-07-20 10:00'), (NULL, 'benign', '2013-07-01')"
        )
    monkeypatch.setenv("LABELS_DB_URL", f"duckdb:///{db}")
    loaded = load_spec(spec_with_sql_labels(project))

    early = read_labels(loaded, datetime(2013, 7, 2, 12))
    assert dict(zip(early.frame["id"], early.frame["label"], strict=True)) == {1: "benign", 2: "malignant"}
    assert early.without_id == 1
    later = read_labels(loaded, datetime(2013, 7, 4))  # the correction of id 1 has arrived, id 3 not yet
    assert dict(zip(later.frame["id"], later.frame["label"], strict=True)) == {1: "malignant", 2: "malignant"}

    wrong = load_spec(spec_with_sql_labels(project, label_column="outcome"))
    with pytest.raises(LabelsRefused, match="has no column 'outcome'") as err:
        read_labels(wrong, datetime(2013, 7, 4))
    assert err.value.exit_code == 2 and str(db) not in str(err.value)


def test_a_known_at_time_with_day_and_month_either_way_round_is_refused(project: Path) -> None:
    """'05/07/2013' is 7 May to pandas and 5 July to most of the world: refused (exit 2), never guessed (pandas
    read both rows as May, before the as-of time, and counted them)."""
    (project / "labels").mkdir()
    (project / "labels" / "july.csv").write_text(
        "row_id,target,known_at\n1,benign,05/07/2013 10:00\n2,malignant,06/07/2013 10:00\n"
    )
    path = spec_with_sql_labels(project)
    path.write_text(
        path.read_text().replace(
            "{kind: sql, url_env: LABELS_DB_URL, table: arrived}", "{kind: csv, path: labels/*.csv}"
        )
    )
    with pytest.raises(LabelsRefused) as err:
        read_labels(load_spec(path), datetime(2013, 7, 4))
    assert err.value.exit_code == 2
    assert (
        "in 2 value(s) of 'known_at' (labels.known_at_column), e.g. '05/07/2013 10:00', day and month"
        in str(err.value)
    )
