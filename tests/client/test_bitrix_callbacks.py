"""Parsing what portals POST: events (install, update, uninstall, CRM) and the frame open, strictly."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from b24app.bitrix.callbacks import (
    MAX_BODY,
    MAX_FIELDS,
    PayloadError,
    parse_event,
    parse_frame,
    parse_php_form,
)

ACCESS = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4"
REFRESH = "f1e2d3c4b5a6f7e8d9c0f1e2d3c4b5a6f7e8d9c0f1e2d3c4b5a6f7e8d9c0f1e2d3c4"
APP_TOKEN = "51856fefc120afa4b628cc82d3935cce"
MEMBER = "a223c6b3710f85df22e9377d6c4f7553"


def install_fields(**override: str) -> dict[str, str]:
    fields = {
        "event": "ONAPPINSTALL",
        "data[VERSION]": "1",
        "data[ACTIVE]": "Y",
        "data[INSTALLED]": "Y",
        "data[LANGUAGE_ID]": "ru",
        "ts": "1466439714",
        "auth[access_token]": ACCESS,
        "auth[expires]": "1466443314",
        "auth[expires_in]": "3600",
        "auth[scope]": "crm,im",
        "auth[domain]": "some.bitrix24.ru",
        "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
        "auth[status]": "L",
        "auth[client_endpoint]": "https://some.bitrix24.ru/rest/",
        "auth[member_id]": MEMBER,
        "auth[user_id]": "1",
        "auth[refresh_token]": REFRESH,
        "auth[application_token]": APP_TOKEN,
    }
    fields.update(override)
    return {k: v for k, v in fields.items() if v is not None}


def body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def test_an_install_event_is_parsed_into_frozen_values():
    event = parse_event(body(install_fields()))
    assert event.event == "ONAPPINSTALL"
    assert event.auth.member_id == MEMBER
    assert event.auth.access_token == ACCESS and event.auth.refresh_token == REFRESH
    assert event.auth.application_token == APP_TOKEN
    assert event.auth.scope == ("crm", "im")
    assert (event.auth.user_id, event.auth.expires, event.ts) == (1, 1466443314, 1466439714)
    assert event.language == "ru" and event.data["VERSION"] == "1"
    assert event.event_handler_id is None  # install events have none
    with pytest.raises(AttributeError):
        event.event = "ONAPPUNINSTALL"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.data["VERSION"] = "2"  # type: ignore[index]
    assert ACCESS not in repr(event) and REFRESH not in repr(event) and APP_TOKEN not in repr(event)


def test_an_uninstall_event_has_no_tokens_only_the_application_token():
    raw = (
        "event=ONAPPUNINSTALL&data%5BLANGUAGE_ID%5D=en&data%5BCLEAN%5D=1&ts=1466439714"
        f"&auth%5Bdomain%5D=some.bitrix24.ru&auth%5Bmember_id%5D={MEMBER}"
        f"&auth%5Bapplication_token%5D={APP_TOKEN}"
    )
    event = parse_event(raw)
    assert event.event == "ONAPPUNINSTALL" and event.data["CLEAN"] == "1"
    assert event.auth.access_token is None and event.auth.application_token == APP_TOKEN


def test_a_crm_event_with_nested_data():
    fields = install_fields(event="onCrmTypeAdd", **{"data[FIELDS][ID]": "7", "event_handler_id": "12"})
    del fields["auth[refresh_token]"]
    event = parse_event(body(fields))
    assert event.event == "ONCRMTYPEADD" and event.data["FIELDS"]["ID"] == "7"
    assert event.event_handler_id == "12" and event.auth.refresh_token is None


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"auth[application_token]": None}, "auth[application_token] is missing"),
        ({"auth[member_id]": None}, "auth[member_id] is missing"),
        ({"event": None}, "event is missing"),
        ({"auth[refresh_token]": None}, "no token pair"),
        ({"auth[access_token]": "short"}, "auth[access_token] is malformed"),
        ({"auth[member_id]": "x" * 65}, "auth[member_id] is malformed"),
        ({"auth[client_endpoint]": "javascript:alert(1)"}, "auth[client_endpoint] is malformed"),
        ({"auth[domain]": "evil.example/<script>"}, "auth[domain] is malformed"),
        ({"auth[scope]": "crm,<b>"}, "auth[scope] is malformed"),
        ({"auth[user_id]": "1e9"}, "auth[user_id] is malformed"),
        ({"event": "DROP TABLE"}, "event is malformed"),
        ({"auth[application_token]": "t" * 600}, "auth[application_token] is malformed or too long"),
    ],
)
def test_missing_or_malformed_fields_are_refused_with_the_reason(override, reason):
    with pytest.raises(PayloadError) as refused:
        parse_event(body(install_fields(**override)))
    assert reason in str(refused.value)
    assert ACCESS not in str(refused.value) and APP_TOKEN not in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"a=1&a=2", "given twice"),
        (b"auth=1&auth%5Bx%5D=2", "both a value and a group"),
        (b"auth%5Bx%5D=2&auth=1", "given twice"),
        (b"a%5B%5D=1", r"uses \[\]"),
        (b"a[b]c=1", "malformed"),
        (b"a%5Bb=1", "malformed"),
        (b"%3Cscript%3E=1", "malformed"),
        (b"a[1][2][3][4][5]=1", "nested deeper"),
        (b"a=%FF%FE", "not valid UTF-8"),
        ("a=é".encode(), "non-ASCII"),
        (b"a=x%00y", "control character"),
        (b"a=" + b"x" * 9000, "longer than"),
        (b"k" * 101 + b"=1", "longer than 100"),
    ],
)
def test_the_form_parser_refuses_anything_unusual(raw, reason):
    with pytest.raises(PayloadError, match=reason):
        parse_php_form(raw)


def test_the_form_parser_bounds_size_and_field_count():
    with pytest.raises(PayloadError, match=f"larger than {MAX_BODY} bytes"):
        parse_php_form(b"a=" + b"x" * MAX_BODY)
    many = "&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1))
    with pytest.raises(PayloadError, match=f"more than {MAX_FIELDS} fields"):
        parse_php_form(many)
    assert len(parse_php_form("&".join(f"f{i}=1" for i in range(MAX_FIELDS)))) == MAX_FIELDS


def test_the_form_parser_reads_php_brackets_and_plus_signs():
    assert parse_php_form("data%5BFIELDS%5D%5BID%5D=7&name=a+b%2Bc&empty=") == {
        "data": {"FIELDS": {"ID": "7"}},
        "name": "a b+c",
        "empty": "",
    }


FRAME_QUERY = "DOMAIN=some.bitrix24.ru&PROTOCOL=1&LANG=ru&APP_SID=9c33a2f2e3b9d9f3c5a1"


def frame_body(**override: str | None) -> str:
    fields = {
        "AUTH_ID": ACCESS,
        "AUTH_EXPIRES": "3600",
        "REFRESH_ID": REFRESH,
        "SERVER_ENDPOINT": "https://oauth.bitrix.info/rest/",
        "APPLICATION_TOKEN": APP_TOKEN,
        "APPLICATION_SCOPE": "crm,im",
        "member_id": MEMBER,
        "status": "L",
        "PLACEMENT": "DEFAULT",
        "PLACEMENT_OPTIONS": '{"ID":"8061","URI":"/crm/deal/details/8061/"}',
    }
    fields.update(override)
    return urlencode({k: v for k, v in fields.items() if v is not None})


def test_a_frame_post_is_parsed():
    frame = parse_frame(FRAME_QUERY, frame_body())
    assert (frame.member_id, frame.domain, frame.lang, frame.placement) == (
        MEMBER,
        "some.bitrix24.ru",
        "ru",
        "DEFAULT",
    )
    assert frame.auth_id == ACCESS and frame.refresh_id == REFRESH and frame.auth_expires == 3600
    assert frame.placement_options["ID"] == "8061" and frame.scope == ("crm", "im")
    assert ACCESS not in repr(frame) and REFRESH not in repr(frame) and APP_TOKEN not in repr(frame)
    assert parse_frame(FRAME_QUERY, frame_body(PLACEMENT_OPTIONS="[]")).placement_options == {}


@pytest.mark.parametrize(
    ("query", "override", "reason"),
    [
        (FRAME_QUERY, {"AUTH_ID": None}, "AUTH_ID is missing"),
        (FRAME_QUERY, {"APPLICATION_TOKEN": None}, "APPLICATION_TOKEN is missing"),
        (FRAME_QUERY, {"member_id": None}, "member_id is missing"),
        (FRAME_QUERY, {"PLACEMENT_OPTIONS": "{not json"}, "PLACEMENT_OPTIONS is not JSON"),
        (FRAME_QUERY, {"PLACEMENT_OPTIONS": '{"a": {"b": 1}}'}, "plain values"),
        (FRAME_QUERY, {"AUTH_ID": "x" * 5000}, "AUTH_ID is malformed or too long"),
        (FRAME_QUERY + "&member_id=other", {}, "member_id is given twice"),
        ("DOMAIN=a%20b", {}, "DOMAIN is malformed"),
        ("LANG=russian", {}, "LANG is malformed"),
    ],
)
def test_a_bad_frame_post_is_refused(query, override, reason):
    with pytest.raises(PayloadError, match=reason.replace("(", r"\(")) as refused:
        parse_frame(query, frame_body(**override))
    assert ACCESS not in str(refused.value)
