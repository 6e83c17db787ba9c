"""``POST /hooks/resync``: signed deliveries ask for a library sync; forged, replayed, stale or
oversized ones change nothing (on SQLite and PostgreSQL: ``web_store`` from tests/web/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import replace

import pytest

from b24app.store import Settings
from handlers import create_app
from handlers.hooks import MAX_HOOK_BODY
from tests.dbfixtures import add_portal

SECRET = "a-shared-secret-of-some-length"  # GitHub: any text
SIGNING_TOKEN = "whsec_" + base64.b64encode(bytes(range(32))).decode()  # GitLab: whsec_<base64 key>
NAMED = json.dumps({"templates": ["retail", "acme.yaml"]}).encode()
PUSH = json.dumps({"ref": "refs/heads/main", "commits": [{"id": "abc", "modified": ["base.yaml"]}]}).encode()


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(instance=tmp_path, database_url=database_url, templates=tmp_path / "templates")


@pytest.fixture
def client(settings, web_store):
    app = create_app(replace(settings, webhook_secret=SECRET), store=web_store)
    return app.test_client()


@pytest.fixture
def gitlab_client(settings, web_store):
    app = create_app(replace(settings, webhook_secret=SIGNING_TOKEN), store=web_store)
    return app.test_client()


@pytest.fixture
def waiting_resync(web_store) -> int:
    """A portal with a resync already asked for: the count every refusal must leave as it is."""
    portal = add_portal(web_store, "m1", "a.example.com")
    web_store.resyncs.request(portal.id, "earlier")
    return web_store.resyncs.total_requests()


def github_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def gitlab_headers(
    body: bytes, token: str = SIGNING_TOKEN, at: float | None = None, hook_id: str = "msg_1"
) -> dict:
    timestamp = str(int(time.time() if at is None else at))
    key = base64.b64decode(token.removeprefix("whsec_"))
    signature = base64.b64encode(
        hmac.new(key, f"{hook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    )
    return {
        "webhook-id": hook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature.decode()}",
        "Content-Type": "application/json",
    }


def nothing_asked(store, total: int) -> bool:
    return (
        store.library.pending() is None
        and store.library.delivered() == 0
        and store.resyncs.total_requests() == total
    )


def test_a_signed_github_delivery_is_accepted_and_recorded(client, web_store):
    answer = client.post("/hooks/resync", data=NAMED, headers=github_headers(NAMED))

    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json() == {"result": "accepted", "templates": ["retail", "acme"]}
    assert web_store.library.pending().names == ("acme", "retail")
    assert web_store.library.delivered() == 1
    event = web_store.events.list()[0]
    assert (event.event, event.outcome, event.detail) == (
        "hooks.resync",
        "accepted",
        "GitHub: templates retail, acme",
    )


def test_a_signed_gitlab_delivery_is_accepted_and_recorded(gitlab_client, web_store):
    answer = gitlab_client.post("/hooks/resync", data=PUSH, headers=gitlab_headers(PUSH))

    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["templates"] == "all"
    assert web_store.library.pending().names is None  # a push event: every template is compared
    assert web_store.library.delivered() == 1


def test_one_of_several_gitlab_signatures_may_match(gitlab_client, web_store):
    headers = gitlab_headers(PUSH)
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert gitlab_client.post("/hooks/resync", data=PUSH, headers=headers).status_code == 202


def forged_github(body: bytes) -> list[tuple[str, bytes, dict]]:
    good = github_headers(body)["X-Hub-Signature-256"]
    return [
        ("wrong secret", body, github_headers(body, "another-secret-of-some-length")),
        ("body changed after signing", body.replace(b"retail", b"retai1"), github_headers(body)),
        ("no signature", body, {"Content-Type": "application/json"}),
        ("malformed", body, {"X-Hub-Signature-256": good[:-2]}),
        ("not hex", body, {"X-Hub-Signature-256": good[:-2] + "zz"}),
        ("sha1 prefix", body, {"X-Hub-Signature-256": good.replace("sha256=", "sha1=")}),
        ("sha1 header", body, {"X-Hub-Signature": good.replace("sha256=", "sha1=")}),
        ("plain GitLab token", body, {"X-Gitlab-Token": SECRET}),
    ]


@pytest.mark.parametrize("case", range(len(forged_github(NAMED))), ids=[c[0] for c in forged_github(NAMED)])
def test_a_forged_github_delivery_is_refused_and_changes_nothing(client, web_store, waiting_resync, case):
    _, body, headers = forged_github(NAMED)[case]

    answer = client.post("/hooks/resync", data=body, headers=headers)

    assert answer.status_code == 401
    assert answer.get_json()["error"] == "refused"
    assert nothing_asked(web_store, waiting_resync)
    event = web_store.events.list()[0]
    assert (event.event, event.outcome) == ("hooks.resync", "refused")
    assert SECRET not in event.detail and SECRET not in answer.get_data(as_text=True)


def forged_gitlab(body: bytes) -> list[tuple[str, dict]]:
    good = gitlab_headers(body)
    return [
        ("wrong token", gitlab_headers(body, "whsec_" + base64.b64encode(b"x" * 32).decode())),
        ("another id", {**good, "webhook-id": "msg_2"}),
        ("another timestamp", {**good, "webhook-timestamp": str(int(good["webhook-timestamp"]) + 1)}),
        ("v2 prefix", {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")}),
        ("not base64", {**good, "webhook-signature": "v1,***"}),
        ("no id", {k: v for k, v in good.items() if k != "webhook-id"}),
        ("no timestamp", {k: v for k, v in good.items() if k != "webhook-timestamp"}),
        ("stale", gitlab_headers(body, at=time.time() - 6 * 60)),
        ("from the future", gitlab_headers(body, at=time.time() + 6 * 60)),
    ]


@pytest.mark.parametrize("case", range(len(forged_gitlab(PUSH))), ids=[c[0] for c in forged_gitlab(PUSH)])
def test_a_forged_or_stale_gitlab_delivery_is_refused_and_changes_nothing(
    gitlab_client, web_store, waiting_resync, case
):
    _, headers = forged_gitlab(PUSH)[case]
    answer = gitlab_client.post("/hooks/resync", data=PUSH, headers=headers)
    assert answer.status_code == 401, answer.get_json()
    assert nothing_asked(web_store, waiting_resync)


def test_a_gitlab_delivery_signed_a_little_earlier_is_accepted(gitlab_client, web_store):
    headers = gitlab_headers(PUSH, at=time.time() - 4 * 60)
    assert gitlab_client.post("/hooks/resync", data=PUSH, headers=headers).status_code == 202


def test_a_replayed_github_delivery_is_refused(client, web_store):
    assert client.post("/hooks/resync", data=NAMED, headers=github_headers(NAMED)).status_code == 202
    web_store.library.done(web_store.library.pending())  # a worker synced it

    replay = client.post("/hooks/resync", data=NAMED, headers=github_headers(NAMED))

    assert replay.status_code == 401 and "replay" in replay.get_json()["message"]
    assert web_store.library.pending() is None and web_store.library.delivered() == 1


def test_a_replayed_gitlab_delivery_is_refused(gitlab_client, web_store):
    headers = gitlab_headers(PUSH)
    assert gitlab_client.post("/hooks/resync", data=PUSH, headers=headers).status_code == 202
    web_store.library.done(web_store.library.pending())
    assert gitlab_client.post("/hooks/resync", data=PUSH, headers=headers).status_code == 401
    assert web_store.library.pending() is None


def test_copies_of_one_delivery_sent_at_once_are_accepted_once(client, web_store):
    body = json.dumps({"templates": "all", "n": 1}).encode()
    statuses: list[int] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        statuses.append(client.post("/hooks/resync", data=body, headers=github_headers(body)).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == [202] + [401] * 5
    assert web_store.library.delivered() == 1


def test_an_oversized_body_is_refused_with_413(client, web_store, waiting_resync):
    body = json.dumps({"templates": "all", "pad": "x" * MAX_HOOK_BODY}).encode()
    answer = client.post("/hooks/resync", data=body, headers=github_headers(body))
    assert answer.status_code == 413
    assert nothing_asked(web_store, waiting_resync)


def test_without_a_secret_the_endpoint_is_off(settings, web_store):
    client = create_app(settings, store=web_store).test_client()
    answer = client.post("/hooks/resync", data=NAMED, headers=github_headers(NAMED))
    assert answer.status_code == 404
    assert "B24APP_WEBHOOK_SECRET" in answer.get_json()["message"]
    assert web_store.library.pending() is None


@pytest.mark.parametrize(
    "body",
    [
        b"payload=%7B%7D",
        b"[]",
        b'{"templates": []}',
        b'{"templates": ["../secret"]}',
        b'{"templates": [1]}',
        b'{"templates": "some"}',
        b'{"hello": "world"}',
    ],
)
def test_a_signed_body_that_names_nothing_valid_is_refused_with_400(client, web_store, body):
    answer = client.post("/hooks/resync", data=body, headers=github_headers(body))
    assert answer.status_code == 400
    assert web_store.library.pending() is None and web_store.library.delivered() == 0


def test_a_github_ping_is_answered_and_asks_for_nothing(client, web_store):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    headers = {**github_headers(body), "X-GitHub-Event": "ping"}
    answer = client.post("/hooks/resync", data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["result"] == "pong"
    assert web_store.library.pending() is None
