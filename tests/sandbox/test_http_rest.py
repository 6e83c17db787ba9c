"""The portal REST endpoint over real HTTP: URL forms, bodies, envelope, PHP JSON, auth errors."""

from __future__ import annotations

import re

import requests

TIMEOUT = 5


def test_envelope_has_result_and_full_time_block(sandbox):
    r = requests.post(sandbox.portals[0].webhook_url + "profile.json", json={}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = r.json()
    assert body["result"]["ID"] == "1"
    time = body["time"]
    assert set(time) == {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating_reset_at",
        "operating",
    }
    assert time["finish"] >= time["start"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+03:00", time["date_start"])
    assert isinstance(time["operating_reset_at"], int)


def test_list_envelope_has_total_and_json_is_php_encoded(sandbox):
    hook = sandbox.portals[0].webhook_url
    requests.post(
        hook + "crm.status.add",
        json={"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "WEB2", "NAME": "Сайт/форма"}},
        timeout=TIMEOUT,
    )
    r = requests.get(hook + "crm.status.list", params={"filter[ENTITY_ID]": "SOURCE"}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.json()["total"] == len(r.json()["result"]) > 1
    text = r.text
    assert "Сайт" not in text and "\\u0421\\u0430\\u0439\\u0442\\/\\u0444" in text  # \uXXXX and \/
    assert text.index('"total"') < text.index('"time"')


def test_form_body_with_php_brackets_json_body_and_query_are_equivalent(sandbox):
    hook = sandbox.portals[0].webhook_url
    form = {"fields[ENTITY_ID]": "SOURCE", "fields[STATUS_ID]": "FORM1", "fields[NAME]": "Form"}
    assert requests.post(hook + "crm.status.add", data=form, timeout=TIMEOUT).status_code == 200
    body = {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "JSON1", "NAME": "Json"}}
    assert requests.post(hook + "crm.status.add.json", json=body, timeout=TIMEOUT).status_code == 200
    query = {"fields[ENTITY_ID]": "SOURCE", "fields[STATUS_ID]": "QUERY1", "fields[NAME]": "Query"}
    assert requests.get(hook + "crm.status.add", params=query, timeout=TIMEOUT).status_code == 200
    # query and body merge: the filter comes in the query, the paging in the body
    r = requests.post(hook + "crm.status.list?filter[ENTITY_ID]=SOURCE", data={"start": "0"}, timeout=TIMEOUT)
    ids = {row["STATUS_ID"] for row in r.json()["result"]}
    assert {"FORM1", "JSON1", "QUERY1"} <= ids


def test_method_names_are_case_insensitive(sandbox):
    r = requests.get(sandbox.portals[0].webhook_url + "PROFILE.json", timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["result"]["ID"] == "1"


def test_bad_webhook_code_or_user_is_invalid_credentials(sandbox):
    base = sandbox.portals[0].base_url
    code = sandbox.portals[0].webhook_url.rstrip("/").rsplit("/", 1)[1]
    for url in (f"{base}rest/1/wrongcode/profile", f"{base}rest/2/{code}/profile"):
        r = requests.get(url, timeout=TIMEOUT)
        assert r.status_code == 401
        assert r.json() == {
            "error": "INVALID_CREDENTIALS",
            "error_description": "Invalid request credentials",
        }


def test_oauth_path_without_auth_and_with_unknown_token(sandbox):
    base = sandbox.portals[0].base_url
    r = requests.get(base + "rest/profile", timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (401, "NO_AUTH_FOUND")
    assert r.json()["error_description"] == "Wrong authorization data"
    r = requests.post(base + "rest/profile.json", json={"auth": "f" * 70}, timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_webhook_scopes_limit_methods(sandbox):
    url = sandbox.add_webhook(0, 1, ["user"])
    r = requests.get(url + "crm.status.list", timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (401, "insufficient_scope")


def test_unknown_method_and_unknown_path(sandbox):
    hook = sandbox.portals[0].webhook_url
    r = requests.get(hook + "no.such.method", timeout=TIMEOUT)
    assert (r.status_code, r.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    r = requests.get(sandbox.portals[0].base_url + "favicon.ico", timeout=TIMEOUT)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")


def test_invalid_json_body_is_a_clear_400(sandbox):
    r = requests.post(
        sandbox.portals[0].webhook_url + "profile",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"


def test_keep_alive_serves_many_requests_on_one_connection(sandbox):
    hook = sandbox.portals[0].webhook_url
    with requests.Session() as session:
        statuses = [session.get(hook + "profile", timeout=TIMEOUT).status_code for _ in range(20)]
    assert statuses == [200] * 20


def test_batch_counts_once_and_returns_php_sections(sandbox):
    hook = sandbox.portals[0].webhook_url
    r = requests.post(
        hook + "batch", json={"halt": 0, "cmd": {"me": "profile", "bad": "no.such"}}, timeout=TIMEOUT
    )
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["result"]["me"]["ID"] == "1"
    assert result["result_error"]["bad"]["error"] == "ERROR_METHOD_NOT_FOUND"
