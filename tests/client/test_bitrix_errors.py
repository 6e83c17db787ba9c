import pytest

from b24app.bitrix.errors import (
    AccessDenied,
    AuthError,
    ProtocolError,
    RejectedError,
    TransientError,
    error_from_payload,
)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("QUERY_LIMIT_EXCEEDED", 503, TransientError),
        ("OPERATION_TIME_LIMIT", 429, TransientError),
        ("OVERLOAD_LIMIT", 503, TransientError),
        ("INTERNAL_SERVER_ERROR", 500, TransientError),
        ("NO_AUTH_FOUND", 401, AuthError),
        ("expired_token", 401, AuthError),
        ("invalid_token", 401, AuthError),
        ("INVALID_CREDENTIALS", 401, AuthError),
        ("authorization_error", 401, AuthError),
        ("ERROR_OAUTH", 401, AuthError),
        ("APPLICATION_NOT_FOUND", 401, AuthError),
        ("PAYMENT_REQUIRED", 401, AuthError),
        ("wrong_client", 200, AuthError),
        ("invalid_client", 400, AuthError),
        ("invalid_grant", 400, AuthError),
        ("NOT_INSTALLED", 401, AuthError),
        ("PORTAL_DELETED", 410, AuthError),
        ("insufficient_scope", 401, AccessDenied),
        ("ACCESS_DENIED", 400, AccessDenied),
        ("WRONG_AUTH_TYPE", 403, AccessDenied),
        ("user_access_error", 403, AccessDenied),
        ("METHOD_CONFIRM_WAITING", 401, AccessDenied),
        ("METHOD_CONFIRM_DENIED", 403, AccessDenied),
        ("allowed_only_intranet_user", 403, AccessDenied),
        ("NOT_FOUND", 400, RejectedError),
        ("ERROR_CORE", 400, RejectedError),
        ("ERROR_METHOD_NOT_FOUND", 404, RejectedError),
        ("ERROR_BATCH_METHOD_NOT_ALLOWED", 405, RejectedError),
        ("ERROR_BATCH_LENGTH_EXCEEDED", 400, RejectedError),
        ("INVALID_REQUEST", 400, RejectedError),
    ],
)
def test_the_table_maps_bitrix_codes_to_error_types(code, status, expected):
    error = error_from_payload({"error": code, "error_description": "text"}, status, "crm.status.add")

    assert type(error) is expected
    assert (error.code, error.description, error.status, error.method) == (
        code,
        "text",
        status,
        "crm.status.add",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, TransientError),
        (502, TransientError),
        (429, TransientError),
        (401, AuthError),
        (403, AccessDenied),
        (400, RejectedError),
        (404, RejectedError),
        (None, RejectedError),
    ],
)
def test_unknown_codes_fall_back_on_the_http_status(status, expected):
    assert type(error_from_payload({"error": "SOMETHING_NEW"}, status, None)) is expected


def test_the_legacy_proxy_access_denied_is_access_denied():
    error = error_from_payload({"error": "", "error_description": "Access denied."}, 400, "crm.status.add")

    assert isinstance(error, AccessDenied)
    assert error.code == ""
    assert str(error).startswith("Bitrix24 crm.status.add: Access denied. (HTTP 400)")


def test_other_legacy_proxy_messages_are_rejections():
    payload = {"error": "", "error_description": "The specified status ID already exists."}
    error = error_from_payload(payload, 400, "crm.status.add")

    assert isinstance(error, RejectedError)
    assert str(error) == "Bitrix24 crm.status.add: The specified status ID already exists. (HTTP 400)"


def test_a_message_is_one_sentence_with_what_to_do():
    error = error_from_payload({"error": "invalid_grant", "error_description": "Invalid grant"}, 400, None)

    assert str(error) == (
        "Bitrix24: Invalid grant (invalid_grant, HTTP 400); "
        "refresh token rejected; reinstall/re-authorise the app"
    )


def test_operation_time_limit_waits_until_operating_reset_on_the_portal_clock():
    payload = {
        "error": "OPERATION_TIME_LIMIT",
        "error_description": "Method is blocked due to operation time limit.",
        "time": {"finish": 1700000000.5, "operating_reset_at": 1700000042},
    }

    error = error_from_payload(payload, 429, "crm.item.list")

    assert isinstance(error, TransientError)
    assert error.retry_after == pytest.approx(41.5)


def test_retry_after_is_unknown_without_a_time_block():
    error = error_from_payload({"error": "QUERY_LIMIT_EXCEEDED"}, 503, "batch")

    assert isinstance(error, TransientError)
    assert error.retry_after is None


def test_protocol_error_is_a_bitrix_error_with_keywords():
    error = ProtocolError("unexpected answer", method="crm.status.list")

    assert (str(error), error.code, error.status, error.method) == (
        "unexpected answer",
        "",
        None,
        "crm.status.list",
    )
