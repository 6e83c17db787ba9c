"""The plan as HTML: the CLI's grouping, colours as swatches, everything from the portal escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from b24app.core.model import Entry, PortalState, RefList
from b24app.core.plan import plan
from b24app.core.render import render_html, render_text, swatch
from b24app.core.template import load_template

TEMPLATE = """version: 1
lead_stages:
  - {id: NEW, name: "<b>New</b>", color: "#39A8EF"}
  - {id: IN_PROCESS, name: Working, color: "#2FC6F6"}
  - {id: CONVERTED, name: Won, semantics: success}
  - {id: JUNK, name: Junk, semantics: failure}
"""


class Svg(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.fills: list[str] = []
        self.tags: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "rect":
            self.fills.append(dict(attrs)["fill"])


def empty_plan():
    """NEW is recoloured (and renamed), IN_PROCESS is created: two colour changes to show."""
    template = load_template(TEMPLATE, "t.yaml")
    stages = RefList(
        "lead_stages",
        (
            Entry("NEW", "New", 10, "#FF0000"),
            Entry("CONVERTED", "Won", 30, None, "success"),
            Entry("JUNK", "Junk", 40, None, "failure"),
        ),
        entity_id="STATUS",
    )
    return plan(template, PortalState(domain="<i>portal</i>.bitrix24.ru", lists={"lead_stages": stages}))


def test_colours_set_or_changed_show_as_swatches():
    page = render_html(empty_plan())
    assert Svg(page).fills == ["#FF0000", "#39A8EF", "#2FC6F6"]  # NEW: old -> new; IN_PROCESS: new


def test_the_html_plan_lists_what_the_text_plan_lists():
    result = empty_plan()
    page, text = render_html(result), render_text(result)
    assert text.count("    + ") == page.count('<tr class="create">') == 1
    assert text.count("    ~ ") == page.count('<tr class="update">') == 1
    assert "Plan: 1 to create, 1 to update, 0 to delete, 0 blocked." in page


def test_portal_and_template_strings_are_escaped():
    page = render_html(empty_plan())
    assert "<b>" not in page and "<i>" not in page
    assert "&lt;b&gt;New&lt;/b&gt;" in page and "&lt;i&gt;portal&lt;/i&gt;" in page
    assert set(Svg(page).tags) <= {"section", "h2", "h3", "table", "tr", "td", "svg", "rect", "p"}


def test_only_real_colours_become_swatches():
    assert swatch("#ABC") and swatch("#A1B2C3")
    for hostile in ('#fff" onload="x', "red", "#12345", None, "url(#x)"):
        assert swatch(hostile) == ""


def test_the_sentences_come_in_the_callers_language():
    words = {"summary": "План: {create}/{update}/{delete}/{blocked}", "portal": "Портал {domain}"}
    page = render_html(empty_plan(), words)
    assert "План: 1/1/0/0" in page and "Портал &lt;i&gt;portal" in page
