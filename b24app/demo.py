"""`b24app demo`: the whole pipeline on an emulated portal, with nothing to configure.

Starts a sandbox portal on loopback, plans the example template against it, applies it, verifies
by re-reading, shows that a second plan is empty, and stops the sandbox.
"""

from __future__ import annotations

import sys

from b24app import console, sync
from b24app.bitrix import connect
from b24app.core.render import render_text
from b24app.core.template import load_template
from b24app.progress import ProgressEvent
from b24app.sandbox.server import Sandbox
from b24app.template_files import file_resolver


def _say(message: str) -> None:
    print(message, flush=True)


def _show_progress(event: ProgressEvent) -> None:
    _say(f"  {console.PROGRESS_MARK} {console.progress_text(event)}")


def run_demo(
    template_text: str | None = None, source: str | None = None, lang: str = "ru", color: bool = False
) -> int:
    if template_text is None:
        template_text, source = console.example_template_text(), "b24app/examples/crm.yaml"
    source = source or "<template>"
    template = load_template(template_text, source=source, resolver=file_resolver())  # bases: next to it

    sandbox = Sandbox(host="127.0.0.1", port=0, portals=1, lang=lang).start()
    try:
        portal = sandbox.portals[0]
        _say(f"Sandbox: an emulated Bitrix24 portal ({lang}) is running at {portal.base_url}")
        client = connect(portal.webhook_url)
        plan, _ = sync.make_plan(client, template)
        _say(f"\n$ b24app plan {source} --portal <sandbox webhook>")
        sys.stdout.write(render_text(plan, color=color))
        _say(f"\n$ b24app apply {source} --portal <sandbox webhook> --yes")
        result = sync.apply(client, template, progress=_show_progress)
        for line in console.failure_lines(result):
            _say(f"  {line}")
        if not result.summary().ok:
            _say("Not converged: see the failures above.")
            return 1
        _say(
            f"Applied {len(result.applied)} change(s); verified by re-reading the portal: it matches the template."
        )
        again, _ = sync.make_plan(client, template)
        _say(f"A second plan finds {'nothing to do' if not again.has_changes else 'changes (unexpected!)'}.")
        _say(f"{client.requests_sent} HTTP request(s) in all (Bitrix24 allows 2 a second).")
        return 0 if not again.has_changes else 1
    finally:
        sandbox.stop()
