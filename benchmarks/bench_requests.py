"""HTTP requests for plan + apply + verify of the example template on a fresh sandbox portal.

Run: python benchmarks/bench_requests.py        (target: ≤ 6 requests in total, no 503)

Counts every HTTP request the client sends (retries included) and every 503 the portal answers,
and compares with the naive one-call-per-change approach.
"""

from __future__ import annotations

import time

import requests

from b24app import sync
from b24app.bitrix.auth import WebhookAuth
from b24app.bitrix.client import Client
from b24app.console import example_template_text
from b24app.core.template import load_template
from b24app.sandbox.server import Sandbox


class CountingSession(requests.Session):
    def __init__(self):
        super().__init__()
        self.statuses: list[int] = []

    def request(self, method, url, **kw):
        answer = super().request(method, url, **kw)
        self.statuses.append(answer.status_code)
        return answer


def main() -> None:
    template = load_template(example_template_text(), "b24app/examples/crm.yaml")
    entries = sum(len(lst.entries) for lst in template.lists.values())
    entries += sum(len(p.stages.entries) for p in template.deal_pipelines.pipelines)
    entries += sum(
        len(p.stages.entries)
        for p in (template.invoice_pipelines.pipelines if template.invoice_pipelines else ())
    )
    with Sandbox(port=0, portals=1, lang="ru") as box:
        session = CountingSession()
        client = Client(WebhookAuth(box.portals[0].webhook_url), session=session)
        start = time.perf_counter()
        plan, _ = sync.make_plan(client, template)
        plan_requests = client.requests_sent
        result = sync.apply(client, template)
        elapsed = time.perf_counter() - start
    changes = len(result.applied)
    total = client.requests_sent
    print(f"template: {entries} entries, {len(template.deal_pipelines.pipelines)} deal pipelines")
    print(f"plan: {plan_requests} request(s); {plan.summary}")
    print(
        f"apply (re-read, create pipelines, write, verify by re-reading): {total - plan_requests} request(s), "
        f"{changes} change(s) applied, converged={result.converged}"
    )
    print(
        f"plan + apply + verify: {total} HTTP requests (target ≤ 6); 503 answers: {session.statuses.count(503)}"
    )
    naive = 1 + changes + 1
    print(
        f"naive one call per change: ~{naive} requests, ~{naive / 2:.0f} s at 2 requests/s; "
        f"b24app: ~{total / 2:.1f} s of request budget ({elapsed:.2f} s wall on loopback)"
    )


if __name__ == "__main__":
    main()
