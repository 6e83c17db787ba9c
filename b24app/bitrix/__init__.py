"""The only code that talks to a Bitrix24 portal: REST client, credentials, errors, limits.

Reach a portal with :func:`connect`.
"""

from b24app.bitrix.auth import Auth, OAuthAuth, WebhookAuth
from b24app.bitrix.client import BatchReply, Client, Command, Reply
from b24app.bitrix.errors import (
    AccessDenied,
    AuthError,
    BitrixError,
    ProtocolError,
    RejectedError,
    TransientError,
    error_from_payload,
)
from b24app.bitrix.portals import (
    PortalResolver,
    UnknownPortal,
    connect,
    credentials_for,
    register_resolver,
    unregister_resolver,
)
from b24app.bitrix.ratelimit import LeakyBucket, RateLimiter, bucket_for
from b24app.bitrix.tokens import (
    PROCESS_REFRESH_LOCK,
    MemoryTokenStore,
    OAuthTokens,
    ProcessRefreshLock,
    RefreshLock,
)

__all__ = [
    "PROCESS_REFRESH_LOCK",
    "AccessDenied",
    "Auth",
    "AuthError",
    "BatchReply",
    "BitrixError",
    "Client",
    "Command",
    "LeakyBucket",
    "MemoryTokenStore",
    "OAuthAuth",
    "OAuthTokens",
    "PortalResolver",
    "ProcessRefreshLock",
    "ProtocolError",
    "RateLimiter",
    "RefreshLock",
    "RejectedError",
    "Reply",
    "TransientError",
    "UnknownPortal",
    "WebhookAuth",
    "bucket_for",
    "connect",
    "credentials_for",
    "error_from_payload",
    "register_resolver",
    "unregister_resolver",
]
