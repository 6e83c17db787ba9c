"""Re-connecting a portal with the OAuth authorization-code flow (platform.md §1.2–§1.3), with authlib.

When a portal's refresh token died (unused for 180 days, spent by a process that crashed before
saving), the admin re-authorises b24app:

1. :func:`authorize_url` — the browser goes to ``https://<portal>/oauth/authorize/?client_id=…&state=…``
   (the portal takes the redirect address from the local app's settings: its handler path);
2. the portal redirects back with ``code``, ``state``, ``domain``, ``member_id``, ``scope``,
   ``server_domain`` in the query (:func:`parse_authorization_reply`);
3. :func:`exchange_code` checks ``state`` (bound to the admin's session by the caller) and that the
   redirect names the expected portal, spends the code at the configured OAuth server — the only
   place the client_secret goes, never ``server_domain`` from the redirect — and checks that the
   token answer's ``member_id`` and ``client_endpoint`` are the expected portal's.

The code lives 30 seconds and works once: exchange it at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from b24app.bitrix.addresses import PUBLIC_ONLY, AddressPolicy, AddressRefused, check_portal_url
from b24app.bitrix.answers import error_from_exception
from b24app.bitrix.auth import DEFAULT_OAUTH_URL, checked_url
from b24app.bitrix.callbacks import CallbackRefused, parse_php_form
from b24app.bitrix.errors import TransientError, describe, error_from_payload
from b24app.bitrix.secrets import hide_secrets_in_http_logs
from b24app.bitrix.tokens import OAuthTokens
from b24app.bitrix.verify import same_secret

hide_secrets_in_http_logs()

EXCHANGE_TIMEOUT = (3.05, 15.0)
_WHAT = "the reconnection"


class ReconnectRefused(CallbackRefused):
    """The authorization reply or the token answer does not fit the portal being reconnected."""

    def __init__(self, reason: str) -> None:
        super().__init__(_WHAT, reason)


@dataclass(frozen=True)
class AuthorizationReply:
    """The query of the portal's redirect back to b24app after the admin authorised it."""

    code: str = field(repr=False)
    state: str | None = field(repr=False)
    domain: str | None = None  # claims: compared with the expected portal, never used as an address
    member_id: str | None = None
    scope: tuple[str, ...] = ()
    server_domain: str | None = None


def new_state() -> str:
    """An unguessable ``state`` for one authorisation; keep it with the admin's session."""
    return secrets.token_urlsafe(32)


def authorize_url(
    client_endpoint: str, client_id: str, state: str, policy: AddressPolicy = PUBLIC_ONLY
) -> str:
    """Where to send the admin's browser: the portal's ``/oauth/authorize/`` for this app.

    ``client_endpoint`` is the portal's verified REST address (from the store); it must pass the
    address guard, so b24app never sends a browser to an address it would not call itself.
    """
    address = check_portal_url(client_endpoint, policy)
    with OAuth2Session(client_id=client_id) as oauth:
        url, _ = oauth.create_authorization_url(f"{address.origin}/oauth/authorize/", state=state)
    return url


def parse_authorization_reply(query: bytes | str) -> AuthorizationReply:
    """The redirect's query string, strictly (see :func:`~b24app.bitrix.callbacks.parse_php_form`)."""
    fields = parse_php_form(query, _WHAT, max_bytes=4096)

    def value(name: str) -> str | None:
        item = fields.get(name)
        if item is not None and not isinstance(item, str):
            raise ReconnectRefused(f"the field {name} is a group, not a value")
        return item or None

    code = value("code")
    if code is None:
        raise ReconnectRefused("the portal's redirect carries no code (the admin did not authorise the app)")
    if len(code) > 512:
        raise ReconnectRefused("the field code is too long")
    return AuthorizationReply(
        code=code,
        state=value("state"),
        domain=(value("domain") or "").lower() or None,
        member_id=value("member_id"),
        scope=tuple(part for part in (value("scope") or "").split(",") if part),
        server_domain=value("server_domain"),
    )


def exchange_code(
    reply: AuthorizationReply,
    *,
    expected_state: str,
    client_id: str,
    client_secret: str,
    expected_member_id: str,
    expected_domain: str,
    oauth_url: str = DEFAULT_OAUTH_URL,
    policy: AddressPolicy = PUBLIC_ONLY,
) -> OAuthTokens:
    """Check the reply, spend its code at the OAuth server, and return the portal's new token pair.

    Refused (:class:`ReconnectRefused`, before the code is spent): a ``state`` that is not the one
    issued, a redirect naming another portal. Refused after: a token answer for another portal or
    at an address the guard refuses. The OAuth server's refusals (``invalid_grant`` for a used or
    expired code, ``invalid_client``…) are raised as :class:`~b24app.bitrix.errors.BitrixError`.
    """
    if not same_secret(expected_state, reply.state):
        raise ReconnectRefused("the state does not match the one b24app issued (a stale or forged link)")
    expected_domain = expected_domain.lower()
    if reply.member_id != expected_member_id or (reply.domain or expected_domain) != expected_domain:
        raise ReconnectRefused(f"the portal authorised another installation than {expected_domain}")
    base = checked_url(oauth_url, "the OAuth server URL").geturl().rstrip("/")
    answer = _fetch_token(base, client_id, client_secret, reply.code)
    return _tokens(answer, base, expected_member_id, expected_domain, policy)


def _fetch_token(base: str, client_id: str, client_secret: str, code: str) -> dict:
    method, host = "oauth/token", urlsplit(base).netloc
    # Bitrix24's token endpoint takes every parameter in the query of a GET (platform.md §1.3):
    # authlib puts the token request's body there for GET, so the secret goes in as a parameter.
    oauth = OAuth2Session(client_id, token_endpoint_auth_method="none")
    try:
        with oauth:
            token = oauth.fetch_token(
                f"{base}/oauth/token/",
                method="GET",
                grant_type="authorization_code",
                code=code,
                client_secret=client_secret,
                timeout=EXCHANGE_TIMEOUT,
                allow_redirects=False,
            )
    except AuthlibBaseError as error:  # the OAuth server's {"error": ...} answer, 200 or 400
        payload = {"error": error.error or "", "error_description": error.description or ""}
        raise error_from_payload(payload, None, method) from None
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        what = f"the OAuth server answered HTTP {status}"
        raise TransientError(
            describe(method, what, "try again in a minute"), status=status, method=method
        ) from None
    except requests.RequestException as error:
        raise error_from_exception(error, method, host) from None
    except ValueError:
        raise TransientError(
            describe(method, "the OAuth server answered something that is not JSON")
        ) from None
    return dict(token)


def _tokens(answer: dict, base: str, member_id: str, domain: str, policy: AddressPolicy) -> OAuthTokens:
    access_token, refresh_token = answer.get("access_token"), answer.get("refresh_token")
    client_endpoint = answer.get("client_endpoint")
    if not all(isinstance(v, str) and v for v in (access_token, refresh_token, client_endpoint)):
        raise ReconnectRefused("the OAuth server answered without a token pair and client_endpoint")
    if answer.get("member_id") != member_id:
        raise ReconnectRefused(f"the OAuth server issued tokens of another portal than {domain}")
    try:
        address = check_portal_url(client_endpoint, policy)
    except AddressRefused as error:
        raise ReconnectRefused(str(error)) from None
    if urlsplit(client_endpoint).netloc.lower() != domain:
        raise ReconnectRefused(f"the OAuth server's client_endpoint ({address.host}) is not {domain}")
    expires, user_id = answer.get("expires"), answer.get("user_id")
    return OAuthTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires=float(expires) if str(expires or "").isdigit() else None,
        client_endpoint=client_endpoint if client_endpoint.endswith("/") else client_endpoint + "/",
        server_endpoint=f"{base}/rest/",  # refreshes go to the configured server, never elsewhere
        member_id=member_id,
        domain=domain,
        scope=answer.get("scope") if isinstance(answer.get("scope"), str) else None,
        user_id=int(user_id) if str(user_id or "").isdigit() else None,
    )
