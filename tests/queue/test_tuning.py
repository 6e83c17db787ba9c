"""The queue's pacing from the environment, the retry delay (exponential, capped, jittered, never
sooner than the portal's operating_reset_at), and which failures are worth a retry."""

from __future__ import annotations

import pytest
import requests

from b24app.bitrix.answers import error_from_exception
from b24app.bitrix.errors import error_from_payload
from b24app.core.template import TemplateError
from b24app.jobs import Tuning
from b24app.portal_access import PortalUnavailable
from b24app.resync import is_temporary
from b24app.store import LockTimeout, SettingsError
from b24app.sync import SyncError


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


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (error_from_payload({"error": "QUERY_LIMIT_EXCEEDED"}, 503, "crm.status.list"), True),
        (error_from_payload({"error": "OPERATION_TIME_LIMIT"}, 429, "crm.status.list"), True),
        (error_from_payload({"error": "INTERNAL_SERVER_ERROR"}, 500, "batch"), True),
        (error_from_payload({"error": "", "error_description": "Bad gateway"}, 502, "batch"), True),
        (error_from_exception(requests.Timeout("slow"), "batch", "one.bitrix24.ru"), True),
        (error_from_exception(requests.ConnectionError("refused"), "batch", "one.bitrix24.ru"), True),
        (error_from_payload({"error": "expired_token"}, 401, "batch"), True),  # expired again meanwhile
        (LockTimeout("portal:1 is held"), True),
        (error_from_payload({"error": "ACCESS_DENIED"}, 403, "crm.status.add"), False),
        (error_from_payload({"error": "INSUFFICIENT_SCOPE"}, 401, "crm.status.list"), False),
        (error_from_payload({"error": "invalid_grant"}, 400, "oauth/token"), False),
        (error_from_payload({"error": "NO_AUTH_FOUND"}, 401, "batch"), False),
        (PortalUnavailable("the portal one.bitrix24.ru was uninstalled"), False),
        (TemplateError(["lead_stages: not a list"]), False),
        (SyncError("may not change CRM settings"), False),
    ],
)
def test_temporary_failures_are_retried_and_permanent_ones_are_not(error, temporary):
    assert is_temporary(error) is temporary
