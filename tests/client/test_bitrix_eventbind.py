"""Binding install.json's events: one event.get, one batch, nothing bound twice."""

from __future__ import annotations

import pytest
from portal_fakes import WEBHOOK, envelope, error, sent_json

from b24app.bitrix.eventbind import bind_events

HANDLER = "https://b24.example.com/b24/acme/events/"
EVENTS = ["ONAPPUNINSTALL", "ONAPPUPDATE", "ONCRMTYPEADD"]


def test_only_missing_events_are_bound_in_one_batch(portal, client):
    portal.post(WEBHOOK + "event.get", json=envelope([{"event": "ONAPPUPDATE", "handler": HANDLER}]))
    portal.post(
        WEBHOOK + "batch",
        json=envelope(
            {"result": {"bind_onappuninstall": True, "bind_oncrmtypeadd": True}, "result_error": []}
        ),
    )
    result = bind_events(client, EVENTS, HANDLER)
    assert result.bound == ("ONAPPUNINSTALL", "ONCRMTYPEADD") and result.already == ("ONAPPUPDATE",)
    assert result.ok and len(portal.calls) == 2
    commands = sent_json(portal.calls[1])["cmd"]
    assert set(commands) == {"bind_onappuninstall", "bind_oncrmtypeadd"}
    assert all(
        "handler=https%3A%2F%2Fb24.example.com%2Fb24%2Facme%2Fevents%2F" in c for c in commands.values()
    )


def test_a_handler_bound_to_another_url_does_not_count(portal, client):
    portal.post(
        WEBHOOK + "event.get", json=envelope([{"event": "ONAPPUPDATE", "handler": "https://old.example/"}])
    )
    portal.post(WEBHOOK + "batch", json=envelope({"result": {"bind_onappupdate": True}, "result_error": []}))
    assert bind_events(client, ["ONAPPUPDATE"], HANDLER).bound == ("ONAPPUPDATE",)


def test_nothing_missing_means_no_batch(portal, client):
    portal.post(WEBHOOK + "event.get", json=envelope([{"event": e, "handler": HANDLER} for e in EVENTS]))
    assert set(bind_events(client, EVENTS, HANDLER).already) == set(EVENTS) and len(portal.calls) == 1


def test_a_duplicate_refusal_counts_as_bound_and_other_errors_are_reported(portal, client):
    portal.post(WEBHOOK + "event.get", json=envelope([]))  # a non-admin sees only their own handlers
    errors = {
        "bind_onappupdate": error("ERROR_CORE", "Unable to set event handler: Handler already binded"),
        "bind_oncrmtypeadd": error("ERROR_EVENT_NOT_FOUND", "Event not found"),
    }
    portal.post(
        WEBHOOK + "batch", json=envelope({"result": {"bind_onappuninstall": True}, "result_error": errors})
    )
    result = bind_events(client, EVENTS, HANDLER)
    assert result.bound == ("ONAPPUNINSTALL",) and result.already == ("ONAPPUPDATE",)
    assert list(result.failed) == ["ONCRMTYPEADD"] and "Event not found" in result.failed["ONCRMTYPEADD"]
    assert not result.ok


@pytest.mark.parametrize(
    ("events", "handler", "reason"),
    [
        (["onappupdate!"], HANDLER, "not Bitrix24 event codes"),
        ([f"ONX{i}" for i in range(51)], HANDLER, "at most 50"),
        (EVENTS, "http://b24.example.com/events/", "https"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(portal, client, events, handler, reason):
    with pytest.raises(ValueError, match=reason):
        bind_events(client, events, handler)
    assert len(portal.calls) == 0
