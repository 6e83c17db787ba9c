"""Keep secrets out of text: webhook codes travel in URL paths, tokens and client secrets in queries.

Used for messages and for the log records of urllib3, which logs every request line with its path.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    re.compile(r"(/rest/\d+/)[^/\s\"'?]+"),
    re.compile(r"((?:auth|access_token|refresh_token|client_secret|code|AUTH_ID|REFRESH_ID)=)[^&\s\"']+"),
)


def redact(text: str) -> str:
    """``text`` with webhook codes and tokens replaced by ***."""
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class HideSecrets(logging.Filter):
    """A logging filter that redacts each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = redact(message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def hide_secrets_in_http_logs() -> None:
    """Redact urllib3's request lines (idempotent)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, HideSecrets) for f in logger.filters):
        logger.addFilter(HideSecrets())
