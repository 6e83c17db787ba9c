"""Two applies of the example template at once against one fresh portal (the lock bypassed: two
threads call sync.apply with their own clients), so that the engine's own healing is what is proven.

Each run's progress events (read as the lines the command line prints for them) are where the runs
are ordered: a hook holds one run at a step until the other has reached another, so both orders
of arrival are played out exactly, not by luck."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from b24app import sync
from b24app.console import progress_text
from b24app.core.template import load_template
from b24app.progress import ProgressEvent
from b24app.sandbox.server import Sandbox

from .conftest import make_client
from .portal_view import portal_view
from .test_crash_recovery import SMART, smart_view

STEP = 10.0  # seconds a run may wait for the other before the test gives up (a deadlock guard)


@pytest.fixture(scope="module")
def clean_view(example_path):
    example = load_template(example_path.read_text(encoding="utf-8"), source=str(example_path))
    with Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru") as box:
        client = make_client(box.portals[0].webhook_url)
        assert sync.apply(client, example).converged
        return portal_view(client)


class Run(threading.Thread):
    """One sync.apply in a thread; ``on(message)`` is called with each progress line."""

    def __init__(self, webhook: str, template, on: Callable[[str], None]) -> None:
        super().__init__(daemon=True)
        self.webhook, self.template, self.on = webhook, template, on
        self.lines: list[str] = []
        self.result: sync.ApplyResult | None = None
        self.error: BaseException | None = None

    def progress(self, event: ProgressEvent) -> None:
        message = progress_text(event)
        self.lines.append(message)
        self.on(message)

    def run(self) -> None:
        try:
            self.result = sync.apply(make_client(self.webhook), self.template, progress=self.progress)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


def wait(event: threading.Event) -> None:
    assert event.wait(STEP), "the other run never got there"


def one_pipeline_per_key(webhook: str) -> None:
    categories = make_client(webhook).call("crm.category.list", {"entityTypeId": 2}).result["categories"]
    keys = [c["originId"] for c in categories if c.get("originId")]
    assert sorted(keys) == ["install", "service"]


def play(first: Run, second: Run) -> None:
    first.start()
    second.start()
    for run in (first, second):
        run.join(3 * STEP)
        assert not run.is_alive() and run.error is None, run.error


def removed_own(run: Run) -> bool:
    return any(line.startswith("removing this run's") for line in run.lines)


def test_a_creation_that_arrives_after_the_first_runs_reread(sandbox, webhook, example, clean_view):
    """A creates and re-reads alone; B, which read the portal before A created anything, creates the
    same pipelines, sees A's older ones and removes its own. A's verification sees B's duplicates:
    it must not say "verified"."""
    b_read, a_created, b_created, a_done = (threading.Event() for _ in range(4))

    def a(message: str) -> None:
        if message.startswith("creating"):
            wait(b_read)
        elif message.startswith("applying"):
            a_created.set()
            wait(b_created)

    def b(message: str) -> None:
        if message.startswith("creating"):
            b_read.set()
            wait(a_created)
        elif message.startswith("another run created the same"):
            b_created.set()
            wait(a_done)

    first, second = Run(webhook, example, a), Run(webhook, example, b)
    first.start()
    second.start()
    first.join(3 * STEP)
    a_done.set()
    second.join(3 * STEP)
    assert first.error is None and second.error is None
    assert removed_own(second) and not removed_own(first)
    assert not first.result.converged and first.result.verify.conflicts  # honest: duplicates were there
    assert second.result.converged
    one_pipeline_per_key(webhook)
    assert portal_view(make_client(webhook)) == clean_view


def test_a_creation_that_arrives_before_the_first_runs_reread(sandbox, webhook, example, clean_view):
    """A's answer to its creation is lost; before A re-reads, B creates the same pipelines. Both see
    both: they agree to keep A's (the lower ids); B removes its own and finishes A's pipelines,
    whose default stages it recognises by A's mark."""
    b_read, a_created, b_done = (threading.Event() for _ in range(3))

    def a(message: str) -> None:
        if message.startswith("creating"):
            wait(b_read)
            sandbox.set_faults(0, drop=1)  # only A's creation is in flight now
        elif message.startswith("no answer while creating"):
            a_created.set()
            wait(b_done)

    def b(message: str) -> None:
        if message.startswith("creating"):
            b_read.set()
            wait(a_created)

    first, second = Run(webhook, example, a), Run(webhook, example, b)
    first.start()
    second.start()
    second.join(3 * STEP)
    b_done.set()
    first.join(3 * STEP)
    assert first.error is None and second.error is None
    assert removed_own(second) and not removed_own(first)
    assert first.result.converged and second.result.converged
    one_pipeline_per_key(webhook)
    assert portal_view(make_client(webhook)) == clean_view


@pytest.mark.parametrize("stagger", [0.0, 0.05])
@pytest.mark.parametrize("order", ["a-first", "b-first"])
def test_free_running_applies_with_a_wide_window(example, clean_view, order, stagger):
    """No hooks: the sandbox holds every creation for 0.3 s, so a run started up to then still sees
    no pipelines and creates them too. Whatever the timing, one pipeline per key remains."""
    with Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru") as box:
        webhook = box.portals[0].webhook_url
        box.set_faults(0, method_latency={"crm.category.add": 0.3})
        delay = threading.Event()

        def late(message: str) -> None:
            if message.startswith("reading"):
                delay.wait(stagger)

        runs = [Run(webhook, example, lambda _: None), Run(webhook, example, late)]
        if order == "b-first":
            runs.reverse()
        play(*runs)
        assert sum(removed_own(r) for r in runs) == 1  # the window was hit, and healed once
        one_pipeline_per_key(webhook)
        assert portal_view(make_client(webhook)) == clean_view
        again = sync.apply(make_client(webhook), example)
        assert again.converged and not again.applied


def test_a_run_never_removes_the_other_runs_duplicate(sandbox, webhook, example, clean_view):
    """A's answer to its creation is lost and it re-reads while B's duplicates (higher ids) still
    exist: A keeps its own and leaves B's alone — they carry B's mark, not A's. B removes them."""
    b_read, a_created, b_healing, a_done = (threading.Event() for _ in range(4))

    def a(message: str) -> None:
        if message.startswith("creating"):
            wait(b_read)
            sandbox.set_faults(0, drop=1)
        elif message.startswith("no answer while creating"):
            a_created.set()
            wait(b_healing)

    def b(message: str) -> None:
        if message.startswith("creating"):
            b_read.set()
            wait(a_created)
        elif message.startswith("another run created the same"):
            b_healing.set()
            wait(a_done)

    first, second = Run(webhook, example, a), Run(webhook, example, b)
    first.start()
    second.start()
    first.join(3 * STEP)
    a_done.set()
    second.join(3 * STEP)
    assert first.error is None and second.error is None
    assert removed_own(second) and not removed_own(first)
    assert not first.result.converged and first.result.verify.conflicts
    assert second.result.converged and not second.result.failed
    one_pipeline_per_key(webhook)
    assert portal_view(make_client(webhook)) == clean_view


def test_a_duplicate_that_got_items_meanwhile_is_kept(sandbox, webhook, example):
    """B made duplicates; before it removes them a deal lands in one. That one stays, and B says the
    portal does not match (a conflict a person must settle)."""
    b_read, a_done = threading.Event(), threading.Event()
    client = make_client(webhook)

    def a(message: str) -> None:
        if message.startswith("creating"):
            wait(b_read)

    def b(message: str) -> None:
        if message.startswith("creating"):
            b_read.set()
            wait(a_done)
        elif message.startswith("another run created the same"):
            categories = client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]
            newest = max(int(c["id"]) for c in categories if c.get("originId") == "install")
            fields = {"TITLE": "Монтаж кондиционера", "CATEGORY_ID": newest}
            client.call("crm.deal.add", {"fields": fields})

    first, second = Run(webhook, example, a), Run(webhook, example, b)
    first.start()
    second.start()
    first.join(3 * STEP)  # B read the portal before A created anything, and waits until A is done
    a_done.set()
    second.join(3 * STEP)
    assert first.error is None and second.error is None
    assert not second.result.converged and second.result.verify.conflicts == ('deal pipeline "Монтаж"',)
    categories = client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]
    assert sorted(c.get("originId") for c in categories if c.get("originId")) == [
        "install",
        "install",
        "service",
    ]


def test_two_runs_creating_one_smart_process(sandbox, webhook):
    """Both runs read the portal before either created the smart process; B creates it (and the
    invoice pipeline) again after A finished, sees A's older ones, removes its own and carries on."""
    template = load_template(SMART, source="smart.yaml")
    with Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru") as box:
        client = make_client(box.portals[0].webhook_url)
        assert sync.apply(client, template).converged
        clean = smart_view(client)
    b_read, a_done = threading.Event(), threading.Event()

    def a(message: str) -> None:
        if message.startswith("creating 1 smart process"):
            wait(b_read)

    def b(message: str) -> None:
        if message.startswith("creating 1 smart process"):
            b_read.set()
            wait(a_done)

    first, second = Run(webhook, template, a), Run(webhook, template, b)
    first.start()
    second.start()
    first.join(3 * STEP)
    a_done.set()
    second.join(3 * STEP)
    assert first.error is None and second.error is None
    assert removed_own(second) and not removed_own(first)
    assert first.result.converged and second.result.converged
    types = make_client(webhook).call("crm.type.list", {}).result["types"]
    assert [t["code"] for t in types] == ["purchases"]
    assert smart_view(make_client(webhook)) == clean
