"""A gateway connection's throughput cap in segments per second, shared by every worker.

Virtual scheduling (GCRA without burst): each caller books `n` segments and gets back the moment its
booking starts; the next booking starts n/rate seconds later. Callers sleep until their moment, so over any
window the segments sent stay within one booking of rate × window. The bookkeeping lives in Redis when
there is one, else in the connection's row (a row lock serialises workers).
"""

import time
from functools import lru_cache

import redis
from django.conf import settings
from django.db import transaction

_BOOK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, tat)
local cost = tonumber(ARGV[1]) / tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(start + cost), 'PX', math.ceil((start + cost - now) * 1000) + 60000)
return tostring(start - now)
"""
KEY_PREFIX = "smsportal:gateway-cap:"


class RedisBooker:
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_BOOK)

    def book(self, connection_id: int, segments: int, rate: float) -> float:
        return float(self.script(keys=[f"{KEY_PREFIX}{connection_id}"], args=[segments, rate]))


class DatabaseBooker:
    def book(self, connection_id: int, segments: int, rate: float) -> float:
        from .models import GatewayConnection

        with transaction.atomic():
            row = GatewayConnection.objects.select_for_update().only("throttle_tat").get(pk=connection_id)
            now = time.time()
            start = max(now, row.throttle_tat)
            GatewayConnection.objects.filter(pk=connection_id).update(throttle_tat=start + segments / rate)
        return start - now


@lru_cache(maxsize=1)
def booker():
    return RedisBooker(settings.REDIS_URL) if settings.REDIS_URL else DatabaseBooker()


def wait_for(connection_id: int, segments: int, cap: int | None, *, sleep=time.sleep) -> float:
    """Block until `segments` may go out on the connection; returns the seconds waited."""
    if not cap or segments <= 0:
        return 0.0
    delay = booker().book(connection_id, segments, float(cap))
    if delay > 0:
        sleep(delay)
    return max(delay, 0.0)


def chunk_size(cap: int | None, max_batch: int) -> int:
    """Messages per booking: a tenth of a second's worth, so a capped connection sends smoothly."""
    if not cap:
        return max_batch
    return max(1, min(max_batch, cap // 10))
