"""No token in any log line: a filter on every logger the server writes through.

Our own messages never name a token; this filter is the second line of defence for request lines
(a query string may carry ``AUTH_ID=…`` or ``auth=…``) and for messages of libraries.
"""

from __future__ import annotations

import logging
import re

from b24app.bitrix.secrets import redact

LOGGERS = ("handlers", "handlers.requests", "b24app", "b24app.bitrix", "werkzeug", "waitress", "flask.app")
_MORE = re.compile(
    r"((?:application_token|APPLICATION_TOKEN|REFRESH_ID|AUTH_ID|refresh_token|access_token)"
    r"(?:\]|%5D)?(?:=|\"?:\s*\"?|'?:\s*'?))[^&\s\"',}]+"
)


def hide(text: str) -> str:
    return _MORE.sub(r"\1***", redact(text))


class HideTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        hidden = hide(message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def hide_secrets_in_logs() -> None:
    """Install the filter on the server's loggers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideTokens) for f in logger.filters):
            logger.addFilter(HideTokens())
