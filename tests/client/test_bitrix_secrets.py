"""Secrets never reach messages or logs: webhook codes in paths, tokens and client secrets in queries."""

import logging

from b24app.bitrix.secrets import HideSecrets, redact


def test_redact_hides_webhook_codes_and_tokens():
    text = (
        "POST /rest/1/s3cr3tc0de/batch.json; GET /oauth/token/?grant_type=refresh_token&client_id=app.1"
        "&client_secret=SECRET&refresh_token=RT123 auth=AT456"
    )
    hidden = redact(text)
    for secret in ("s3cr3tc0de", "SECRET", "RT123", "AT456"):
        assert secret not in hidden
    assert "/rest/1/***/batch.json" in hidden and "client_id=app.1" in hidden


def test_http_log_records_are_redacted(caplog):
    logger = logging.getLogger("test.urllib3.like")
    logger.addFilter(HideSecrets())
    with caplog.at_level(logging.DEBUG, logger="test.urllib3.like"):
        logger.debug(
            '%s://%s:%s "%s %s %s" %s %s',
            "https",
            "p.bitrix24.ru",
            443,
            "POST",
            "/rest/1/abc/profile",
            "HTTP/1.1",
            200,
            10,
        )
    assert (
        caplog.records[0].getMessage()
        == 'https://p.bitrix24.ru:443 "POST /rest/1/***/profile HTTP/1.1" 200 10'
    )
    assert "abc" not in caplog.text
