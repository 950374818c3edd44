"""GET /v3/statistics/sms: ClickSend's SMS statistics per local day, from the stats rollup and one inbound count,
equal to what the messages themselves say; the published SDK's StatisticsApi parses it."""

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import clicksend
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import OptOut
from inbox import services as inbox
from inbox.models import InboundMessage
from smsportal.accounts import services as accounts
from smsportal.messaging import statuses
from smsportal.messaging.gateways.base import InboundSms
from smsportal.messaging.models import Message
from smsportal.messaging.routing import connections_for
from smsportal.messaging.services import SmsRequest, messages_cancel, messages_send
from tests.api.test_clicksend_sdk import sdk_client
from tests.factories import AccountFactory, MemberFactory, api_key_for

from ..messaging.conftest import funded, run_engine  # noqa: F401  (the sandbox account fixture)

SYDNEY, UTC = ZoneInfo("Australia/Sydney"), ZoneInfo("UTC")
URL = "/v3/statistics/sms"
OPTED_OUT = "+61412345679"
_inbound_ids = iter(range(1, 10**6))


def local(day: date, hour: int, minute: int = 0, tz=SYDNEY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def send_mix(account) -> list[int]:
    """One message in each outcome: failed, undelivered, sent, delivered (2 segments), blocked twice (opted out,
    invalid), scheduled, cancelled. Returns their ids."""
    later = timezone.now() + timedelta(hours=3)
    result = messages_send(account=account, requests=[
        SmsRequest(to="+61412340000", body="Hi"),  # sandbox: rejected at submit
        SmsRequest(to="+61412340001", body="Hi"),  # sandbox: accepted, then undelivered
        SmsRequest(to="+61412340003", body="Hi"),  # sandbox: accepted, no report ever
        SmsRequest(to="+61412345678", body="Spring sale " * 20),
        SmsRequest(to=OPTED_OUT, body="Hi"),
        SmsRequest(to="not a number", body="Hi"),
        SmsRequest(to="+61412345690", body="Later", schedule=later),
        SmsRequest(to="+61412345691", body="Later, cancelled", schedule=later),
    ])
    ids = [o.message_id for o in result.outcomes]
    messages_cancel(account=account, message_ids=[ids[-1]])
    return ids


def receive(account, count: int, when: datetime) -> None:
    """Inbound SMS through the sandbox's webhook path, then dated `when`."""
    sandbox = connections_for(account.pk)[0]
    before = set(InboundMessage.objects.filter(account=account).values_list("id", flat=True))
    inbox.inbound_receive(connection=sandbox, messages=[
        InboundSms(sender="+61412345678", to="+61400000555", body=f"Reply {n}",
                   gateway_message_id=f"IN{next(_inbound_ids)}", at=timezone.now(), raw={})
        for n in range(count)
    ])
    inbox.inbound_apply()
    fresh = InboundMessage.objects.filter(account=account).exclude(id__in=before)
    assert fresh.count() == count
    fresh.update(received_at=when)


def seed(account, tz, placements) -> None:
    """A mix of messages per (day, hour, minute), created then (the stats triggers follow the move)."""
    OptOut.objects.get_or_create(account=account, phone_number=OPTED_OUT, defaults={"source": "ui"})
    batches = [(send_mix(account), when) for when in placements]
    run_engine()
    for ids, (day, hour, minute) in batches:
        Message.objects.filter(pk__in=ids).update(created_at=local(day, hour, minute, tz))


def expected(account, tz, first: date, last: date) -> tuple[list[dict], dict]:
    """The figures counted straight from the rows (fine in a test; the endpoint may not)."""
    days = defaultdict(lambda: {"outbound": [0, Decimal(0)], "inbound": [0, Decimal(0)],
                                "bounced": [0, Decimal(0)]})
    for m in Message.objects.filter(account=account):
        day = m.created_at.astimezone(tz).date()
        if m.status in (statuses.CANCELLED, statuses.BLOCKED):
            continue
        kinds = ["outbound"] + (["bounced"] if m.status in (statuses.UNDELIVERED, statuses.FAILED) else [])
        for kind in kinds:
            days[day][kind][0] += 1
            days[day][kind][1] += m.price
    for m in InboundMessage.objects.filter(account=account):
        days[m.received_at.astimezone(tz).date()]["inbound"][0] += 1
    stats, total = [], {k: [0, Decimal(0)] for k in ("outbound", "inbound", "bounced")}
    day = first
    while day <= last:
        row = {"date": int(local(day, 0, 0, tz).timestamp())}
        for kind in ("outbound", "inbound", "bounced"):
            count, price = days[day][kind]
            row[kind] = {"count": count, "price": float(price)}
            total[kind][0] += count
            total[kind][1] += price
        stats.append(row)
        day += timedelta(days=1)
    return stats, {k: {"count": c, "price": float(p)} for k, (c, p) in total.items()}


@pytest.fixture
def seeded(funded):  # noqa: F811
    """An account in Sydney with a mix of every status on several days (two around a local midnight, one just
    outside the default 30 days), inbound replies on some of them, and another account whose data must not show."""
    funded.timezone = "Australia/Sydney"
    funded.save(update_fields=["timezone"])
    today = timezone.now().astimezone(SYDNEY).date()
    days = {n: today - timedelta(days=n) for n in (0, 1, 2, 3, 12, 29, 30)}
    seed(funded, SYDNEY, [(days[0], 0, 5), (days[1], 9, 0), (days[3], 23, 59), (days[2], 0, 0), (days[12], 14, 30),
                          (days[12], 15, 0), (days[29], 0, 0), (days[30], 23, 59)])
    receive(funded, 2, local(days[0], 0, 1))
    receive(funded, 1, local(days[2], 23, 59))
    receive(funded, 3, local(days[29], 0, 0))
    receive(funded, 4, local(days[30], 23, 59))

    other = AccountFactory(default_region="AU")
    accounts.credit_top_up(account=other, amount="50")
    seed(other, UTC, [(d, 12, 0) for d in days.values()])
    for d in days.values():
        receive(other, 5, local(d, 12, 0, UTC))
    # In flight too: one still queued, one being sent (after the last engine run).
    flying = [o.message_id for o in messages_send(account=funded, requests=[
        SmsRequest(to="+61412345670", body="Queued"), SmsRequest(to="+61412345671", body="Sending")]).outcomes]
    Message.objects.filter(pk__in=flying).update(created_at=local(days[0], 0, 10))
    Message.objects.filter(pk=flying[1]).update(status=statuses.SENDING)
    return funded, days


def test_statistics_per_local_day_equal_the_messages(seeded, api_for):
    account, days = seeded
    api = api_for(account)
    with CaptureQueriesContext(connection) as queries:
        response = api.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["http_code"], body["response_code"]) == (200, "SUCCESS")
    data = body["data"]

    stats, total = expected(account, SYDNEY, days[29], days[0])
    assert data["stats"] == stats and data["total"] == total
    assert len(data["stats"]) == 30 and data["stats"][-1]["date"] == int(local(days[0], 0).timestamp())
    # Per batch: failed, undelivered, sent, delivered and scheduled are outbound; failed and undelivered bounced;
    # today also has the two in flight.
    by_day = {row["date"]: row for row in data["stats"]}
    today = by_day[int(local(days[0], 0).timestamp())]
    assert today["outbound"]["count"] == 7 and today["bounced"]["count"] == 2 and today["inbound"]["count"] == 2
    assert today["outbound"]["price"] > today["bounced"]["price"] > 0 and today["inbound"]["price"] == 0
    assert by_day[int(local(days[2], 0).timestamp())]["outbound"]["count"] == 5  # 00:00 is the day's own
    assert by_day[int(local(days[3], 0).timestamp())]["outbound"]["count"] == 5  # 23:59 too
    assert by_day[int(local(days[12], 0).timestamp())]["outbound"]["count"] == 10
    assert total["outbound"]["count"] == 7 * 5 + 2 and total["bounced"]["count"] == 7 * 2
    assert total["inbound"]["count"] == 6  # the 30-days-ago ones and the other account's are out
    assert set(Message.objects.filter(account=account).values_list("status", flat=True)) == {
        statuses.FAILED, statuses.UNDELIVERED, statuses.SENT, statuses.DELIVERED, statuses.BLOCKED,
        statuses.SCHEDULED, statuses.CANCELLED, statuses.QUEUED, statuses.SENDING}
    assert data["_currency"] == {"currency_name_short": "USD", "currency_prefix_d": "$", "currency_prefix_c": "¢",
                                 "currency_name_long": "US Dollars", "min_recharge_amount": "0.0001",
                                 "max_recharge_amount": "9999999999.0000"}

    # The key, the rollup (folded rows and unfolded deltas) and one inbound count: the messages table is never read.
    assert len(queries) == 4 and not [q["sql"] for q in queries if re.search(r"\bmessaging_message\b", q["sql"])]
    assert api.get(URL + "/").status_code == 200


def test_date_window_and_its_errors(seeded, api_for):
    account, days = seeded
    api = api_for(account)
    first, last = days[30], days[12]
    start = int(local(first, 0).timestamp())
    response = api.get(URL, {"date_from": start + 3600, "date_to": last.isoformat()})
    assert response.status_code == 200, response.content
    stats, total = expected(account, SYDNEY, first, last)
    assert response.json()["data"]["stats"] == stats and response.json()["data"]["total"] == total
    assert total["outbound"]["count"] == 20 and total["inbound"]["count"] == 7  # 30 days ago is in now

    only_to = api.get(URL, {"date_to": days[12].isoformat()}).json()["data"]["stats"]
    assert len(only_to) == 30 and only_to[-1]["date"] == int(local(days[12], 0).timestamp())
    only_from = api.get(URL, {"date_from": days[3].isoformat()}).json()["data"]["stats"]
    assert [row["date"] for row in only_from] == [int(local(days[n], 0).timestamp()) for n in (3, 2, 1, 0)]

    for params, field in (
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "-5"}, "date_from"),
        ({"date_to": "99999999999999999999"}, "date_to"),
        ({"date_from": days[0].isoformat(), "date_to": days[3].isoformat()}, "date_from"),
        ({"date_from": "2024-01-01", "date_to": "2025-01-01"}, "date_from"),  # 367 days
        ({"date_from": (days[0] + timedelta(days=2)).isoformat()}, "date_from"),  # after today
    ):
        bad = api.get(URL, params)
        assert bad.status_code == 400, params
        body = bad.json()
        assert body["response_code"] == "BAD_REQUEST" and list(body["error"]["fields"]) == [field], params
    assert api.get(URL, {"date_from": "2024-01-01", "date_to": "2024-12-31"}).status_code == 200  # 366 days


def test_days_follow_daylight_saving(funded, api_for):  # noqa: F811
    """Sydney's clocks went back on 5 April 2026: that day is 25 hours and its messages count once."""
    funded.timezone = "Australia/Sydney"
    funded.save(update_fields=["timezone"])
    april = [date(2026, 4, d) for d in (4, 5, 6)]
    seed(funded, SYDNEY, [(april[0], 23, 30), (april[1], 0, 30), (april[1], 23, 30), (april[2], 0, 30)])
    data = api_for(funded).get(URL, {"date_from": "2026-04-04", "date_to": "2026-04-06"}).json()["data"]
    dates = [row["date"] for row in data["stats"]]
    assert [b - a for a, b in zip(dates, dates[1:])] == [24 * 3600, 25 * 3600]  # 4 April is 24 hours, 5 April 25
    assert [row["outbound"]["count"] for row in data["stats"]] == [5, 10, 5]
    assert data["stats"] == expected(funded, SYDNEY, april[0], april[2])[0]


def test_reporting_off_is_forbidden(main_account, sub_account, api_for):
    sub_account.access_reporting = False
    sub_account.save(update_fields=["access_reporting"])
    response = api_for(sub_account).get(URL)
    assert response.status_code == 403
    body = response.json()
    assert body["response_code"] == "FORBIDDEN" and body["error"]["code"] == "FORBIDDEN" and body["data"] is None
    assert api_for(main_account).get(URL).status_code == 200  # the parent's own flag is on
    assert api_for(main_account).get(URL).json()["data"]["total"]["outbound"] == {"count": 0, "price": 0.0}


@pytest.fixture
def sdk(live_server, transactional_db, seeded):
    account, days = seeded
    account.api_rate_limit = 1000
    account.save(update_fields=["api_rate_limit"])
    MemberFactory(account=account)
    with sdk_client(live_server.url, account.api_username, api_key_for(account)) as client:
        yield account, days, clicksend.StatisticsApi(client)


def test_sdk_view_sms_statistics(sdk):
    account, days, api = sdk
    answer = api.view_sms_statistics()
    assert answer.http_code == 200 and answer.response_code == "SUCCESS"
    stats, total = expected(account, SYDNEY, days[29], days[0])
    assert answer.data.total.outbound.count == total["outbound"]["count"] == 37
    assert answer.data.total.outbound.price == pytest.approx(total["outbound"]["price"])
    assert (answer.data.total.bounced.count, answer.data.total.inbound.count) == (14, 6)
    assert [s.var_date for s in answer.data.stats] == [row["date"] for row in stats]
    assert [s.outbound.count for s in answer.data.stats] == [row["outbound"]["count"] for row in stats]
    assert answer.data.currency.currency_name_short == "USD" and answer.data.currency.min_recharge_amount == "0.0001"
