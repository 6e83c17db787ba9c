"""The queue's pacing from the environment, and the retry delay: exponential, capped, jittered, and
never sooner than the portal's operating_reset_at."""

from __future__ import annotations

import pytest

from b24app.jobs import Tuning
from b24app.store import SettingsError


def test_the_retry_delay_doubles_with_jitter_up_to_its_cap():
    tuning = Tuning(backoff=10, max_backoff=100)
    for attempts, ceiling in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = [tuning.delay(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays), max(delays))
        assert len(set(delays)) > 100  # jittered: workers that failed together do not retry together


def test_the_retry_waits_for_the_operating_limit_reset_but_never_past_the_cap():
    tuning = Tuning(backoff=1, max_backoff=600)
    assert tuning.delay(1, retry_after=300) == 300
    assert tuning.delay(1, retry_after=5000) == 600


def test_tuning_comes_from_the_environment_and_bad_values_are_refused():
    tuning = Tuning.from_env(
        {"B24APP_JOB_LEASE": "2.5", "B24APP_JOB_ATTEMPTS": "3", "B24APP_QUEUE_NAME": "q1"}
    )
    assert (tuning.lease, tuning.attempts, tuning.queue_name, tuning.sweep) == (2.5, 3, "q1", Tuning.sweep)
    with pytest.raises(SettingsError, match="B24APP_JOB_LEASE must be a number"):
        Tuning.from_env({"B24APP_JOB_LEASE": "soon"})
    with pytest.raises(SettingsError, match="B24APP_JOB_ATTEMPTS must be more than 0"):
        Tuning.from_env({"B24APP_JOB_ATTEMPTS": "0"})
