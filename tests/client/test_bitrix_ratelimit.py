import threading

import pytest
from portal_fakes import FakeClock

from b24app.bitrix.ratelimit import LeakyBucket, bucket_for


def test_a_full_burst_passes_without_waiting():
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=50, clock=clock, sleep=clock.sleep)

    assert [bucket.acquire() for _ in range(50)] == [0.0] * 50
    assert clock.sleeps == []


def test_beyond_the_burst_requests_wait_for_the_drain():
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()

    assert bucket.acquire() == pytest.approx(0.5)
    assert bucket.acquire() == pytest.approx(0.5)
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


def test_the_bucket_drains_over_time():
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()

    clock.now += 1.0  # two requests drained

    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]


def test_penalize_treats_the_bucket_as_full():
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=50, clock=clock, sleep=clock.sleep)
    bucket.acquire()

    bucket.penalize()

    assert bucket.acquire() == pytest.approx(0.5)


def test_concurrent_callers_queue_up_one_drain_interval_apart():
    clock = FakeClock()
    waits: list[float] = []
    bucket = LeakyBucket(rate=2.0, burst=1, clock=clock, sleep=waits.append)  # the clock stands still
    threads = [threading.Thread(target=bucket.acquire) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_bucket_for_shares_one_bucket_per_portal():
    assert bucket_for("shared.bitrix24.ru") is bucket_for("SHARED.bitrix24.ru")
    assert bucket_for("shared.bitrix24.ru") is not bucket_for("other.bitrix24.ru")
    assert (bucket_for("shared.bitrix24.ru").rate, bucket_for("shared.bitrix24.ru").burst) == (2.0, 50)


def test_a_bucket_needs_a_positive_rate():
    with pytest.raises(ValueError):
        LeakyBucket(rate=0)
