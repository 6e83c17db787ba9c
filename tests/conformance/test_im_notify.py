"""`im.notify.system.add` against the official documents, over HTTP to a sandbox process.

Sources (bitrix24/b24restdocs): api-reference/chats/notifications/im-notify-system-add.md (parameters,
answer, USER_ID_EMPTY / MESSAGE_EMPTY / ATTACH_ERROR / ATTACH_OVERSIZE, "may return false" when no
notification was created, TAG unique within the application), api-reference/chats/index.md ("the
im.* methods work in the im scope"; over a webhook TAG/SUB_TAG come with CLIENT_ID; ATTACH at most
60,000 characters), api-reference/chats/messages/formatting.md (`[URL=...]...[/URL]`).
The notifications a portal holds are read back through the sandbox's control API.
"""

from __future__ import annotations

import json

import pytest
import requests

from .conftest import app_tokens, call, err, ok

METHOD = "im.notify.system.add"


@pytest.fixture(scope="module")
def portal(sb_mod):
    return sb_mod.portal(1)


@pytest.fixture(scope="module")
def app(portal):
    """An app with the scopes of b24app's install.json (crm, im) and user 1's token."""
    registered, tokens = app_tokens(portal, scopes=["crm", "im"])
    return registered, tokens["access_token"]


def api(portal) -> str:
    return portal.base + "rest/"


def notifications(portal, **query) -> dict:
    r = requests.get(f"{portal.ctl}/notifications", params=query, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def by_id(portal, notification_id: int) -> dict | None:
    return next((n for n in notifications(portal)["notifications"] if n["id"] == notification_id), None)


def test_an_app_notifies_a_user_and_gets_the_id(portal, app):
    """The answer is the new notification's integer id; the portal keeps USER_ID, the trimmed
    MESSAGE with its BB-code link, MESSAGE_OUT, TAG and SUB_TAG, and the calling app."""
    registered, token = app
    message = "  Drift found. [URL=https://example.bitrix24.ru/marketplace/app/x/]Open[/URL]\n"
    result = ok(
        api(portal),
        METHOD,
        {
            "USER_ID": 2,
            "MESSAGE": message,
            "MESSAGE_OUT": "Drift found: https://x/",
            "TAG": "t1",
            "SUB_TAG": "s|1",
        },
        auth=token,
    )
    assert isinstance(result, int) and not isinstance(result, bool) and result > 0
    kept = by_id(portal, result)
    assert kept is not None
    assert kept["user_id"] == 2
    assert kept["message"] == message.strip()
    assert kept["message_out"] == "Drift found: https://x/"
    assert (kept["tag"], kept["sub_tag"], kept["app"]) == ("t1", "s|1", registered["client_id"])


@pytest.mark.parametrize("how", ["json", "form", "get"])
def test_every_request_form_works(portal, app, how):
    """Like every method, JSON, form-encoded and query-string calls are read alike."""
    result = ok(api(portal), METHOD, {"USER_ID": "1", "MESSAGE": f"by {how}"}, how=how, auth=app[1])
    assert by_id(portal, result)["message"] == f"by {how}"


@pytest.mark.parametrize("user_id", [None, 0, -3, "", "abc"])
def test_missing_or_non_positive_user_id_is_user_id_empty(portal, app, user_id):
    params = {"MESSAGE": "hello"} if user_id is None else {"USER_ID": user_id, "MESSAGE": "hello"}
    sent = notifications(portal)["sent"]
    status, body = err(api(portal), METHOD, params, auth=app[1])
    assert (status, body["error"]) == (400, "USER_ID_EMPTY"), body
    assert notifications(portal)["sent"] == sent


@pytest.mark.parametrize("message", [None, "", "   \n\t "])
def test_missing_or_blank_message_is_message_empty(portal, app, message):
    """MESSAGE is trimmed before the check: whitespace alone is empty."""
    params = {"USER_ID": 1} if message is None else {"USER_ID": 1, "MESSAGE": message}
    status, body = err(api(portal), METHOD, params, auth=app[1])
    assert (status, body["error"]) == (400, "MESSAGE_EMPTY"), body


def test_an_unknown_user_gets_false_and_nothing_is_created(portal, app):
    """An unknown USER_ID: "if the notification was not created, it may return false"."""
    sent = notifications(portal)["sent"]
    assert ok(api(portal), METHOD, {"USER_ID": 9999, "MESSAGE": "hello"}, auth=app[1]) is False
    assert notifications(portal)["sent"] == sent
    assert notifications(portal, user_id=9999)["notifications"] == []


def test_the_same_tag_replaces_the_earlier_notification(portal, app):
    """TAG is unique within the application: the second notice with it removes the first; another
    tag, and the same tag of another app, are left alone."""
    token = app[1]
    first = ok(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "first", "TAG": "b24app|drift|7"}, auth=token)
    other = ok(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "other", "TAG": "b24app|drift|8"}, auth=token)
    _, another_app = app_tokens(portal, scopes=["im"])
    foreign = ok(
        api(portal),
        METHOD,
        {"USER_ID": 1, "MESSAGE": "foreign", "TAG": "b24app|drift|7"},
        auth=another_app["access_token"],
    )
    second = ok(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "second", "TAG": "b24app|drift|7"}, auth=token)
    assert second > first
    assert by_id(portal, first) is None
    assert by_id(portal, second)["message"] == "second"
    assert by_id(portal, other)["message"] == "other"
    assert by_id(portal, foreign)["message"] == "foreign"


def test_an_app_without_the_im_scope_is_refused(portal):
    """The im.* methods work in the im scope: a crm-only app gets insufficient_scope, nothing sent."""
    _, tokens = app_tokens(portal, scopes=["crm"])
    sent = notifications(portal)["sent"]
    r = call(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "hello"}, auth=tokens["access_token"])
    assert r.status_code in (401, 403) and r.json()["error"] == "insufficient_scope", r.text
    assert notifications(portal)["sent"] == sent


def test_a_webhook_needs_the_im_scope_and_names_the_app_with_client_id(portal):
    """A webhook without im is refused; one with im works, and its TAG belongs to CLIENT_ID."""
    r = call(portal.webhook, METHOD, {"USER_ID": 1, "MESSAGE": "hello"})  # the admin's crm/user hook
    assert r.status_code in (401, 403) and r.json()["error"] == "insufficient_scope", r.text
    hook = portal.hook_for(1, scopes=("im",))
    result = ok(hook, METHOD, {"USER_ID": 3, "MESSAGE": "by hook", "TAG": "x", "CLIENT_ID": "local.1.2"})
    assert (by_id(portal, result)["app"], by_id(portal, result)["tag"]) == ("local.1.2", "x")


def test_inside_a_batch_each_command_answers_on_its_own(portal, app):
    """Inside `batch` the method runs per command: an id for a good one, MESSAGE_EMPTY for a bad one."""
    result = ok(
        api(portal),
        "batch",
        {
            "halt": 0,
            "cmd": {"good": f"{METHOD}?USER_ID=1&MESSAGE=from%20batch", "bad": f"{METHOD}?USER_ID=1"},
        },
        auth=app[1],
    )
    assert by_id(portal, result["result"]["good"])["message"] == "from batch"
    assert result["result_error"]["bad"]["error"] == "MESSAGE_EMPTY"


def test_attach_as_json_text_or_object_and_its_errors(portal, app):
    """ATTACH is an object or a JSON string; anything else is ATTACH_ERROR, more than 60,000
    characters ATTACH_OVERSIZE."""
    attach = [{"MESSAGE": "block"}]
    token = app[1]
    as_text = ok(
        api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "a", "ATTACH": json.dumps(attach)}, auth=token
    )
    as_object = ok(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "a", "ATTACH": attach}, auth=token)
    assert by_id(portal, as_text)["attach"] == by_id(portal, as_object)["attach"] == attach
    status, body = err(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "a", "ATTACH": "not json"}, auth=token)
    assert (status, body["error"]) == (400, "ATTACH_ERROR")
    huge = [{"MESSAGE": "x" * 60_001}]
    status, body = err(api(portal), METHOD, {"USER_ID": 1, "MESSAGE": "a", "ATTACH": huge}, auth=token)
    assert (status, body["error"]) == (400, "ATTACH_OVERSIZE")


def test_methods_lists_it_under_the_im_scope(portal, app):
    assert METHOD in ok(api(portal), "methods", {"scope": "im"}, auth=app[1])
    assert ok(api(portal), "method.get", {"name": METHOD}, auth=app[1]) == {
        "isExisting": True,
        "isAvailable": True,
    }
