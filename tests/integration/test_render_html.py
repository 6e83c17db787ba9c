"""The HTML form of a plan (the in-portal page shows it): the same content as the text, escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from b24app import sync
from b24app.core.render import describe_refusal, render_html
from b24app.core.template import load_template

HOSTILE = '<script>alert("x")</script> & Co'
TEMPLATE = f"""\
version: 1
sources:
  - {{id: CALL, name: 'Звонок "горячей" линии'}}
  - {{id: SCRIPTED, name: '{HOSTILE}'}}
industries:
  prune: true
  entries:
    - {{id: IT, name: Информационные технологии}}
"""


class Page(HTMLParser):
    """Collects the plan fragment's parts as text, unescaped."""

    def __init__(self) -> None:
        super().__init__()
        self.checksum: str | None = None
        self.tags: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self.rows: list[tuple[str, list[str]]] = []
        self.paragraphs: list[tuple[str, str]] = []
        self._open: list[tuple[str, dict]] = []
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.checksum = attrs.get("data-checksum")
        if tag == "tr":
            self.rows.append((attrs.get("class", ""), []))
        self._open.append((tag, attrs))
        self._text = ""

    def handle_data(self, data):
        self._text += data

    def handle_endtag(self, tag):
        _, attrs = self._open.pop()
        if tag == "td":
            self.rows[-1][1].append(self._text.strip())
        elif tag == "p":
            self.paragraphs.append((attrs.get("class", ""), self._text))
        elif tag in ("h2", "h3"):
            self.texts.setdefault(tag, []).append(self._text)
        self._text = ""


def test_the_html_plan_shows_every_change_escaped(client):
    plan, _ = sync.make_plan(client, load_template(TEMPLATE, source="crm.yaml"))
    html = render_html(plan)
    assert "<script>" not in html and "&lt;script&gt;" in html
    page = Page()
    page.feed(html)
    assert page.tags[0] == "section" and page.checksum == plan.checksum
    assert page.texts["h2"] == [f"Portal {plan.domain}"]
    assert page.texts["h3"] == ["sources (SOURCE)", "industries (INDUSTRY)"]
    sources = page.rows[:2]
    assert sources == [
        ("update", ["~", "CALL", 'name "Звонок" -> "Звонок "горячей" линии"']),
        ("create", ["+", "SCRIPTED", f'"{HOSTILE}" (sort 20)']),
    ]
    industries = page.rows[2:]
    marks = {"delete": "-", "blocked": "!"}
    assert industries and all(cells[0] == marks[cls] for cls, cells in industries), industries
    counts = plan.summary
    for action in marks:
        assert counts[action] == sum(cls == action for cls, _ in industries)
    assert counts["delete"] > 3
    assert page.paragraphs[0] == (
        "summary",
        f"Plan: 1 to create, 1 to update, {counts['delete']} to delete, {counts['blocked']} blocked.",
    )
    (refusal,) = plan.refusals
    assert page.paragraphs[1:] == [("unsafe", f"Unsafe: {describe_refusal(refusal)}")]
    assert describe_refusal(refusal).startswith(f"industries (INDUSTRY): {counts['delete']} of")
