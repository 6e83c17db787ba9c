"""A plan's refusals are data (which list, how many deletions of how many, the threshold) with a JSON form."""

from __future__ import annotations

import json

import pytest

from b24app.core.changes import PRUNE_MIN_SIZE, PRUNE_SHARE, Refusal, refusal_of


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data, ensure_ascii=False))


def test_a_refusal_holds_what_how_many_and_the_threshold():
    refusal = refusal_of("sources", "sources (SOURCE)", 7, 12)
    assert refusal == Refusal("sources", "sources (SOURCE)", 7, 12, PRUNE_SHARE, PRUNE_MIN_SIZE)
    assert refusal.percent == 58
    assert through_json(refusal.to_json()) == {
        "list": "sources",
        "label": "sources (SOURCE)",
        "deletions": 7,
        "size": 12,
        "share": 0.3,
        "min_size": 10,
    }


@pytest.mark.parametrize(
    ("deletions", "size", "refused"),
    [(4, 10, True), (3, 10, False), (9, 9, False), (10, 10, True), (0, 0, False)],
)
def test_the_threshold_is_more_than_30_percent_of_a_list_of_ten_or_more(deletions, size, refused):
    assert (refusal_of("industries", "industries", deletions, size) is not None) is refused
