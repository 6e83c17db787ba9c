"""The `im` scope of the emulated portal: `im.notify.system.add`, a system notification to one user.

What the sandbox follows (bitrix24/b24restdocs, api-reference/chats/notifications/im-notify-system-add.md
and api-reference/chats/index.md "Authorization and Limits"):

- scope `im`; called with a webhook or an app token (never a browser session: WRONG_AUTH_TYPE, which
  the sandbox has no way to be called with);
- USER_ID* (integer): missing or <= 0 -> HTTP 400 `USER_ID_EMPTY` "User ID can't be empty";
- MESSAGE* (string, trimmed at both ends, BB codes such as `[URL=…]…[/URL]` allowed): empty ->
  HTTP 400 `MESSAGE_EMPTY` "Message can't be empty";
- MESSAGE_OUT (the text for e-mail and other channels), TAG (unique within the application: a new
  notification with an existing tag removes the others), SUB_TAG (no uniqueness check); over a
  webhook TAG and SUB_TAG come with CLIENT_ID, which names the application;
- ATTACH (an object or a JSON string): not an object -> `ATTACH_ERROR` "Incorrect attach params";
  serialised above 60,000 characters -> `ATTACH_OVERSIZE`;
- the answer is the new notification's id (integer); "if the notification was not created, it may
  return false". The sandbox answers `false` for a USER_ID that is no user of the portal (an
  unknown user is the case the documents leave to that sentence) and records nothing.

The sandbox keeps the notifications per portal (`Portal.notifications`, newest last, at most
`MAX_KEPT`) so tests can read what an app told whom (control API `GET /control/portals/N/notifications`).
"""

from __future__ import annotations

import json

from b24app.sandbox.portal import Portal, now_iso
from b24app.sandbox.rest_common import CallContext, Handler, Reply, RestError, param, php_int

MAX_ATTACH_CHARS = 60_000  # the serialised ATTACH, chats/index.md
MAX_KEPT = 1000  # notifications remembered per portal (the sandbox's bound, not Bitrix24's)


def _text(value: object) -> str:
    """A string parameter as PHP reads it: scalars as text, arrays and null as empty."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _attach(value: object) -> object:
    """ATTACH as an object (dict or list); a JSON string is decoded; "" and null mean none."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RestError(400, "ATTACH_ERROR", "Incorrect attach params") from None
    if not isinstance(value, (dict, list)) or not value:
        raise RestError(400, "ATTACH_ERROR", "Incorrect attach params")
    if len(json.dumps(value, ensure_ascii=False)) > MAX_ATTACH_CHARS:
        raise RestError(400, "ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach")
    return value


def _application(params: dict, ctx: CallContext) -> str:
    """Whose tag it is: the calling app, or over a webhook the CLIENT_ID passed with the tag."""
    if ctx.auth_type == "oauth":
        return ctx.client_id or ""
    return _text(param(params, "CLIENT_ID", "")).strip()


def notify_system_add(portal: Portal, params: dict, ctx: CallContext) -> Reply:
    user_id = php_int(param(params, "USER_ID", 0))
    if user_id <= 0:
        raise RestError(400, "USER_ID_EMPTY", "User ID can't be empty")
    message = _text(param(params, "MESSAGE", "")).strip()
    if not message:
        raise RestError(400, "MESSAGE_EMPTY", "Message can't be empty")
    attach = _attach(param(params, "ATTACH"))
    if user_id not in portal.users:
        return Reply(False)
    app = _application(params, ctx)
    tag = _text(param(params, "TAG", "")).strip()
    if tag:
        portal.notifications[:] = [n for n in portal.notifications if (n["app"], n["tag"]) != (app, tag)]
    notification = {
        "id": portal.next_notification_id,
        "user_id": user_id,
        "message": message,
        "message_out": _text(param(params, "MESSAGE_OUT", "")).strip(),
        "tag": tag,
        "sub_tag": _text(param(params, "SUB_TAG", "")).strip(),
        "attach": attach,
        "app": app,
        "auth_type": ctx.auth_type,
        "author_id": ctx.user_id,
        "date": now_iso(portal.lang),
    }
    portal.next_notification_id += 1
    portal.notifications.append(notification)
    del portal.notifications[:-MAX_KEPT]
    return Reply(notification["id"])


METHODS: dict[str, Handler] = {"im.notify.system.add": notify_system_add}
