"""The compiled plan (problems with positions, stable renders) and due times (quiet hours, rates, DST)."""

import datetime
from zoneinfo import ZoneInfo

from campaigns import schedule
from campaigns.engine import VariantSpec, compile_plan

UTC = datetime.UTC
QUIET = (datetime.time(21), datetime.time(8))
SYDNEY = ZoneInfo("Australia/Sydney")


def plan(*bodies, splits=None, custom=frozenset({"suburb"})):
    splits = splits or [100 // len(bodies)] * len(bodies)
    return compile_plan(99, [VariantSpec("ABCDE"[i], b, s) for i, (b, s) in enumerate(zip(bodies, splits))], custom)


def test_problems_name_the_variant_and_the_position():
    _, problems = plan("Hi {there|you", "ok")
    assert problems[0].field == "variants.0.body" and problems[0].position == 3
    _, problems = plan("fine", "Hi {{nickname}} from {{suburb}}")
    assert [(p.field, p.position) for p in problems] == [("variants.1.body", 3)]
    assert "nickname" in problems[0].message
    _, problems = plan("a", "b", splits=[60, 30])
    assert "add up to 90" in problems[0].message
    _, problems = plan("   ")
    assert problems[0].message == "Variant A has no message."


def test_a_recipient_always_gets_the_same_body():
    compiled, problems = plan("{Hi|Hello|Hey} {{first_name|there}}, {{fields.suburb}} {sale|deal}!", "Ciao {{first_name}}",
                              splits=[50, 50])
    assert not problems and compiled.fields == ("first_name", "fields.suburb")
    values = {"first_name": "Zoë", "fields.suburb": "Glebe"}
    first = [compiled.render(contact_id, values) for contact_id in range(1, 200)]
    again = [compiled.render(contact_id, values) for contact_id in range(1, 200)]
    assert first == again
    assert {r.variant for r in first} == {0, 1}
    a = [r for r in first if r.variant == 0]
    assert {r.variant_key.split("/")[0] for r in a} == {"A"} and all("/" in r.variant_key for r in a)
    assert {r.body.split()[0] for r in a} == {"Hi", "Hello", "Hey"}
    b = [r for r in first if r.variant == 1]
    assert {r.body for r in b} == {"Ciao Zoë"} and {r.variant_key for r in b} == {"B"}
    missing = compiled.render(3, {}, variant=1)
    assert missing.body == "Ciao " and missing.missing == ("first_name",)


def test_quiet_hours_hold_until_morning_local_time():
    ten_pm = datetime.datetime(2026, 12, 2, 22, 0, tzinfo=SYDNEY).astimezone(UTC)
    opens = schedule.next_open(ten_pm, SYDNEY, *QUIET)
    assert opens.astimezone(SYDNEY) == datetime.datetime(2026, 12, 3, 8, 0, tzinfo=SYDNEY)
    early = datetime.datetime(2026, 12, 3, 6, 30, tzinfo=SYDNEY).astimezone(UTC)
    assert schedule.next_open(early, SYDNEY, *QUIET).astimezone(SYDNEY).hour == 8
    noon = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=SYDNEY).astimezone(UTC)
    assert schedule.next_open(noon, SYDNEY, *QUIET) == noon
    # A daytime window (13:00–14:00) works too.
    assert schedule.next_open(noon.replace(minute=0) + datetime.timedelta(hours=1, minutes=5), SYDNEY,
                              datetime.time(13), datetime.time(14)).astimezone(SYDNEY).hour == 14


def test_a_rate_limited_stream_pauses_overnight_and_carries_on_at_the_same_pace():
    start = datetime.datetime(2026, 12, 2, 20, 0, tzinfo=SYDNEY).astimezone(UTC)
    # 90 minutes of sending at a rate: the first hour before 21:00, the rest from 08:00.
    due = schedule.advance(start, 90 * 60, SYDNEY, *QUIET).astimezone(SYDNEY)
    assert due == datetime.datetime(2026, 12, 3, 8, 30, tzinfo=SYDNEY)


def test_local_send_times_follow_daylight_saving():
    new_york = ZoneInfo("America/New_York")  # clocks go forward on 8 March 2026
    before = schedule.local_start("2026-03-07T09:00", new_york)
    after = schedule.local_start("2026-03-08T09:00", new_york)
    assert before == datetime.datetime(2026, 3, 7, 14, 0, tzinfo=UTC)
    assert after == datetime.datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    # 02:30 does not exist that night: it is read with the offset before the change, landing after the gap.
    assert schedule.local_start("2026-03-08T02:30", new_york).astimezone(new_york).hour == 3
    # Quiet hours end at 08:00 local on either side of the change.
    night = datetime.datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert schedule.next_open(night, new_york, *QUIET) == datetime.datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_due_times_of_a_campaign():
    now = datetime.datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 12:00 in Sydney
    common = {"starts_at": now, "local_send_at": "", "workspace_zone": "UTC", "now": now, "phone": "+61412345678"}
    assert schedule.due_at(mode="now", index=5, rate_per_minute=None, quiet=QUIET, **common) == now
    assert schedule.due_at(mode="now", index=5, rate_per_minute=60, quiet=None, **common) == now + datetime.timedelta(seconds=5)
    local = schedule.due_at(mode="local", index=0, rate_per_minute=None, quiet=QUIET,
                            **{**common, "local_send_at": "2026-12-03T09:30"})
    assert local.astimezone(SYDNEY) == datetime.datetime(2026, 12, 3, 9, 30, tzinfo=SYDNEY)
    # A local time already past in the recipient's zone sends now (within the window).
    past = schedule.due_at(mode="local", index=0, rate_per_minute=None, quiet=QUIET,
                           **{**common, "local_send_at": "2026-12-02T09:00"})
    assert past == now
