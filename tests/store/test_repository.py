"""The repositories on SQLite and PostgreSQL: registrations, portals, tokens, runs, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from b24app.store import Conflict, LockTimeout, NotFound, PortalState, RunKind, RunOutcome, TokenPair
from b24app.store.models import PortalRow


def install(store, member_id="a1b2c3", domain="acme.bitrix24.ru", registration_id=None, **extra):
    return store.portals.upsert(
        member_id,
        domain=domain,
        client_endpoint=f"https://{domain}/rest/",
        registration_id=registration_id,
        state=extra.pop("state", PortalState.INSTALLED),
        **extra,
    )


def test_registrations_add_list_get_remove(store):
    first = store.registrations.add("local.abc", "s3cret-one", name="Acme")
    second = store.registrations.add("local.def", "s3cret-two")
    assert [r.client_id for r in store.registrations.list()] == ["local.abc", "local.def"]
    assert store.registrations.get(first.id).client_secret == "s3cret-one"
    assert store.registrations.by_slug(second.slug).client_id == "local.def"
    assert store.registrations.by_client_id("local.abc").name == "Acme"
    assert first.slug != second.slug and "s3cret" not in repr(first)
    store.registrations.remove(first.id)
    assert [r.id for r in store.registrations.list()] == [second.id]
    with pytest.raises(NotFound, match="b24app app list"):
        store.registrations.get(first.id)


def test_a_client_id_is_registered_once(store):
    store.registrations.add("local.abc", "one")
    with pytest.raises(Conflict, match="client_id local.abc exists already"):
        store.registrations.add("local.abc", "two")
    assert store.registrations.by_client_id("local.abc").client_secret == "one"


def test_a_registration_in_use_cannot_be_removed(store):
    registration = store.registrations.add("local.abc", "one")
    portal = install(store, registration_id=registration.id)
    with pytest.raises(Conflict, match="used by 1 installed portal"):
        store.registrations.remove(registration.id)
    store.portals.set_state(portal.id, PortalState.UNINSTALLED)
    store.registrations.remove(registration.id)
    assert store.portals.get(portal.member_id).registration_id is None


def test_reinstall_updates_the_portal_row_never_duplicates_it(store):
    registration = store.registrations.add("local.abc", "one")
    first = install(store, state=PortalState.INSTALLING, language="ru", application_token="app-token-1")
    store.portals.assign_template(first.id, "retail")
    again = install(
        store, domain="Acme-New.bitrix24.ru", registration_id=registration.id, application_token="app-token-2"
    )
    assert again.id == first.id
    assert (again.domain, again.state, again.registration_id) == (
        "acme-new.bitrix24.ru",
        PortalState.INSTALLED,
        registration.id,
    )
    assert again.template == "retail" and again.application_token == "app-token-2"
    assert again.created_at == first.created_at and again.updated_at >= first.updated_at
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(PortalRow)) == 1


def test_the_database_itself_refuses_a_second_row_for_a_member_id(store):
    install(store)
    now = datetime.now(UTC)
    row = {
        "member_id": "a1b2c3",
        "domain": "x",
        "client_endpoint": "x",
        "state": "installed",
        "policy": "report",
        "created_at": now,
        "updated_at": now,
    }
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(insert(PortalRow).values(**row))


def test_portals_found_by_domain_or_member_id(store):
    portal = install(store)
    assert store.portals.find("ACME.bitrix24.ru").id == portal.id
    assert store.portals.find("a1b2c3").id == portal.id
    assert store.portals.by_id(portal.id).member_id == "a1b2c3"
    with pytest.raises(NotFound, match="b24app portal list"):
        store.portals.find("other.bitrix24.ru")
    with pytest.raises(ValueError, match="report or apply, not 'Apply'"):
        store.portals.set_policy(portal.id, "Apply")
    assert store.portals.by_id(portal.id).policy == "report"
    store.portals.set_policy(portal.id, "apply")
    store.portals.set_application_token(portal.id, None)
    got = store.portals.get("a1b2c3")
    assert (got.policy, got.application_token) == ("apply", None)
    assert [p.id for p in store.portals.list()] == [portal.id]


def pair(n: int, expires: datetime | None = None) -> TokenPair:
    return TokenPair(f"access-{n}", f"refresh-{n}", expires, "crm,user")


def test_tokens_save_load_and_compare_and_swap(store):
    portal = install(store)
    assert store.tokens.load(portal.id) is None
    expires = datetime(2026, 12, 1, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    saved = store.tokens.save(portal.id, pair(1, expires))
    loaded = store.tokens.load(portal.id)
    assert loaded == saved
    assert loaded.pair == pair(1, expires) and loaded.pair.expires_at.tzinfo == UTC
    assert store.tokens.save_if_current(portal.id, loaded.generation, pair(2))
    assert not store.tokens.save_if_current(portal.id, loaded.generation, pair(3))  # stale: refused
    now = store.tokens.load(portal.id)
    assert now.pair == pair(2) and now.generation == loaded.generation + 1
    assert store.tokens.save(portal.id, pair(4)).generation == now.generation + 1


def test_deleted_tokens_stay_deleted_for_a_stale_writer(store):
    portal = install(store)
    before = store.tokens.save(portal.id, pair(1))
    store.tokens.delete(portal.id)
    assert store.tokens.load(portal.id) is None
    assert not store.tokens.save_if_current(portal.id, before.generation, pair(2))
    assert store.tokens.load(portal.id) is None
    assert store.tokens.save(portal.id, pair(3)).generation == before.generation + 2


def test_row_locked_tokens_are_saved_in_the_same_transaction(store):
    portal = install(store)
    store.tokens.save(portal.id, pair(1))
    with store.tokens.locked(portal.id) as locked:
        assert locked.current.pair == pair(1)
        locked.save(pair(2))
    assert store.tokens.load(portal.id).pair == pair(2)
    other = install(store, member_id="d4e5f6", domain="other.bitrix24.ru")
    with pytest.raises(NotFound, match="no tokens to renew"), store.tokens.locked(other.id) as locked:
        locked.save(pair(9))


def test_runs_record_start_finish_and_list_newest_first(store):
    portal = install(store)
    plan = {"portal": "acme.bitrix24.ru", "changes": [{"action": "create", "name": "Новая"}]}
    first = store.runs.record(
        portal.id,
        RunKind.PLAN,
        RunOutcome.PLANNED,
        user_id=1,
        user_name="Анна",
        template_name="retail",
        template_hash="ab" * 32,
        plan=plan,
        checksum="sha256:1",
        summary={"create": 1, "update": 0, "delete": 0, "blocked": 0},
        requests_used=1,
    )
    started = store.runs.start(portal.id, RunKind.APPLY, user_id=1, state_before={"lists": {"SOURCE": []}})
    assert started.outcome == RunOutcome.RUNNING and started.finished_at is None
    done = store.runs.finish(started.id, RunOutcome.APPLIED, requests_used=5, summary={"create": 1})
    assert done.outcome == RunOutcome.APPLIED and done.finished_at is not None
    assert done.state_before == {"lists": {"SOURCE": []}}
    listed = store.runs.list(portal.id)
    assert [r.id for r in listed] == [done.id, first.id]
    assert listed[1].plan == plan and listed[1].user_name == "Анна"
    assert store.runs.last(portal.id, kind=RunKind.PLAN).id == first.id
    with pytest.raises(TypeError, match="unknown run field"):
        store.runs.record(portal.id, RunKind.PLAN, RunOutcome.PLANNED, token="x")
    with pytest.raises(ValueError):
        store.runs.record(portal.id, "dance", RunOutcome.PLANNED)
    with pytest.raises(NotFound):
        store.runs.finish(10_000, RunOutcome.FAILED)


def test_events_are_logged_without_their_payload(store):
    portal = install(store)
    store.events.record("ONAPPINSTALL", "accepted", portal_id=portal.id, member_id=portal.member_id)
    store.events.record("ONCRMTYPEADD", "refused", member_id="unknown", detail="unknown member_id")
    assert [e.event for e in store.events.list()] == ["ONCRMTYPEADD", "ONAPPINSTALL"]
    assert [e.outcome for e in store.events.list(portal_id=portal.id)] == ["accepted"]


def test_times_are_aware_utc_and_naive_ones_are_refused(store):
    portal = install(store)
    moscow = datetime(2026, 6, 1, 15, 0, tzinfo=timezone(timedelta(hours=3)))
    run = store.runs.record(portal.id, RunKind.PLAN, RunOutcome.PLANNED, started_at=moscow)
    assert store.runs.get(run.id).started_at == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert store.runs.get(run.id).started_at.tzinfo == UTC
    with pytest.raises(StatementError, match="naive datetime"):
        store.runs.record(portal.id, RunKind.PLAN, RunOutcome.PLANNED, started_at=datetime(2026, 6, 1))


def test_named_locks_exclude_each_other_by_name(store):
    with store.lock("job:acme", timeout=1):
        with (
            pytest.raises(LockTimeout, match="job:acme is held by another b24app process"),
            store.lock("job:acme", timeout=0.1),
        ):
            pass
        with store.lock("job:other", timeout=1):
            pass
    with store.lock("job:acme", timeout=1):
        pass  # released at the end of its block
