"""Second suite: app frame POST, installer phase, event delivery details, event.* methods.

platform.md §2.3 (frame launch and installer), §2.5 (application_token), §3.1 (delivery model),
§3.2 (payload), §3.3 (event.bind/get/unbind), §3.6 + §6.1 (WRONG_AUTH_TYPE), §7.1 (app.info
INSTALLED), §8 items 11-12.
"""

from __future__ import annotations

import itertools
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from .conftest import EVENT_AUTH_FIELDS, Receiver, app_tokens, call, clock, oauth_token, ok, register_app

FRAME_BODY = (
    "AUTH_ID",
    "AUTH_EXPIRES",
    "REFRESH_ID",
    "SERVER_ENDPOINT",
    "APPLICATION_TOKEN",
    "APPLICATION_SCOPE",
    "member_id",
    "status",
    "PLACEMENT",
)


@pytest.fixture(scope="module")
def portal(sb_mod):
    return sb_mod.portal(0)


@pytest.fixture(scope="module")
def rc():
    r = Receiver(status={"/fail": 500})
    yield r
    r.close()


_paths = itertools.count(1)


def unique(name: str) -> str:
    """A receiver path no other test uses, so that tests never see each other's POSTs."""
    return f"/{name}{next(_paths)}"


def api(portal) -> str:
    return portal.base + "rest/"


def open_app(portal, client_id, user_id=1) -> dict:
    """Opens the app; the portal POSTs the frame before this control call answers."""
    r = requests.post(
        f"{portal.ctl}/apps/{client_id}/open", json={"user_id": user_id, "post": True}, timeout=10
    )
    assert r.status_code < 300, r.text
    return r.json()


def finish(portal, client_id, app_sid) -> None:
    r = requests.post(f"{portal.ctl}/apps/{client_id}/finish", json={"app_sid": app_sid}, timeout=10)
    assert r.status_code < 300, r.text


def frames(rc, path, n=1, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        hits = [g for g in rc.got if urlparse(g["path"]).path == path]
        if len(hits) >= n:
            return hits
        time.sleep(0.05)
    return [g for g in rc.got if urlparse(g["path"]).path == path]


def query_of(hit: dict) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(hit["path"]).query).items()}


def deliveries_done(portal) -> None:
    """Positive signal from the sandbox: every event delivery queued so far has finished."""
    r = requests.post(f"{portal.sb.oauth}/control/wait", json={"timeout": 10}, timeout=15)
    assert r.status_code < 300 and r.json()["idle"] is True, r.text


def sentinel_arrived(portal, rc, at, event, fire) -> None:
    """Proves that delivery had its chance: binds a second, valid handler of `event` (with token
    `at`), runs `fire()` (which must raise that event and return the new item's id), waits until
    that event reaches the second handler, then until the sandbox has no delivery in flight."""
    path = unique("sentinel")
    ok(api(portal), "event.bind", {"event": event, "handler": rc.url + path}, auth=at)
    try:
        item_id = fire()
        hits = rc.wait(lambda g: g["path"] == path and g["form"].get("data[FIELDS][ID]") == str(item_id))
        assert hits, f"the sentinel {event} never arrived; delivery itself is broken"
        deliveries_done(portal)
    finally:
        ok(api(portal), "event.unbind", {"event": event, "handler": rc.url + path}, auth=at)


def new_ui_app(portal, rc) -> dict:
    """A UI app with an installer, on paths of its own: {"app", "install", "handler"}."""
    prefix = unique("ui")
    app = register_app(
        portal,
        scopes=["crm", "user"],
        handler_url=rc.url + prefix + "/app",
        install_url=rc.url + prefix + "/install",
    )
    return {"app": app, "install": prefix + "/install", "handler": prefix + "/app", "events": prefix + "/evt"}


@pytest.fixture
def opened_ui(portal, rc):
    """A UI app the admin opened once and that is not installed yet: its installer got the frame."""
    ui = new_ui_app(portal, rc)
    open_app(portal, ui["app"]["client_id"])
    hits = frames(rc, ui["install"])
    assert len(hits) == 1, rc.got
    ui.update(hit=hits[0], form=hits[0]["form"], sid=query_of(hits[0])["APP_SID"])
    return ui


@pytest.fixture
def ui_tokens(opened_ui, portal):
    """The admin's tokens of the opened app, from the frame's REFRESH_ID."""
    app = opened_ui["app"]
    r = oauth_token(
        portal.sb,
        grant_type="refresh_token",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        refresh_token=opened_ui["form"]["REFRESH_ID"],
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def installed_ui(portal, rc, opened_ui, ui_tokens):
    """The opened app after its installer bound ONCRMLEADADD (as the admin) and called installFinish."""
    handler = rc.url + opened_ui["events"]
    assert ok(
        api(portal),
        "event.bind",
        {"event": "ONCRMLEADADD", "handler": handler},
        auth=ui_tokens["access_token"],
    )
    finish(portal, opened_ui["app"]["client_id"], opened_ui["sid"])
    return {**opened_ui, "tokens": ui_tokens}


def user2_frame(portal, rc, ui) -> dict:
    """Opens the installed app as user 2 (a non-admin); the frame POST the handler got."""
    open_app(portal, ui["app"]["client_id"], user_id=2)
    hits = frames(rc, ui["handler"])
    assert len(hits) == 1, rc.got
    return hits[0]["form"]


# ---- §2.3 frame POST and installer -------------------------------------------------------------
def test_first_open_posts_installer_with_frame_data(portal, rc):
    """§2.3 / §8.12: while not installed, opening the app POSTs the frame data to the installation
    path; query DOMAIN, PROTOCOL (0=http), LANG, APP_SID; body AUTH_ID, AUTH_EXPIRES (3600),
    REFRESH_ID, SERVER_ENDPOINT, APPLICATION_TOKEN, APPLICATION_SCOPE (comma list), member_id,
    status, PLACEMENT=DEFAULT; form-encoded."""
    ui = new_ui_app(portal, rc)
    opened = open_app(portal, ui["app"]["client_id"])
    hits = frames(rc, ui["install"])
    assert len(hits) == 1, rc.got
    assert not frames(rc, ui["handler"], timeout=0)  # the frame POST is done once `open` answered
    g = hits[0]
    assert g["ctype"].startswith("application/x-www-form-urlencoded")
    q = query_of(g)
    assert set(q) >= {"DOMAIN", "PROTOCOL", "LANG", "APP_SID"}, q
    assert q["DOMAIN"] == portal.info["domain"]
    assert q["PROTOCOL"] == "0"  # the sandbox portal is served over http
    assert q["LANG"] == portal.info["lang"]
    if "app_sid" in opened:
        assert q["APP_SID"] == opened["app_sid"]
    f = g["form"]
    for k in FRAME_BODY:
        assert k in f, k
    assert f["AUTH_EXPIRES"] == "3600"
    assert f["SERVER_ENDPOINT"] == portal.sb.oauth + "/rest/"
    assert set(f["APPLICATION_SCOPE"].split(",")) == {"crm", "user"}
    assert f["member_id"] == portal.info["member_id"]
    assert f["status"] == "L"
    assert f["PLACEMENT"] == "DEFAULT"
    assert f["APPLICATION_TOKEN"]


def test_non_admin_before_finish_gets_no_frame(portal, rc):
    """§2.3: until installFinish non-admins see "not fully installed" – the portal POSTs nothing to
    the installer or the handler for them. The admin's open afterwards does POST: once it arrived,
    the non-admin's open had its chance, and it must have left no POST of its own."""
    ui = new_ui_app(portal, rc)
    open_app(portal, ui["app"]["client_id"], user_id=2)
    open_app(portal, ui["app"]["client_id"], user_id=1)
    hits = frames(rc, ui["install"])
    assert len(hits) == 1, rc.got
    assert ok(api(portal), "profile", auth=hits[0]["form"]["AUTH_ID"])["ID"] == "1"
    assert not frames(rc, ui["handler"], timeout=0)


def test_frame_tokens_work(portal, opened_ui, ui_tokens):
    """§2.3: AUTH_ID = access_token of the user who opened it; REFRESH_ID = refresh_token."""
    assert ok(api(portal), "profile", auth=opened_ui["form"]["AUTH_ID"])["ID"] == "1"
    assert ok(api(portal), "profile", auth=ui_tokens["access_token"])["ID"] == "1"


def test_app_info_not_installed_before_finish(portal, ui_tokens):
    """§2.3: until installFinish `app.info` returns INSTALLED: false."""
    info = ok(api(portal), "app.info", auth=ui_tokens["access_token"])
    assert info["INSTALLED"] is False


def test_no_events_before_install_finished(portal, rc, opened_ui, ui_tokens):
    """§2.3 + §3.1 + §8.11: events are not sent until installation is complete (the installer
    binds handlers, but they fire only after installFinish). The lead added after installFinish
    reaches the handler; by then the one added before had its chance and must not have arrived."""
    at = ui_tokens["access_token"]
    handler = rc.url + opened_ui["events"]
    assert ok(api(portal), "event.bind", {"event": "ONCRMLEADADD", "handler": handler}, auth=at)
    before = ok(portal.webhook, "crm.lead.add", {"fields": {"TITLE": "before finish"}})
    finish(portal, opened_ui["app"]["client_id"], opened_ui["sid"])
    after = ok(portal.webhook, "crm.lead.add", {"fields": {"TITLE": "after finish"}})
    assert rc.wait(lambda g: g["path"] == opened_ui["events"] and g["form"]["data[FIELDS][ID]"] == str(after))
    deliveries_done(portal)
    got = [g["form"]["data[FIELDS][ID]"] for g in rc.got if g["path"] == opened_ui["events"]]
    assert got == [str(after)], (before, got)


def test_app_sid_new_per_render(portal, rc, opened_ui):
    """§2.3: APP_SID is new per render."""
    open_app(portal, opened_ui["app"]["client_id"])
    hits = frames(rc, opened_ui["install"], n=2)
    assert len(hits) == 2
    sids = [query_of(h)["APP_SID"] for h in hits]
    assert sids[0] != sids[1]


def test_after_finish_handler_path(portal, rc, opened_ui, ui_tokens):
    """§2.3: after BX24.installFinish() the installer URL is never called again; the app page
    (handler path) gets the same POST data; app.info INSTALLED true."""
    finish(portal, opened_ui["app"]["client_id"], opened_ui["sid"])
    open_app(portal, opened_ui["app"]["client_id"])
    hits = frames(rc, opened_ui["handler"])
    assert len(hits) == 1, rc.got
    assert len(frames(rc, opened_ui["install"], timeout=0)) == 1  # only the first, pre-finish open
    f = hits[0]["form"]
    for k in FRAME_BODY:
        assert k in f, k
    assert f["PLACEMENT"] == "DEFAULT"
    assert f["APPLICATION_TOKEN"] == opened_ui["form"]["APPLICATION_TOKEN"]
    info = ok(api(portal), "app.info", auth=ui_tokens["access_token"])
    assert info["INSTALLED"] is True


def test_events_after_install_finished(portal, rc, installed_ui):
    """§2.3/§3.1: after installation finished the handler bound in the installer gets events;
    §2.5 the event's application_token equals the frame's APPLICATION_TOKEN."""
    lid = ok(portal.webhook, "crm.lead.add", {"fields": {"TITLE": "after finish"}})
    hits = rc.wait(lambda g: g["path"] == installed_ui["events"])
    assert len(hits) == 1, hits
    f = hits[0]["form"]
    assert f["event"] == "ONCRMLEADADD" and f["data[FIELDS][ID]"] == str(lid)
    assert f["auth[application_token]"] == installed_ui["form"]["APPLICATION_TOKEN"]


def test_frame_tokens_belong_to_opening_user(portal, rc, installed_ui):
    """§2.3: tokens in the frame belong to the user who opened it."""
    f = user2_frame(portal, rc, installed_ui)
    assert ok(api(portal), "profile", auth=f["AUTH_ID"])["ID"] == "2"


def test_non_admin_event_bind_restrictions(portal, rc, installed_ui):
    """§3.3: non-admins: `auth_type` ≠ self is refused and offline events are refused, both 403
    ACCESS_DENIED; event.get shows a non-admin only their own handlers."""
    at2 = user2_frame(portal, rc, installed_ui)["AUTH_ID"]
    admin_at = installed_ui["tokens"]["access_token"]
    handler = rc.url + unique("x")
    r = call(
        api(portal),
        "event.bind",
        {"event": "ONCRMDEALADD", "handler": handler, "auth_type": 1},
        auth=at2,
    )
    assert r.status_code == 403 and r.json()["error"] == "ACCESS_DENIED", r.text
    r = call(api(portal), "event.bind", {"event": "ONCRMDEALADD", "event_type": "offline"}, auth=at2)
    assert r.status_code == 403 and r.json()["error"] == "ACCESS_DENIED", r.text
    assert not [b for b in ok(api(portal), "event.get", auth=admin_at) if b["handler"] == handler]


def test_non_admin_event_get_sees_only_own(portal, rc, installed_ui):
    """§3.3 event.get: "non-admins see only their handlers"."""
    at2 = user2_frame(portal, rc, installed_ui)["AUTH_ID"]
    admin_at = installed_ui["tokens"]["access_token"]
    h = rc.url + unique("own")
    admin_handler = rc.url + installed_ui["events"]
    assert ok(api(portal), "event.bind", {"event": "ONCRMDEALADD", "handler": h}, auth=at2)
    try:
        seen = {b["handler"] for b in ok(api(portal), "event.get", auth=at2)}
        assert h in seen
        assert admin_handler in {b["handler"] for b in ok(api(portal), "event.get", auth=admin_at)}
        assert admin_handler not in seen  # bound by the admin in the installer
    finally:
        ok(api(portal), "event.unbind", {"event": "ONCRMDEALADD", "handler": h}, auth=at2)


def test_frame_placement_options_is_json(portal, rc, installed_ui):
    """§2.3: PLACEMENT_OPTIONS, when sent, is a JSON string to be decoded."""
    import json

    open_app(portal, installed_ui["app"]["client_id"])
    posted = [installed_ui["hit"], *frames(rc, installed_ui["handler"])]
    assert len(posted) == 2
    for g in posted:
        if "PLACEMENT_OPTIONS" in g["form"]:
            json.loads(g["form"]["PLACEMENT_OPTIONS"])


def test_no_events_after_uninstall(portal, rc, installed_ui, tok):
    """§2.4: uninstall removes the app's event handlers – no more events; §8.5 the uninstalled app
    can no longer authorize (HTML error page, no redirect). Another app's handler of the same
    event gets the lead, so the uninstalled app's handler had its chance."""
    from .conftest import authorize

    app = installed_ui["app"]
    r = requests.post(f"{portal.ctl}/apps/{app['client_id']}/uninstall", json={}, timeout=10)
    assert r.status_code < 300, r.text

    def add_lead():
        return ok(portal.webhook, "crm.lead.add", {"fields": {"TITLE": "after uninstall"}})

    sentinel_arrived(portal, rc, tok["access_token"], "ONCRMLEADADD", add_lead)
    assert not [g for g in rc.got if g["path"] == installed_ui["events"]]
    r = authorize(portal, app["client_id"], state="s")
    assert r.status_code != 302 and "Location" not in r.headers
    assert "text/html" in r.headers["Content-Type"]


# ---- §3.1/§3.2 delivery -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tok(portal):
    _, t = app_tokens(portal, scopes=["crm", "user"])
    return t


def test_no_retries_on_500(portal, rc, tok):
    """§3.1 + §8.11: no retries – a handler answering 500 gets exactly one POST. After the clock
    moved on (a queue that retries on a timer would retry by now) a later event reaches another
    handler and nothing is in flight: still one POST."""
    at = tok["access_token"]
    failing = rc.url + "/fail" + unique("deal")
    ok(api(portal), "event.bind", {"event": "ONCRMDEALADD", "handler": failing}, auth=at)
    try:
        ok(portal.webhook, "crm.deal.add", {"fields": {"TITLE": "no retry"}})
        assert rc.wait(lambda g: rc.url + g["path"] == failing)
        clock(portal.sb, 120)

        def add_lead():
            return ok(portal.webhook, "crm.lead.add", {"fields": {"TITLE": "after the failure"}})

        sentinel_arrived(portal, rc, at, "ONCRMLEADADD", add_lead)
        assert len([g for g in rc.got if rc.url + g["path"] == failing]) == 1
    finally:
        ok(api(portal), "event.unbind", {"event": "ONCRMDEALADD", "handler": failing}, auth=at)


def test_event_payload_keys(portal, rc, tok):
    """§3.2 + §8.11: top-level `event, event_handler_id, data, ts, auth`; auth incl. `access_token,
    expires, expires_in, scope, domain, server_endpoint, status, client_endpoint, member_id,
    application_token, user_id`; all scalars strings; ts unix; tokens usable."""
    at = tok["access_token"]
    h = rc.url + "/keys"
    ok(api(portal), "event.bind", {"event": "ONCRMCONTACTADD", "handler": h}, auth=at)
    now = clock(portal.sb)
    cid = ok(portal.webhook, "crm.contact.add", {"fields": {"NAME": "Ivan"}})
    hits = rc.wait(lambda g: g["path"] == "/keys")
    assert hits
    f = hits[0]["form"]
    assert hits[0]["ctype"].startswith("application/x-www-form-urlencoded")
    top = {k.split("[", 1)[0] for k in f}
    assert top == {"event", "event_handler_id", "data", "ts", "auth"}, top
    assert f["event"] == "ONCRMCONTACTADD"
    assert f["data[FIELDS][ID]"] == str(cid)
    assert f["event_handler_id"].isdigit()
    assert f["ts"].isdigit() and abs(int(f["ts"]) - now) < 60
    for k in EVENT_AUTH_FIELDS:
        assert f.get(f"auth[{k}]"), k
    assert f["auth[expires_in]"] == "3600"
    # `expires` is a unix time; the docs do not say the token is minted per event, only that it is
    # the acting user's access token – so it must still be valid and at most 1 h ahead (§1.4)
    assert int(f["ts"]) < int(f["auth[expires]"]) <= int(f["ts"]) + 3600 + 5
    assert f["auth[server_endpoint]"] == portal.sb.oauth + "/rest/"
    assert f["auth[status]"] == "L"
    assert set(f["auth[scope]"].split(",")) == {"crm", "user"}
    assert f["auth[user_id]"] == "1"
    assert ok(api(portal), "profile", auth=f["auth[access_token]"])["ID"] == "1"
    ok(api(portal), "event.unbind", {"event": "ONCRMCONTACTADD", "handler": h}, auth=at)


def test_event_handler_id_per_handler(portal, rc, tok):
    """§3.2: `event_handler_id` is the handler's id – stable for one handler, distinct across handlers."""
    at = tok["access_token"]
    h1, h2 = rc.url + "/hid1", rc.url + "/hid2"
    for h in (h1, h2):
        ok(api(portal), "event.bind", {"event": "ONCRMCOMPANYADD", "handler": h}, auth=at)
    for i in range(2):
        ok(portal.webhook, "crm.company.add", {"fields": {"TITLE": f"c{i}"}})
    end = time.monotonic() + 5
    while time.monotonic() < end and len([g for g in rc.got if g["path"] in ("/hid1", "/hid2")]) < 4:
        time.sleep(0.05)
    a = {g["form"]["event_handler_id"] for g in rc.got if g["path"] == "/hid1"}
    b = {g["form"]["event_handler_id"] for g in rc.got if g["path"] == "/hid2"}
    assert len(a) == 1 and len(b) == 1 and a != b, (a, b)
    for h in (h1, h2):
        ok(api(portal), "event.unbind", {"event": "ONCRMCOMPANYADD", "handler": h}, auth=at)


def test_event_auth_belongs_to_acting_user(portal, rc, tok):
    """§3.2: tokens belong to the user whose action fired the event."""
    at = tok["access_token"]
    h = rc.url + "/actor"
    ok(api(portal), "event.bind", {"event": "ONCRMLEADADD", "handler": h}, auth=at)
    hook2 = portal.hook_for(2)
    ok(hook2, "crm.lead.add", {"fields": {"TITLE": "by user 2"}})
    hits = rc.wait(lambda g: g["path"] == "/actor")
    assert hits
    f = hits[0]["form"]
    assert f["auth[user_id]"] == "2"
    assert ok(api(portal), "profile", auth=f["auth[access_token]"])["ID"] == "2"
    ok(api(portal), "event.unbind", {"event": "ONCRMLEADADD", "handler": h}, auth=at)


def test_event_auth_type_user(portal, rc, tok):
    """§3.2/§3.3: with `auth_type` the handler gets that user's auth (admin may set it)."""
    at = tok["access_token"]
    h = rc.url + "/authtype"
    ok(api(portal), "event.bind", {"event": "ONCRMLEADADD", "handler": h, "auth_type": 1}, auth=at)
    got = [b for b in ok(api(portal), "event.get", auth=at) if b["handler"] == h]
    assert got and got[0]["auth_type"] == "1"
    ok(portal.hook_for(2), "crm.lead.add", {"fields": {"TITLE": "by user 2, auth_type 1"}})
    hits = rc.wait(lambda g: g["path"] == "/authtype")
    assert hits and hits[0]["form"]["auth[user_id]"] == "1"
    r = ok(api(portal), "event.unbind", {"event": "ONCRMLEADADD", "handler": h, "auth_type": 1}, auth=at)
    assert r == {"count": 1}


# ---- §3.3 event.get / event.unbind -------------------------------------------------------------
def test_event_get_shape(portal, tok):
    """§3.3: event.get result = list of {event, handler, auth_type (string, "0"), offline (0/1)}."""
    at = tok["access_token"]
    h = "http://127.0.0.1:9/shape"
    ok(api(portal), "event.bind", {"event": "ONCRMDEALUPDATE", "handler": h}, auth=at)
    res = ok(api(portal), "event.get", auth=at)
    assert isinstance(res, list) and res
    for b in res:
        assert {"event", "handler", "auth_type", "offline"} <= set(b), b
        assert isinstance(b["auth_type"], str)
        assert str(b["offline"]) in ("0", "1")
    mine = [b for b in res if b["handler"] == h]
    assert len(mine) == 1
    assert mine[0]["event"] == "ONCRMDEALUPDATE" and mine[0]["auth_type"] == "0"
    ok(api(portal), "event.unbind", {"event": "ONCRMDEALUPDATE", "handler": h}, auth=at)


def test_event_unbind_count(portal, tok):
    """§3.3: event.unbind returns {"count": n}; 0 when nothing matched."""
    at = tok["access_token"]
    h1, h2 = "http://127.0.0.1:9/u1", "http://127.0.0.1:9/u2"
    for h in (h1, h2):
        ok(api(portal), "event.bind", {"event": "ONCRMQUOTEADD", "handler": h}, auth=at)
    assert ok(api(portal), "event.unbind", {"event": "ONCRMQUOTEADD", "handler": h1}, auth=at) == {"count": 1}
    assert ok(api(portal), "event.unbind", {"event": "ONCRMQUOTEADD", "handler": h1}, auth=at) == {"count": 0}
    left = [b["handler"] for b in ok(api(portal), "event.get", auth=at) if b["event"] == "ONCRMQUOTEADD"]
    assert h2 in left and h1 not in left
    assert ok(api(portal), "event.unbind", {"event": "ONCRMQUOTEADD", "handler": h2}, auth=at) == {"count": 1}


def test_unbound_handler_gets_nothing(portal, rc, tok):
    """§3.3: after event.unbind the handler is no longer called – while a handler still bound to
    the same event gets it."""
    at = tok["access_token"]
    path = unique("gone")
    ok(api(portal), "event.bind", {"event": "ONCRMDEALADD", "handler": rc.url + path}, auth=at)
    ok(api(portal), "event.unbind", {"event": "ONCRMDEALADD", "handler": rc.url + path}, auth=at)

    def add_deal():
        return ok(portal.webhook, "crm.deal.add", {"fields": {"TITLE": "nobody listens"}})

    sentinel_arrived(portal, rc, at, "ONCRMDEALADD", add_deal)
    assert not [g for g in rc.got if g["path"] == path]


# ---- §3.3 / §3.6 / §6.1 app-only methods via webhook -------------------------------------------
@pytest.mark.parametrize(
    "method,params",
    [
        ("event.bind", {"event": "ONCRMDEALADD", "handler": "http://127.0.0.1:9/h"}),
        ("event.get", {}),
        ("event.unbind", {"event": "ONCRMDEALADD", "handler": "http://127.0.0.1:9/h"}),
    ],
)
def test_event_methods_via_webhook_wrong_auth_type(portal, method, params):
    """§3.3 event.* work only with application (OAuth) auth; §3.6 app-context methods via webhook →
    403 WRONG_AUTH_TYPE; §6.1 "Current authorization type is denied for this method"."""
    r = call(portal.webhook, method, params)
    assert r.status_code == 403, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "WRONG_AUTH_TYPE", body
    assert body["error_description"] == "Current authorization type is denied for this method"


def test_event_test_fires_onapptest(portal, rc, tok):
    """§3.3: `event.test` fires ONAPPTEST to handlers bound to it; request params appear under
    data[QUERY]; returns 1; OAuth only."""
    at = tok["access_token"]
    h = rc.url + "/apptest"
    ok(api(portal), "event.bind", {"event": "ONAPPTEST", "handler": h}, auth=at)
    try:
        assert ok(api(portal), "event.test", {"any": "thing"}, auth=at) in (1, "1", True)
        hits = rc.wait(lambda g: g["path"] == "/apptest")
        assert hits and hits[0]["form"]["event"] == "ONAPPTEST"
        assert hits[0]["form"]["data[QUERY][any]"] == "thing"
    finally:
        ok(api(portal), "event.unbind", {"event": "ONAPPTEST", "handler": h}, auth=at)


def test_events_lists_event_codes(portal, tok):
    """§3.3: `events` returns the list of event codes available to the app."""
    res = ok(api(portal), "events", auth=tok["access_token"])
    assert "ONCRMDEALADD" in res and "ONAPPUNINSTALL" in res
