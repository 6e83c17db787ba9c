"""A template that extends a base, through the command line against sandbox portals over HTTP.

Applying the child to one portal and a hand-merged copy (written by text edits of the base, not by
b24app's merge) to another must leave both portals the same.
"""

from __future__ import annotations

import json

import pytest

from b24app.cli import main
from b24app.sandbox.server import Sandbox

from .conftest import make_client
from .portal_view import portal_view

CHILD = """\
extends: base.yaml
lead_stages:
  - {id: IN_PROCESS, name: Взят в работу клиентом}
  - {id: PROCESSED, remove: true}
deal_pipelines:
  - key: install
    name: Монтаж и пусконаладка
    stages:
      - {id: SURVEY, name: Замер}
      - {id: COMMISSIONING, remove: true}
      - {id: PHOTO_REPORT, name: Фотоотчёт}
  - {key: service, remove: true}
sources:
  prune: true
  entries:
    - {id: EMAIL, name: Письмо, sort: 22}
    - {id: FAIR, name: Ярмарка}
"""


def hand_merged(base: str) -> str:
    edits = [
        ("{id: IN_PROCESS, name: Взят в работу,", "{id: IN_PROCESS, name: Взят в работу клиентом,"),
        ('  - {id: PROCESSED, name: Готов к конвертации, color: "#47E4C2"}\n', ""),
        ("  - name: Монтаж\n", "  - name: Монтаж и пусконаладка\n"),
        ("{id: SURVEY, name: Выезд на замер,", "{id: SURVEY, name: Замер,"),
        (
            '      - {id: COMMISSIONING, name: Пусконаладка, color: "#FFD600"}\n',
            "      - {id: PHOTO_REPORT, name: Фотоотчёт}\n",
        ),
        ("  prune: false                # per-list", "  prune: true                # per-list"),
        ("{id: EMAIL, name: Электронная почта, sort: 20}", "{id: EMAIL, name: Письмо, sort: 22}"),
        (
            "    - {id: OTHER, name: Другое, sort: 90}\n",
            "    - {id: OTHER, name: Другое, sort: 90}\n    - {id: FAIR, name: Ярмарка}\n",
        ),
    ]
    for old, new in edits:
        assert base.count(old) == 1, old
        base = base.replace(old, new)
    start = base.index("  - name: Сервис\n")
    end = base.index("\nquote_stages:")
    return base[:start] + base[end:]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def two_portals():
    box = Sandbox(host="127.0.0.1", port=0, portals=2, lang="ru").start()
    yield box
    box.stop()


@pytest.fixture
def files(tmp_path, example_path):
    base = example_path.read_text(encoding="utf-8")
    (tmp_path / "base.yaml").write_text(base, encoding="utf-8")
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "acme.yaml").write_text(
        CHILD.replace("base.yaml", "../base.yaml"), encoding="utf-8"
    )
    (tmp_path / "merged.yaml").write_text(hand_merged(base), encoding="utf-8")
    return tmp_path


def test_applying_the_child_equals_applying_the_hand_merged_template(capsys, two_portals, files):
    child, merged = str(files / "clients" / "acme.yaml"), str(files / "merged.yaml")
    first, second = (portal.webhook_url for portal in two_portals.portals)
    code, child_plan, err = run(capsys, "plan", child, "--portal", first, "--json")
    assert code == 2, err
    code, merged_plan, err = run(capsys, "plan", merged, "--portal", second, "--json")
    assert code == 2, err

    def changes(text: str) -> list:  # without the portal's own ids (its pipelines' numbers)
        return [
            (c["action"], c["target"], c["key"], c.get("old"), c.get("new"))
            for c in json.loads(text)["changes"]
        ]

    assert changes(child_plan) == changes(merged_plan)
    assert run(capsys, "apply", child, "--portal", first, "--yes")[0] == 0
    assert run(capsys, "apply", merged, "--portal", second, "--yes")[0] == 0
    assert portal_view(make_client(first)) == portal_view(make_client(second))
    assert run(capsys, "plan", merged, "--portal", first)[0] == 0  # the child's portal is the merged one


def test_validate_merged_prints_what_the_hand_merged_template_is(capsys, files):
    code, out, err = run(capsys, "validate", "--merged", str(files / "clients" / "acme.yaml"))
    assert code == 0, err
    assert "extends" in err and "base.yaml" in err
    (files / "printed.yaml").write_text(out, encoding="utf-8")
    code, printed, _ = run(capsys, "validate", "--merged", str(files / "printed.yaml"))
    code2, hand, _ = run(capsys, "validate", "--merged", str(files / "merged.yaml"))
    assert code == code2 == 0 and printed == hand


def test_validate_reports_a_problem_in_the_base_with_its_file_and_line(capsys, files):
    base = files / "base.yaml"
    text = base.read_text(encoding="utf-8").replace(
        "{id: WEB, name: Сайт, sort: 30}", "{id: WEB, name: '', sort: 30}"
    )
    base.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    - {id: WEB, name: '', sort: 30}") + 1
    code, out, err = run(capsys, "validate", str(files / "clients" / "acme.yaml"))
    assert code == 1 and out == ""
    assert f"{files / 'base.yaml'}:{line}: sources.entries[2].name: is empty" in err
    assert "Traceback" not in err


def test_a_missing_base_and_a_cycle_exit_1_with_one_clear_message(capsys, files):
    child = files / "clients" / "acme.yaml"
    child.write_text(CHILD.replace("base.yaml", "nowhere.yaml"), encoding="utf-8")
    code, _, err = run(capsys, "validate", str(child))
    assert code == 1
    assert f"{child}:1: extends: the base 'nowhere.yaml' is not found in this file's folder" in err
    (files / "base.yaml").write_text("extends: clients/acme.yaml\n", encoding="utf-8")
    child.write_text(CHILD.replace("base.yaml", "../base.yaml"), encoding="utf-8")
    code, _, err = run(capsys, "plan", str(child), "--portal", "http://127.0.0.1:9/rest/1/x/")
    assert code == 1 and "the bases form a cycle" in err and "Traceback" not in err


def test_a_library_name_is_found_in_b24app_templates(capsys, files, monkeypatch):
    monkeypatch.setenv("B24APP_TEMPLATES", str(files))
    (files / "elsewhere").mkdir()
    child = files / "elsewhere" / "client.yaml"
    child.write_text("extends: base\nhonorifics:\n  - {id: HNR_RU_1, name: г-н}\n", encoding="utf-8")
    code, out, err = run(capsys, "validate", "--merged", str(child))
    assert code == 0, err
    assert "name: г-н" in out and "Монтаж" in out
