"""The cross-entry rules (b24app.core.rules), on model objects directly."""

from __future__ import annotations

from b24app.core.catalog import DEAL_RULES, DYNAMIC_RULES
from b24app.core.model import FAILURE, SUCCESS, Entry, Pipeline, RefList
from b24app.core.rules import Finding, check_ids, check_pipelines, check_stages


def where(index: int) -> str:
    return f"#{index}"


def test_a_well_formed_stage_list_has_no_findings() -> None:
    stages = [
        Entry("NEW", "a", 10),
        Entry("X", "b", 20),
        Entry("SUCCESS", "c", 30, None, SUCCESS),
        Entry("FAIL", "d", 40, None, FAILURE),
        Entry("Y", "e", 50, None, FAILURE),
    ]
    assert check_stages(DYNAMIC_RULES, stages, [False] * 5, where) == []


def test_stage_findings_point_at_position_and_key() -> None:
    stages = [
        Entry("NEW", "a", 10),
        Entry("WON", "b", 30, None, SUCCESS),
        Entry("X", "c", 20),
        Entry("LOSE", "d", 40, None, FAILURE),
    ]
    assert check_stages(DEAL_RULES, stages, [False, True, False, False], where) == [
        Finding(
            2,
            None,
            "process stage 'X' comes after success stage 'WON' (#1)",
            "order the stages: process stages first, then the success stage, then the failure stages",
        ),
        Finding(
            2,
            "sort",
            "sort 20 (the default, position × 10) is lower than the sort 30 of 'WON' (#1)",
            "stages are shown by sort: make it grow down the list, or leave sort out everywhere",
        ),
    ]


def test_ids_unreadable_positions_are_skipped() -> None:
    findings = check_ids("deal_stages", ["NEW", None, "new", "A" * 20], where)
    assert [(f.index, f.message) for f in findings] == [
        (2, "id 'new' is already used (#0)"),
        (3, f"id '{'A' * 20}' is too long (20 > 19)"),
    ]
    assert check_ids("deal_stages", ["A" * 20], where, default_pipeline=True) == []


def test_a_missing_default_is_not_claimed_when_defaults_are_unknown() -> None:
    pipelines = [Pipeline("a", RefList("deal_stages", ())), None]
    assert check_pipelines("deal pipeline", pipelines, where, defaults_known=False) == []
    (finding,) = check_pipelines("deal pipeline", pipelines, where)
    assert finding.message == "no deal pipeline is marked default"
