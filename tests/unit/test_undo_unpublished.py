"""Issue #12 item 4: which unpublished alias moves are undone, decided from the versions' tags alone."""

from __future__ import annotations

import json

from tasks.tracking.registry import plan_unwind


def version(at: str, before: dict[str, str | None] | None, published: str | None = None) -> dict[str, str]:
    tags = {"mlops.decision.at": at}
    if before is not None:
        tags["mlops.aliases_before"] = json.dumps(before)
    if published is not None:
        tags["mlops.published"] = published
    return tags


S0 = {"champion": "1", "challenger": "1", "previous": None}
S1 = {"champion": "2", "challenger": "2", "previous": "1"}
S2 = {"champion": "3", "challenger": "3", "previous": "2"}


def test_a_chain_of_killed_runs_unwinds_to_what_the_earliest_found() -> None:
    plan = plan_unwind(
        {
            "1": version(
                "2026-01-01T00:00:00Z", {"champion": None, "challenger": None, "previous": None}, "true"
            ),
            "2": version("2026-01-02T00:00:00Z", S0),  # killed
            "3": version(
                "2026-01-02T00:00:00Z", S1
            ),  # killed too, same second: the version number breaks the tie
            "4": version("2026-01-03T00:00:00Z", S2),  # and again
        }
    )
    assert plan.restore == S0 and plan.undone == ["4", "3", "2"] and plan.superseded == []


def test_nothing_pending_nothing_done_and_nothing_undone_twice() -> None:
    plan = plan_unwind(
        {
            "1": version("2026-01-01T00:00:00Z", None),  # registered by an mlops without the tag
            "2": version("2026-01-02T00:00:00Z", S0, "true"),
            "3": version("2026-01-03T00:00:00Z", S1, "abandoned"),
            "4": version("2026-01-04T00:00:00Z", S1, "superseded"),
        }
    )
    assert plan.restore is None and plan.undone == [] and plan.superseded == []


def test_a_later_commit_overrides_an_older_unpublished_version() -> None:
    plan = plan_unwind(
        {
            "2": version("2026-01-02T00:00:00Z", S0),  # left unpublished, then a later run committed on top
            "3": version("2026-01-03T00:00:00Z", S1, "true"),
            "4": version("2026-01-04T00:00:00Z", S2),  # killed after that commit
        }
    )
    assert plan.superseded == ["2"] and plan.undone == ["4"] and plan.restore == S2
