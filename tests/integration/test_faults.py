"""Recovery from what real portals do: 500s, timeouts, rate-limit storms, garbage answers."""

from __future__ import annotations

import pytest

from b24app import sync
from b24app.bitrix.errors import TransientError
from b24app.bitrix.ratelimit import LeakyBucket
from b24app.cli import main
from b24app.sandbox.server import Sandbox

from .conftest import make_client


class Sleeps(list):
    """An injected sleep that records delays instead of waiting (the retry policy is what is tested)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_500s_are_retried_and_the_apply_converges(sandbox, webhook, example):
    sleeps = Sleeps()
    client = make_client(webhook, sleep=sleeps)
    sandbox.set_faults(0, error500=2)
    result = sync.apply(client, example)
    assert result.converged
    assert len(sleeps) >= 2  # two retries with a backoff


def test_rate_limit_storm_is_ridden_out(sandbox, webhook, example):
    sleeps = Sleeps()
    # The client's own bucket waits after each 503 too: recorded, not slept (the retry policy is tested).
    client = make_client(webhook, sleep=sleeps, bucket=LeakyBucket(rate=2.0, burst=50, sleep=Sleeps()))
    sandbox.set_faults(0, rate_storm=4)
    result = sync.apply(client, example)
    assert result.converged
    assert len(sleeps) >= 4 and sleeps == sorted(sleeps[:4]) + sleeps[4:]  # growing delays


def test_timeouts_are_retried(sandbox, webhook, example):
    client = make_client(webhook, timeout=(1.0, 0.3), sleep=Sleeps())
    sandbox.set_faults(0, timeout=1, hang=1.0)
    plan, _ = sync.make_plan(client, example)
    assert plan.has_changes


def test_a_proxy_error_page_is_retried(sandbox, webhook, example_path, capsys):
    sandbox.set_faults(0, html=1)  # a 502 HTML page from the portal's front proxy
    code = main(["plan", "--quiet", "--portal", webhook, str(example_path)])
    assert code == 2, capsys.readouterr().err


def test_persistent_500s_give_up_with_advice_then_a_rerun_converges(sandbox, webhook, example):
    sandbox.set_faults(0, error500=1.0)
    client = make_client(webhook, sleep=Sleeps(), max_attempts=3)
    with pytest.raises(TransientError) as failure:
        sync.apply(client, example)
    assert "500" in str(failure.value) or "Internal" in str(failure.value)
    sandbox.clear_faults(0)
    assert sync.apply(make_client(webhook), example).converged


def test_partial_failure_then_rerun_converges_without_duplicates(sandbox, webhook, example):
    """The last write batch fails for good after the pipelines and the first batch of entries landed;
    apply stops; a clean rerun converges with every pipeline once."""
    clean_requests = _requests_of_a_clean_apply(example)  # the same template on another fresh portal
    sent: list[str] = []

    def fail_the_last_batch(method: str) -> None:
        sent.append(method)
        if len(sent) == clean_requests:
            sandbox.set_faults(0, error500=1)

    first, _ = sync.make_plan(make_client(webhook), example)
    client = make_client(webhook, sleep=Sleeps(), max_attempts=1, on_request=fail_the_last_batch)
    with pytest.raises(TransientError):
        sync.apply(client, example)
    assert len(sent) == clean_requests  # it stopped at the failed write batch
    midway, _ = sync.make_plan(make_client(webhook), example)
    landed = _deal_categories(webhook)
    assert len(landed) == len(example.deal_pipelines.pipelines)  # the new pipelines were made ...
    assert midway.has_changes  # ... and the stages only in part
    assert len(midway.changes) < len(first.changes)
    rerun = make_client(webhook)
    result = sync.apply(rerun, example)
    assert result.converged and not result.failed
    assert sorted(_deal_categories(webhook)) == sorted(p.name for p in example.deal_pipelines.pipelines)
    assert not sync.make_plan(rerun, example)[0].has_changes


def _requests_of_a_clean_apply(template) -> int:
    box = Sandbox(host="127.0.0.1", port=0, portals=1, lang="ru").start()
    try:
        client = make_client(box.portals[0].webhook_url)
        assert sync.apply(client, template).converged
        return client.requests_sent
    finally:
        box.stop()


def _deal_categories(webhook: str) -> dict[str, int]:
    client = make_client(webhook)
    categories = client.call("crm.category.list", {"entityTypeId": 2}).result["categories"]
    names = [c["name"] for c in categories]
    assert len(names) == len(set(names)), names  # no pipeline twice
    return {c["name"]: int(c["id"]) for c in categories}


def test_garbage_answers_end_in_a_clear_error_then_a_rerun_converges(sandbox, webhook, example):
    sandbox.set_faults(0, html=5)
    client = make_client(webhook, sleep=Sleeps(), max_attempts=2)
    with pytest.raises(TransientError) as failure:
        sync.apply(client, example)
    message = str(failure.value)
    assert "HTML" in message and "rerunning is safe" in message
    assert webhook.split("/rest/")[1].split("/")[1] not in message
    sandbox.clear_faults(0)
    assert sync.apply(make_client(webhook), example).converged
