"""Recovery from what real portals do: 500s, timeouts, rate-limit storms, garbage answers."""

from __future__ import annotations

import contextlib

import pytest

from b24app import sync
from b24app.bitrix.errors import BitrixError, TransientError
from b24app.cli import main

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
    client = make_client(webhook, sleep=sleeps)
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
    """Every third request fails for good; apply stops; a clean rerun converges with no duplicates."""
    client = make_client(webhook, sleep=Sleeps(), max_attempts=1)
    sandbox.set_faults(0, error500=0.34, seed=7)
    with contextlib.suppress(BitrixError):
        sync.apply(client, example)
    sandbox.clear_faults(0)
    clean = make_client(webhook)
    assert sync.apply(clean, example).converged
    categories = clean.call("crm.category.list", {"entityTypeId": 2}).result["categories"]
    names = [c["name"] for c in categories]
    assert len(names) == len(set(names)) == len(example.deal_pipelines.pipelines)


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
