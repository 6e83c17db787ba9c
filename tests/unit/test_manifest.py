"""install.json: the shipped manifest is valid, every problem of a broken one is reported, URLs built."""

from __future__ import annotations

import copy
import json

import pytest

from b24app.cli import main
from b24app.manifest import DEFAULT_PATH, ManifestError, load_manifest, parse_manifest

SHIPPED = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_the_shipped_manifest_is_valid_and_lists_the_events_of_the_issue():
    manifest = load_manifest(DEFAULT_PATH)
    assert set(manifest.events) == {
        "ONAPPUNINSTALL",
        "ONAPPUPDATE",
        "ONCRMTYPEADD",
        "ONCRMTYPEUPDATE",
        "ONCRMTYPEDELETE",
    }
    assert "crm" in [scope.code for scope in manifest.scopes]
    assert manifest.name["ru"] and manifest.menu["en"] and not manifest.api_only


def test_urls_of_a_registration():
    urls = load_manifest(DEFAULT_PATH).urls("https://b24.example.com/base/", "acme-1")
    assert urls.handler == "https://b24.example.com/base/b24/acme-1/app/"
    assert urls.install == "https://b24.example.com/base/b24/acme-1/install/"
    assert urls.events == "https://b24.example.com/base/b24/acme-1/events/"


@pytest.mark.parametrize(
    ("public_url", "registration", "reason"),
    [
        ("http://b24.example.com/", "acme", "https"),
        ("https://b24.example.com/?x=1", "acme", "query"),
        ("https://b24.example.com/", "../admin", "registration"),
        ("https://b24.example.com/", "", "registration"),
    ],
)
def test_urls_refuse_bad_input(public_url, registration, reason):
    with pytest.raises(ValueError, match=reason):
        load_manifest(DEFAULT_PATH).urls(public_url, registration)


def broken(change):
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(extra=1), "unknown key 'extra'"),
        (lambda d: d["name"].pop("ru"), "name.ru must be a title"),
        (lambda d: d["menu"].update(en=""), "menu.en must be a title"),
        (lambda d: d.update(api_only="no"), "api_only must be true or false"),
        (lambda d: d.update(scopes={}), "scopes must be an object"),
        (lambda d: d["scopes"].update({"CRM!": {}}), "not a Bitrix24 scope code"),
        (lambda d: d["scopes"]["crm"].pop("why"), "scopes.crm must give en, ru and why"),
        (lambda d: d["paths"].update(handler="b24/{registration}/app/"), "paths.handler must be a path"),
        (lambda d: d["paths"].update(install="/b24/install/"), "paths.install must hold {registration}"),
        (lambda d: d["paths"].update(events="/{registration}/{x}/"), "no other placeholder"),
        (lambda d: d["paths"].update(events=d["paths"]["handler"]), "must differ"),
        (lambda d: d["paths"].update(handler="/{registration}/../x"), "paths.handler must be a path"),
        (lambda d: d["events"].append("onCrmTypeAdd"), "not event codes"),
        (lambda d: d["events"].append("ONAPPUPDATE"), "listed twice"),
        (lambda d: d["events"].remove("ONAPPUNINSTALL"), "must include ONAPPUNINSTALL"),
        (lambda d: d.update(events=[f"ONCRMX{i}" for i in range(51)] + ["ONAPPUNINSTALL"]), "at most 50"),
    ],
)
def test_each_problem_is_reported(change, problem):
    with pytest.raises(ManifestError, match="install.json") as error:
        parse_manifest(broken(change))
    assert problem in str(error.value)


def test_all_problems_are_reported_at_once():
    def many(d):
        d.pop("menu")
        d["events"] = []
        d["paths"]["install"] = "nope"

    message = str(pytest.raises(ManifestError, parse_manifest, broken(many)).value)
    assert "menu must be an object" in message and "ONAPPUNINSTALL" in message and "paths.install" in message


def test_load_manifest_names_the_file_and_line(tmp_path):
    missing = tmp_path / "install.json"
    with pytest.raises(ManifestError, match="not found; set B24APP_MANIFEST"):
        load_manifest(missing)
    missing.write_text('{\n  "name": ,\n}', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"install.json:2: not valid JSON"):
        load_manifest(missing)


def test_b24app_manifest_prints_the_local_app_form(capsys):
    code = main(["manifest", "--public-url", "https://b24.example.com", "--registration", "acme"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Handler path:                https://b24.example.com/b24/acme/app/" in out
    assert "Initial installation path:   https://b24.example.com/b24/acme/install/" in out
    assert "CRM (crm)" in out and "ONCRMTYPEDELETE" in out and "Example addresses" not in out


def test_b24app_manifest_without_addresses_says_they_are_examples(capsys, monkeypatch):
    monkeypatch.delenv("B24APP_PUBLIC_URL", raising=False)
    assert main(["manifest"]) == 0
    assert "Example addresses" in capsys.readouterr().out


def test_b24app_manifest_json_and_errors(capsys, tmp_path):
    assert main(["manifest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == SHIPPED
    bad = tmp_path / "install.json"
    bad.write_text("[]", encoding="utf-8")
    assert main(["manifest", "--manifest", str(bad)]) == 1
    assert "must be a JSON object" in capsys.readouterr().err
    assert main(["manifest", "--public-url", "http://b24.example.com"]) == 1
    assert "https" in capsys.readouterr().err
