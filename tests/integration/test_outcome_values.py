"""Progress events and apply outcomes are data with a JSON form; the console words them for a terminal."""

from __future__ import annotations

import json

import pytest

from b24app import console
from b24app.outcome import Outcome, OutcomeSummary
from b24app.progress import APPLYING, COUNTING, CREATING, PHASES, READING, VERIFYING, ProgressEvent


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data, ensure_ascii=False))


def test_a_progress_event_round_trips_through_json():
    event = ProgressEvent(APPLYING, done=50, total=91, detail={"note": "x"})
    assert ProgressEvent.from_json(through_json(event.to_json())) == event
    assert through_json(ProgressEvent(VERIFYING).to_json()) == {
        "phase": "verifying",
        "done": 0,
        "total": None,
        "detail": {},
    }


def test_a_progress_event_knows_only_the_phases_of_a_sync():
    assert PHASES == ("reading", "counting", "creating", "healing", "applying", "verifying")
    with pytest.raises(ValueError, match="unknown progress phase"):
        ProgressEvent("thinking")


def test_an_outcome_summary_round_trips_through_json():
    summary = OutcomeSummary(Outcome.NOT_CONVERGED, 3, 4, 0, 1, 1, 2, 1, 5)
    data = through_json(summary.to_json())
    assert data["outcome"] == "not_converged" and data["requests"] == 5
    assert data["counts"] == {
        "applied": 3,
        "planned": 4,
        "extra_created": 0,
        "failed": 1,
        "remaining": 1,
        "blocked": 2,
        "late_blocked": 1,
    }
    assert OutcomeSummary.from_json(data) == summary
    assert not summary.ok
    with pytest.raises(ValueError, match="no counts"):
        OutcomeSummary.from_json({"outcome": "nothing_to_do", "requests": 1})


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (ProgressEvent(READING, detail={"portal": "a.bitrix24.ru"}), "reading a.bitrix24.ru"),
        (
            ProgressEvent(READING, detail={"portal": "a.bitrix24.ru", "lost_answer": "timeout"}),
            "no answer while creating (timeout); re-reading a.bitrix24.ru to see what was made",
        ),
        (ProgressEvent(COUNTING, total=7), "counting the items of 7 candidate deletion(s)"),
        (
            ProgressEvent(CREATING, total=3, detail={"smart_processes": 1, "pipelines": 2}),
            "creating 1 smart process(es), 2 pipeline(s)",
        ),
        (
            ProgressEvent(CREATING, total=2, detail={"smart_processes": 0, "pipelines": 2}),
            "creating 2 pipeline(s)",
        ),
        (ProgressEvent(CREATING, done=2, total=2), "sent 2 of 2 creation(s)"),
        (ProgressEvent(APPLYING, total=91), "applying 91 change(s)"),
        (ProgressEvent(APPLYING, done=50, total=91), "sent 50 of 91 change(s)"),
        (ProgressEvent(VERIFYING), "verifying"),
    ],
)
def test_the_console_words_each_progress_event_as_one_line(event, line):
    assert console.progress_text(event) == line
