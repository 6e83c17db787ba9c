"""The only code that talks to a Bitrix24 portal: REST client, credentials, errors, limits."""

from b24app.bitrix.auth import OAuthAuth, OAuthTokens, WebhookAuth
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
from b24app.bitrix.ratelimit import LeakyBucket, bucket_for

__all__ = [
    "AccessDenied",
    "AuthError",
    "BatchReply",
    "BitrixError",
    "Client",
    "Command",
    "LeakyBucket",
    "OAuthAuth",
    "OAuthTokens",
    "ProtocolError",
    "RejectedError",
    "Reply",
    "TransientError",
    "WebhookAuth",
    "bucket_for",
    "error_from_payload",
]
