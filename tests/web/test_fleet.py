"""The fleet view (/fleet/): off without a password, every URL behind the login, wrong passwords
refused and throttled, every POST with the session's CSRF token, policy and resync actions, and
every portal-provided string escaped. On SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from b24app.store import PortalState, RunKind, RunOutcome, Settings, Store
from handlers import create_app
from handlers.fleet import SESSION_LIFETIME, LoginThrottle

PASSWORD = "correct horse battery staple"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        instance=tmp_path,
        database_url=database_url,
        templates=tmp_path / "templates",
        public_url="https://b24app.example",
        fleet_password=PASSWORD,
    )


@pytest.fixture
def app(settings, store: Store):
    made = create_app(settings, store=store)
    made.testing = True
    return made


@pytest.fixture
def portals(store: Store):
    """Two installed portals and an uninstalled one, with runs and a resync request."""
    first = _portal(store, "m1", "alpha.bitrix24.ru", template="crm")
    second = _portal(store, "m2", "beta.bitrix24.ru")
    gone = _portal(store, "m3", "gamma.bitrix24.ru", state=PortalState.UNINSTALLED)
    summary = {"create": 3, "update": 1, "delete": 0, "blocked": 2}
    store.runs.record(first.id, RunKind.PLAN, RunOutcome.PLANNED, summary=summary, user_name="schedule")
    store.runs.record(first.id, RunKind.APPLY, RunOutcome.NOT_CONVERGED, template_name="crm", user_id=1)
    store.resyncs.request(second.id, "webhook: push to main")
    return first, second, gone


def _portal(store: Store, member_id: str, domain: str, *, template=None, state=PortalState.INSTALLED):
    portal = store.portals.upsert(
        member_id,
        domain=domain,
        client_endpoint=f"https://{domain}/rest/",
        registration_id=None,
        state=state,
    )
    if template:
        store.portals.assign_template(portal.id, template)
    return store.portals.by_id(portal.id)


class Page(HTMLParser):
    """A page's forms (id -> (action, hidden and text fields)) and its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str, dict[str, str]]] = {}
        self.texts: list[str] = []
        self._form: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = attrs.get("id")
            self.forms[self._form] = (attrs["action"], {})
        elif tag == "input" and self._form and attrs.get("name"):
            self.forms[self._form][1][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(t.strip() for t in self.texts if t.strip())


def login(client, password: str = PASSWORD, user: str = "admin", **environ):
    form = Page(client.get("/fleet/login").get_data(as_text=True)).forms["login"][1]
    return client.post(
        "/fleet/login",
        data={**form, "user": user, "password": password},
        headers={"Origin": "https://b24app.example"},
        environ_base=environ,
    )


def signed_in(app):
    client = app.test_client()
    assert login(client).status_code == 302
    return client


def post(client, page_url: str, form_id: str, **changes):
    """Submit a form of the page at ``page_url`` as a browser would (hidden fields, own Origin)."""
    action, fields = Page(client.get(page_url).get_data(as_text=True)).forms[form_id]
    data = {k: v for k, v in {**fields, **changes}.items() if v is not None}
    return client.post(action, data=data, headers={"Origin": "https://b24app.example"})


def test_the_fleet_view_is_off_without_a_password(settings, store):
    app = create_app(replace(settings, fleet_password=None), store=store)
    for answer in (app.test_client().get("/fleet/"), app.test_client().post("/fleet/login", data={})):
        assert answer.status_code == 404
        assert "B24APP_FLEET_PASSWORD" in answer.get_json()["message"]


def test_every_fleet_url_needs_a_login(app, store, portals):
    first, _, _ = portals
    client = app.test_client()
    for url in ("/fleet/", f"/fleet/portals/{first.id}", "/fleet/?page=2", "/fleet/portals/999"):
        answer = client.get(url)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/fleet/login"), url
    for url in (f"/fleet/portals/{first.id}/policy", f"/fleet/portals/{first.id}/resync", "/fleet/logout"):
        answer = client.post(url, data={"policy": "apply"}, headers={"Origin": "https://b24app.example"})
        assert answer.status_code == 401, url
    assert store.portals.by_id(first.id).policy == "report"
    assert store.resyncs.of_portal(first.id) == []


def test_the_list_shows_each_portals_template_policy_drift_last_run_and_resync(app, portals):
    first, second, gone = portals
    client = signed_in(app)
    page = client.get("/fleet/")
    assert page.status_code == 200
    text = Page(page.get_data(as_text=True)).text
    assert "Portals (3)" in text
    html = page.get_data(as_text=True)
    row = html[html.index(f'id="portal-{first.id}"') : html.index(f'id="portal-{second.id}"')]
    assert "alpha.bitrix24.ru" in row and "crm" in row and ">report<" in row
    assert "3 / 1 / 0 / 2" in row  # the last plan's summary
    assert "apply: " in row and "not_converged" in row  # the last run
    second_row = html[html.index(f'id="portal-{second.id}"') :]
    assert "waiting: webhook: push to main" in second_row and "not planned yet" in second_row
    forms = Page(html).forms
    assert f"resync-{first.id}" in forms and f"resync-{gone.id}" not in forms  # uninstalled: no resync


def test_a_wrong_password_is_refused_and_then_throttled(app):
    client = app.test_client()
    clock = [1000.0]
    app.extensions["b24app.fleet.throttle"] = LoginThrottle(clock=lambda: clock[0])
    for wrong in ("", "correct horse", PASSWORD + " ", PASSWORD.upper(), "x" * 10_000):
        answer = login(client, wrong)
        assert answer.status_code == 401 and "Wrong user name or password" in answer.get_data(as_text=True)
    throttled = login(client)  # even the right password: the address is throttled
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert client.get("/fleet/").status_code == 302
    assert login(app.test_client(), REMOTE_ADDR="10.0.0.9").status_code == 302  # another address may
    clock[0] += 61
    assert login(client).status_code == 302
    assert client.get("/fleet/").status_code == 200


def test_only_the_admin_user_name_or_none_is_accepted(app):
    assert login(app.test_client(), user="root").status_code == 401
    assert login(app.test_client(), user="").status_code == 302
    assert login(app.test_client(), user="Admin").status_code == 302


def test_the_session_cookie_is_scoped_and_expires(app):
    client = app.test_client()
    answer = login(client)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/fleet" in cookie
    assert "Secure" in cookie  # the public URL is https
    expires = re.search(r"Expires=([^;]+)", cookie).group(1)
    assert expires.endswith("GMT") and SESSION_LIFETIME.total_seconds() == 8 * 3600
    assert PASSWORD not in cookie


def test_a_session_older_than_its_lifetime_is_over(app):
    client = signed_in(app)
    cookie = client.get_cookie("b24app_fleet", path="/fleet")
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(cookie.value)
    for age, status in (
        (SESSION_LIFETIME.total_seconds() - 3600, 200),
        (SESSION_LIFETIME.total_seconds() + 1, 302),
    ):
        aged = app.test_client()
        aged.set_cookie("b24app_fleet", serializer.dumps({**session, "at": time.time() - age}), path="/fleet")
        assert aged.get("/fleet/").status_code == status, age


def test_a_changed_password_ends_every_session(app, settings, store):
    client = signed_in(app)
    cookie = client.get_cookie("b24app_fleet", path="/fleet")
    other = create_app(replace(settings, fleet_password="another password entirely"), store=store)
    second = other.test_client()
    second.set_cookie("b24app_fleet", cookie.value, path="/fleet")
    assert second.get("/fleet/").status_code == 302
    again = app.test_client()
    again.set_cookie("b24app_fleet", cookie.value, path="/fleet")
    assert again.get("/fleet/").status_code == 200


def test_a_post_without_the_csrf_token_changes_nothing(app, store, portals):
    first, _, _ = portals
    client = signed_in(app)
    other = signed_in(app)
    foreign_token = Page(other.get("/fleet/").get_data(as_text=True)).forms[f"policy-{first.id}"][1]["csrf"]
    for csrf in (None, "", "forged", foreign_token):
        for form in (f"policy-{first.id}", f"resync-{first.id}"):
            answer = post(client, "/fleet/", form, csrf=csrf, policy="apply")
            assert answer.status_code == 403, (csrf, form)
    action, fields = Page(client.get("/fleet/").get_data(as_text=True)).forms[f"policy-{first.id}"]
    cross = client.post(
        action, data={**fields, "policy": "apply"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert store.portals.by_id(first.id).policy == "report"
    assert store.resyncs.of_portal(first.id) == []


def test_policy_change_and_resync_request(app, store, portals):
    first, second, gone = portals
    client = signed_in(app)
    answer = post(client, "/fleet/", f"policy-{first.id}", policy="apply")
    assert answer.status_code == 303
    assert store.portals.by_id(first.id).policy == "apply"
    assert (
        "alpha.bitrix24.ru: policy set to apply." in Page(client.get("/fleet/").get_data(as_text=True)).text
    )
    assert post(client, "/fleet/", f"policy-{first.id}", policy="delete-everything").status_code == 400
    assert store.portals.by_id(first.id).policy == "apply"

    assert post(client, "/fleet/", f"resync-{first.id}").status_code == 303
    [waiting] = store.resyncs.of_portal(first.id)
    assert (waiting.state, waiting.reasons, waiting.requests) == ("waiting", ["fleet view: admin"], 1)
    assert post(client, f"/fleet/portals/{second.id}", f"resync-{second.id}").status_code == 303
    [merged] = store.resyncs.of_portal(second.id)
    assert merged.requests == 2 and merged.reasons[-1] == "fleet view: admin"
    page = Page(client.get(f"/fleet/portals/{second.id}").get_data(as_text=True)).text
    assert "merged into the one already waiting" in page

    csrf = Page(client.get("/fleet/").get_data(as_text=True)).forms["logout"][1]["csrf"]
    gone_url = f"/fleet/portals/{gone.id}/resync"
    answer = client.post(gone_url, data={"csrf": csrf}, headers={"Origin": "https://b24app.example"})
    assert answer.status_code == 303 and store.resyncs.of_portal(gone.id) == []  # uninstalled: refused
    assert "not installed: nothing to resync" in Page(client.get("/fleet/").get_data(as_text=True)).text


def test_a_portals_journal_lists_its_runs(app, store, portals):
    first, _, _ = portals
    applied = store.runs.last(first.id, kind=RunKind.APPLY).id
    store.runs.record(first.id, RunKind.ROLLBACK, RunOutcome.APPLIED, rollback_of=applied, user_name="cli")
    client = signed_in(app)
    text = Page(client.get(f"/fleet/portals/{first.id}").get_data(as_text=True)).text
    assert (
        "Journal" in text
        and f"rollback of {applied}" in text
        and "not_converged" in text
        and "planned" in text
    )
    assert client.get("/fleet/portals/999").status_code == 404


def test_portal_provided_strings_are_escaped(app, store):
    portal = _portal(store, "evil", HOSTILE, template=HOSTILE)
    store.runs.record(
        portal.id, RunKind.APPLY, RunOutcome.FAILED, user_name=HOSTILE, template_name=HOSTILE, error=HOSTILE
    )
    store.resyncs.request(portal.id, HOSTILE)
    client = signed_in(app)
    for url in ("/fleet/", f"/fleet/portals/{portal.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    post(client, "/fleet/", f"resync-{portal.id}")
    assert "<script" not in client.get("/fleet/").get_data(as_text=True)  # the flashed notice too


def test_headers_forbid_framing_caching_and_sniffing(app, portals):
    client = app.test_client()
    answers = [client.get("/fleet/login"), client.get("/fleet/")]
    client = signed_in(app)
    answers += [client.get("/fleet/"), client.get(f"/fleet/portals/{portals[0].id}")]
    for answer in answers:
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert "script-src" not in answer.headers["Content-Security-Policy"]  # default-src 'none'
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"


def test_logout_ends_the_session(app):
    client = signed_in(app)
    assert post(client, "/fleet/", "logout").status_code == 302
    assert client.get("/fleet/").status_code == 302


def test_the_in_portal_pages_get_no_fleet_cookie(app):
    answer = app.test_client().post("/b24/nothing/app/", data={})
    assert answer.status_code in (400, 403) and "Set-Cookie" not in answer.headers


def test_a_run_resyncs_found_again_shows_how_often_and_when_last(app, store, portals):
    first, _, _ = portals
    kept = store.runs.record(
        first.id,
        RunKind.PLAN,
        RunOutcome.PLANNED,
        user_name="resync: schedule",
        result={"state_digest": "d" * 64},
    )
    for _ in range(2):
        later = store.runs.start(first.id, RunKind.PLAN, worker="host:1", user_name="resync: schedule")
        store.runs.confirm(kept.id, instead_of=later.id, worker="host:1", state_digest="d" * 64)
    text = Page(signed_in(app).get(f"/fleet/portals/{first.id}").get_data(as_text=True)).text
    assert (
        "checked 3 times, last " + store.runs.get(kept.id).last_checked_at.strftime("%Y-%m-%d %H:%M") in text
    )
    assert text.count("checked ") == 1  # only the confirmed run says so
    listed = Page(signed_in(app).get("/fleet/").get_data(as_text=True)).text
    assert "checked 3 times" in listed  # the list's last run, too
