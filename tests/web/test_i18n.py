"""The page's catalogue: both languages say everything, and every sentence a template uses is there."""

from __future__ import annotations

import re
from pathlib import Path

from b24app.store import RunKind, RunOutcome
from handlers import i18n

TEMPLATES = Path(i18n.__file__).resolve().parent / "templates" / "b24app"
PAGE = Path(i18n.__file__).resolve().parent / "page.py"


def test_english_and_russian_have_the_same_keys():
    assert set(i18n.EN) == set(i18n.RU)
    assert all(i18n.EN[k].count("{") == i18n.RU[k].count("{") for k in i18n.EN)  # same placeholders


def test_every_key_a_template_uses_is_in_the_catalogue():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_]+)", template.read_text("utf-8")))
        used |= {f"state_{s}" for s in ("queued", "running", "done", "failed")}  # t['state_' + ...]
        used |= {f"outcome_{o.value}" for o in RunOutcome} | {f"kind_{k.value}" for k in RunKind}
    assert used, "no catalogue key found in the templates"
    assert used <= set(i18n.EN)


def test_every_reason_and_notice_the_page_names_is_in_the_catalogue():
    source = PAGE.read_text("utf-8")
    fields = {"template_file", "template_text", "template_hash", "template_name"}  # form fields
    named = set(re.findall(r'"((?:refused|template|export|portal|apply|run)_[a-z_]+)"', source)) - fields
    assert "refused_not_admin" in named and "export_exists" in named
    assert named <= set(i18n.EN)


def test_templates_hold_no_sentence_outside_the_catalogue():
    for template in TEMPLATES.glob("*.html"):
        text = re.sub(r"{[{%#].*?[}%#]}", "", template.read_text("utf-8"), flags=re.S)
        words = re.findall(r">\s*([A-Za-zА-Яа-я][^<]*?)\s*<", text)
        assert [w for w in words if len(w.split()) > 1] == [], template.name


def test_the_portal_language_picks_the_catalogue():
    assert i18n.catalogue("ru") is i18n.RU and i18n.catalogue("RU") is i18n.RU
    assert (
        i18n.catalogue("en") is i18n.EN
        and i18n.catalogue("de") is i18n.EN
        and i18n.catalogue(None) is i18n.EN
    )
