"""b24app.notify against a fake portal's answers (``responses``): the request it sends, and what each
refusal does — logged and written to the event log, never raised; a refusal is final for that drift,
a temporary fault is tried again by the next plan. Runs on SQLite and PostgreSQL (the store)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from portal_fakes import PORTAL, WEBHOOK, envelope, error, sent_json

from b24app import notify
from b24app.store import PortalState, RunKind, RunOutcome, Settings

METHOD_URL = WEBHOOK + notify.METHOD
CLIENT_ID = "local.5dae9cd1091851.1"
DRIFT = {"create": 2, "update": 1, "delete": 0, "blocked": 3}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(instance=tmp_path, database_url="sqlite://", templates=tmp_path / "templates")


@pytest.fixture
def record(store):
    """The portal as installed (admin user 7, policy report, English)."""
    registration = store.registrations.add(CLIENT_ID, "the0client0secret")
    portal = store.portals.upsert(
        "member0id",
        domain=PORTAL,
        client_endpoint=f"https://{PORTAL}/rest/",
        registration_id=registration.id,
        state=PortalState.INSTALLED,
        language="en",
    )
    store.portals.set_admin(portal.id, 7)
    return store.portals.by_id(portal.id)


def drift_run(store, record, checksum: str = "c0ffee0c0ffee000"):
    return store.runs.record(record.id, RunKind.PLAN, RunOutcome.PLANNED, checksum=checksum, summary=DRIFT)


def outcomes(store, record) -> list[str]:
    return [e.outcome for e in reversed(store.events.list(record.id)) if e.event == notify.EVENT]


def test_the_request_is_one_call_with_the_admin_the_text_and_the_tag(portal, client, store, settings, record):
    portal.post(METHOD_URL, json=envelope(31))
    assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is True
    assert len(portal.calls) == 1
    body = sent_json(portal.calls[0])
    link = f"https://{PORTAL}/marketplace/app/{CLIENT_ID}/"
    assert body == {
        "USER_ID": 7,
        "MESSAGE": "b24app: the CRM reference lists of this portal differ from their template "
        f"(2 to create, 1 to update, 0 to delete, 3 blocked). [URL={link}]Open b24app[/URL] to review it.",
        "MESSAGE_OUT": "b24app: the CRM reference lists of this portal differ from their template "
        f"(2 to create, 1 to update, 0 to delete, 3 blocked). Open b24app: {link}",
        "TAG": f"b24app|drift|{record.id}",
    }
    assert store.portals.by_id(record.id).drift_checksum == "c0ffee0c0ffee000"


@pytest.mark.parametrize(
    ("status", "answer", "outcome"),
    [
        (401, error("insufficient_scope", "The request requires higher privileges than provided"), "refused"),
        (400, error("USER_ID_EMPTY", "User ID can't be empty"), "refused"),
        (400, error("MESSAGE_EMPTY", "Message can't be empty"), "refused"),
        (
            403,
            error("WRONG_AUTH_TYPE", "Access for this method not allowed by session authorization."),
            "refused",
        ),
        (401, error("INVALID_CREDENTIALS", "Invalid request credentials"), "refused"),
    ],
)
def test_a_refusal_is_logged_and_final_for_the_drift(
    portal, client, store, settings, record, caplog, status, answer, outcome
):
    portal.post(METHOD_URL, json=answer, status=status)
    with caplog.at_level(logging.WARNING, logger="b24app.notify"):
        assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is False
        assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is False
    assert len(portal.calls) == 1  # the same drift is not tried again every plan
    assert outcomes(store, record) == [outcome]
    assert answer["error"] in store.events.list(record.id)[0].detail
    assert answer["error"] in caplog.text


def test_false_means_no_notification_was_created(portal, client, store, settings, record):
    portal.post(METHOD_URL, json=envelope(False))
    assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is False
    assert outcomes(store, record) == ["not_created"]


def test_a_temporary_fault_is_tried_again_by_the_next_plan(portal, make_client, store, settings, record):
    client = make_client(max_attempts=2)
    portal.post(METHOD_URL, json=error("QUERY_LIMIT_EXCEEDED", "Too many requests"), status=503)
    assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is False
    assert store.portals.by_id(record.id).drift_checksum is None  # not remembered: told when it works
    portal.replace("POST", METHOD_URL, json=envelope(5))
    assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is True
    assert outcomes(store, record) == ["failed", "sent"]


def test_an_answer_that_is_no_json_never_raises(portal, client, store, settings, record):
    portal.post(METHOD_URL, body="<html>502 Bad Gateway</html>", status=502, content_type="text/html")
    assert notify.after_resync(store, settings, client, record, drift_run(store, record)) is False
    assert outcomes(store, record) == ["failed"]


def test_a_failed_apply_is_told_in_russian_without_the_portal_s_words(
    portal, client, store, settings, record
):
    """The run's error text may quote the portal (names, error descriptions): it is never sent."""
    store.portals.upsert(
        record.member_id,
        domain=PORTAL,
        client_endpoint=record.client_endpoint,
        registration_id=record.registration_id,
        state=PortalState.INSTALLED,
        language="ru",
    )
    portal.post(METHOD_URL, json=envelope(8))
    run = store.runs.record(
        record.id, RunKind.APPLY, RunOutcome.FAILED, error="crm.status.add: Стадия «[URL=https://x/]x[/URL]»"
    )
    assert notify.after_resync(store, settings, client, record, run) is True
    body = sent_json(portal.calls[0])
    assert body["MESSAGE"].startswith("b24app: не удалось применить шаблон к справочникам CRM.")
    assert "Стадия" not in body["MESSAGE"] and "https://x/" not in body["MESSAGE"]
    assert body["TAG"] == f"b24app|apply|{record.id}"


def test_nothing_is_sent_for_runs_that_tell_nothing(portal, client, store, settings, record):
    in_sync = {"create": 0, "update": 0, "delete": 0, "blocked": 2}
    quiet = [
        store.runs.record(record.id, RunKind.PLAN, RunOutcome.PLANNED, checksum="a" * 16, summary=in_sync),
        store.runs.record(record.id, RunKind.PLAN, RunOutcome.FAILED, error="no answer"),
        store.runs.record(record.id, RunKind.APPLY, RunOutcome.APPLIED, checksum="b" * 16, summary=DRIFT),
        store.runs.record(record.id, RunKind.APPLY, RunOutcome.RUNNING),
    ]
    for run in quiet:
        assert notify.after_resync(store, settings, client, record, run) is False
    assert len(portal.calls) == 0


def test_http_links_only_for_a_loopback_development_portal(store, settings, record):
    assert notify.app_page_url(store, settings, record).startswith("https://")
    development = dataclasses.replace(settings, allow_loopback=True)
    plain = store.portals.upsert(
        record.member_id,
        domain="127.0.0.1:8025",
        client_endpoint="http://127.0.0.1:8025/rest/",
        registration_id=record.registration_id,
        state=PortalState.INSTALLED,
    )
    assert (
        notify.app_page_url(store, development, plain)
        == f"http://127.0.0.1:8025/marketplace/app/{CLIENT_ID}/"
    )
    assert notify.app_page_url(store, settings, plain).startswith("https://")  # no dev setting: https
