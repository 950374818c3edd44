"""Sliding-window request counting shared by every web process (Redis), or per process when embedded.

A sliding log, not a fixed window: "15 per second" then means any 1 s span, so a burst straddling a
second boundary cannot pass 30.
"""

import threading
import time
import uuid
from collections import deque
from functools import lru_cache

import redis
from django.conf import settings

_SLIDING_LOG = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""
KEY_PREFIX = "smsportal:ratelimit:"


class RedisLimiter:
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_SLIDING_LOG)

    def hit(self, key: str, *, limit: int, window: float) -> float:
        """Count one request; 0 if allowed, else the seconds until one would be."""
        return float(self.script(keys=[KEY_PREFIX + key], args=[window, limit, uuid.uuid4().hex]))

    def count(self, key: str, *, window: float) -> int:
        """How many hits `key` has in the last `window` seconds, without adding one."""
        now = time.time()
        self.client.zremrangebyscore(KEY_PREFIX + key, "-inf", now - window)
        return int(self.client.zcard(KEY_PREFIX + key))

    def reset(self) -> None:
        for key in self.client.scan_iter(match=KEY_PREFIX + "*", count=500):
            self.client.delete(key)


class LocalLimiter:
    """For the embedded single web process; a deployment with several web processes sets REDIS_URL."""

    def __init__(self):
        self.lock = threading.Lock()
        self.logs: dict[str, deque] = {}

    def hit(self, key: str, *, limit: int, window: float) -> float:
        now = time.monotonic()
        with self.lock:
            log = self.logs.setdefault(key, deque())
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return 0.0
            return log[0] + window - now

    def count(self, key: str, *, window: float) -> int:
        now = time.monotonic()
        with self.lock:
            log = self.logs.get(key, deque())
            return sum(1 for at in log if at > now - window)

    def reset(self) -> None:
        with self.lock:
            self.logs.clear()


@lru_cache(maxsize=1)
def limiter():
    return RedisLimiter(settings.REDIS_URL) if settings.REDIS_URL else LocalLimiter()
