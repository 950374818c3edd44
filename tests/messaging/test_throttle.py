"""The per-connection cap is booked in shared state (Redis, or the connection's row), so every worker sees it."""

import pytest

from smsportal.messaging import throttle
from smsportal.messaging.models import GatewayConnection


@pytest.fixture
def connection(main_account):
    return GatewayConnection.objects.create(account=main_account, name="Capped", kind="sandbox",
                                            cap_segments_per_second=100)


@pytest.mark.parametrize("booker", ["database", "redis"])
def test_bookings_queue_up_at_the_cap(connection, booker, settings):
    if booker == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis (CI's second pass)")
        chosen = throttle.RedisBooker(settings.REDIS_URL)
        chosen.client.delete(f"{throttle.KEY_PREFIX}{connection.pk}")
    else:
        chosen = throttle.DatabaseBooker()
    delays = [chosen.book(connection.pk, 10, 100.0) for _ in range(10)]
    # Each booking of 10 segments at 100/s starts 0.1 s after the previous one; the calls themselves take
    # a little real time, which only shortens the waits.
    assert delays[0] == pytest.approx(0, abs=0.05)
    for i, delay in enumerate(delays[1:], start=1):
        assert 0.1 * i - 0.08 <= delay <= 0.1 * i + 0.001


def test_wait_for_sleeps_the_booked_delay_and_nothing_without_a_cap(connection, settings):
    settings.REDIS_URL = ""
    throttle.booker.cache_clear()
    slept = []
    try:
        assert throttle.wait_for(connection.pk, 50, None, sleep=slept.append) == 0
        throttle.wait_for(connection.pk, 50, 100, sleep=slept.append)
        throttle.wait_for(connection.pk, 50, 100, sleep=slept.append)
    finally:
        throttle.booker.cache_clear()
    assert len(slept) == 1 and 0.4 <= slept[0] <= 0.5  # the second 50 waits half a second


def test_capped_connections_send_in_tenth_of_a_second_chunks():
    assert throttle.chunk_size(None, 1000) == 1000
    assert throttle.chunk_size(100, 1000) == 10
    assert throttle.chunk_size(5, 1000) == 1
    assert throttle.chunk_size(100000, 500) == 500
