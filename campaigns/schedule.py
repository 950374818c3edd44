"""When each campaign message becomes due: the schedule (now, an instant, or a wall-clock time in each recipient's
time zone), the optional send rate, and quiet hours in the recipient's local time. Pure apart from the time
zone lookup by number (phonenumbers' prefix data, cached by prefix)."""

from __future__ import annotations

import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = datetime.UTC
PREFIX = 7  # "+1 415 5…": enough digits to tell a number's time zone from its neighbours'


@lru_cache(maxsize=20_000)
def _zone_for_prefix(prefix: str, fallback: str) -> str:
    import phonenumbers
    from phonenumbers import timezone as number_zones

    try:
        parsed = phonenumbers.parse(prefix + "0" * 8)
        zones = [z for z in number_zones.time_zones_for_number(parsed) if z != number_zones.UNKNOWN_TIMEZONE]
    except phonenumbers.NumberParseException:
        zones = []
    if not zones:
        try:
            parsed = phonenumbers.parse(prefix + "0" * 8)
            zones = [z for z in number_zones.time_zones_for_geographical_number(parsed)
                     if z != number_zones.UNKNOWN_TIMEZONE]
        except phonenumbers.NumberParseException:
            zones = []
    return zones[0] if zones else fallback


def zone_for(phone: str, fallback: str) -> ZoneInfo:
    """The recipient's time zone from their number (the first one phonenumbers names for its prefix), else the
    workspace's."""
    name = _zone_for_prefix(phone[:PREFIX], fallback) if phone.startswith("+") else fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def in_quiet(local: datetime.datetime, start: datetime.time, end: datetime.time) -> bool:
    t = local.time()
    if start == end:
        return False
    return start <= t < end if start < end else (t >= start or t < end)


def _at(day: datetime.date, clock: datetime.time, zone: ZoneInfo) -> datetime.datetime:
    """A wall-clock time on a day in a zone, as UTC. A time skipped by DST (02:30 on a spring-forward day) is
    read with the offset before the change, so it lands just after the gap; a repeated one is the first."""
    return datetime.datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def next_open(moment: datetime.datetime, zone: ZoneInfo, start: datetime.time, end: datetime.time) -> datetime.datetime:
    """`moment` if it is outside quiet hours in `zone`, else when they end there."""
    local = moment.astimezone(zone)
    if not in_quiet(local, start, end):
        return moment
    day = local.date()
    if start > end and local.time() >= start:  # the evening part: they end tomorrow morning
        day += datetime.timedelta(days=1)
    return max(moment, _at(day, end, zone))


def advance(begin: datetime.datetime, seconds: float, zone: ZoneInfo, start: datetime.time,
            end: datetime.time) -> datetime.datetime:
    """`seconds` of sending time after `begin`, counting only time outside quiet hours in `zone`: a rate-limited
    stream that runs into the evening carries on, at the same pace, when the morning opens."""
    at = next_open(begin, zone, start, end)
    for _ in range(3660):  # at most ten years of quiet nights
        local = at.astimezone(zone)
        quiet_from = _at(local.date(), start, zone)
        if quiet_from <= at:
            quiet_from = _at(local.date() + datetime.timedelta(days=1), start, zone)
        if at + datetime.timedelta(seconds=seconds) < quiet_from:
            return at + datetime.timedelta(seconds=seconds)
        seconds -= (quiet_from - at).total_seconds()
        at = next_open(quiet_from, zone, start, end)
    return at


def local_start(local_send_at: str, zone: ZoneInfo) -> datetime.datetime:
    """A "YYYY-MM-DDTHH:MM" wall-clock time in `zone`, as UTC."""
    moment = datetime.datetime.fromisoformat(local_send_at)
    return _at(moment.date(), moment.time(), zone)


def due_at(*, mode: str, starts_at: datetime.datetime, local_send_at: str, index: int, phone: str,
           workspace_zone: str, rate_per_minute: int | None, quiet: tuple[datetime.time, datetime.time] | None,
           now: datetime.datetime) -> datetime.datetime:
    """When the `index`-th message (0-based, in recipient order) of a campaign is due."""
    zone = zone_for(phone, workspace_zone) if (quiet or mode == "local") else None
    begin = starts_at
    if mode == "local":
        begin = local_start(local_send_at, zone)
    begin = max(begin, now) if mode != "at" else begin
    spacing = 60.0 * index / rate_per_minute if rate_per_minute else 0.0
    if quiet is None:
        return begin + datetime.timedelta(seconds=spacing)
    return advance(begin, spacing, zone, *quiet)
