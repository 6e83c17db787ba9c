"""A first apply that stops at any request, then a clean rerun: the same end state as a clean run.

The fault hits the Nth request of the first apply: read (0), create pipelines (1), the write
batches (2, 3; the last one carries the verifying re-read). `html` answers with a proxy's error page
before the portal does anything; `drop` lets the portal do the work and then loses the answer."""

from __future__ import annotations

import contextlib

import pytest

from b24app import sync
from b24app.bitrix.errors import BitrixError
from b24app.core.template import load_template
from b24app.sandbox.server import Sandbox

from .conftest import make_client
from .portal_view import portal_view

FIRST_APPLY_REQUESTS = 4  # read, create, two write batches (checked below)

SMART = """
version: 1
invoice_pipelines:
  - {name: Счета, default: true, stages: [{id: N, name: Новый}, {id: P, name: Оплачен, semantics: success},
                                         {id: D, name: Не оплачен, semantics: failure}]}
  - {name: Опт, stages: [{id: N, name: Новый}, {id: P, name: Оплачен, semantics: success},
                         {id: D, name: Не оплачен, semantics: failure}]}
smart_processes:
  - title: Закупки
    code: purchases
    pipelines:
      - name: Основная
        default: true
        stages:
          - {id: NEW, name: Заявка на закупку, color: "#39A8EF"}
          - {id: SUCCESS, name: Получено на склад, color: "#7BD500", semantics: success}
          - {id: FAIL, name: Отменено, color: "#FF5752", semantics: failure}
      - name: Срочные
        stages:
          - {id: NEW, name: Заявка, color: "#39A8EF"}
          - {id: SUCCESS, name: Получено, color: "#7BD500", semantics: success}
          - {id: FAIL, name: Отменено, color: "#FF5752", semantics: failure}
"""
# read, create the smart process and a pipeline, read its pipelines, mark its default pipeline,
# create its second pipeline, read its pipelines, write, verify
SMART_REQUESTS = 8
# A crash between creating a smart process and marking the default pipeline Bitrix24 made for it
# leaves that pipeline unmarked: the rerun cannot tell it from a person's, keeps its default stages
# and reports the sort moves they block (README, "After a crash").
UNMARKED = pytest.mark.xfail(strict=True, reason="crash before the new smart process's pipeline is marked")


@pytest.fixture(scope="module")
def clean_view(example_path):
    example = load_template(example_path.read_text(encoding="utf-8"), source=str(example_path))
    with Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru") as box:
        client = make_client(box.portals[0].webhook_url)
        result = sync.apply(client, example)
        assert result.converged and result.requests == FIRST_APPLY_REQUESTS
        return portal_view(client)


@pytest.mark.parametrize("fault", ["html", "drop"])
@pytest.mark.parametrize("step", range(FIRST_APPLY_REQUESTS))
def test_a_rerun_after_a_crash_ends_as_a_clean_run(sandbox, webhook, example, clean_view, fault, step):
    sandbox.set_faults(0, after=step, **{fault: 1})
    crashed = make_client(webhook, max_attempts=1)
    with contextlib.suppress(BitrixError):
        sync.apply(crashed, example)
    assert sandbox.portals[0].faults.to_json()["counts"] == {}  # the fault did hit the first apply
    sandbox.clear_faults(0)
    rerun = sync.apply(make_client(webhook), example)
    assert rerun.converged
    assert rerun.verify.summary["blocked"] == 0
    assert portal_view(make_client(webhook)) == clean_view


def smart_view(client) -> list[tuple]:
    """The stages of every smart-process and invoice pipeline, by pipeline name."""
    names = {}
    for etid in (31, 128):
        for cat in client.call("crm.category.list", {"entityTypeId": etid}).result["categories"]:
            names[f"DT{etid}_{cat['id']}"] = cat["name"]
    rows = client.call("crm.status.list", {}).result
    return sorted(
        (names[r["STATUS_ID"].split(":")[0]], r["STATUS_ID"].split(":")[1], r["NAME"], int(r["SORT"]))
        for r in rows
        if r["STATUS_ID"].split(":")[0] in names
    )


@pytest.fixture(scope="module")
def smart_template():
    return load_template(SMART, source="smart.yaml")


@pytest.fixture(scope="module")
def smart_clean_view(smart_template):
    with Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru") as box:
        client = make_client(box.portals[0].webhook_url)
        result = sync.apply(client, smart_template)
        assert result.converged and result.requests == SMART_REQUESTS
        return smart_view(client)


@pytest.mark.parametrize(
    ("fault", "step"),
    [
        pytest.param(
            fault, step, marks=UNMARKED if (step, fault) in ((2, "html"), (2, "drop"), (3, "html")) else ()
        )
        for step in range(SMART_REQUESTS)
        for fault in ("html", "drop")
    ],
)
def test_smart_processes_after_a_crash_end_as_a_clean_run(
    sandbox, webhook, smart_template, smart_clean_view, fault, step
):
    sandbox.set_faults(0, after=step, **{fault: 1})
    with contextlib.suppress(BitrixError):
        sync.apply(make_client(webhook, max_attempts=1), smart_template)
    assert sandbox.portals[0].faults.to_json()["counts"] == {}
    sandbox.clear_faults(0)
    rerun = sync.apply(make_client(webhook), smart_template)
    assert rerun.converged and rerun.verify.summary["blocked"] == 0
    assert smart_view(make_client(webhook)) == smart_clean_view
