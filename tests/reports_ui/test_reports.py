"""The dashboard, the reports, their CSV exports and /v3/statistics/sms agree with each other and with the
messages themselves; a parent's admin sees both subaccounts, each child only its own; no page counts or groups
the messages table."""

import csv
import datetime
import io
import itertools
import re
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.test.utils import CaptureQueriesContext
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import OptOut
from inbox.models import Conversation, InboundMessage
from reports import selectors
from smsportal.accounts.permissions import Access
from smsportal.messaging import statuses
from smsportal.messaging.models import GatewayConnection, Message
from tests.factories import MemberFactory, SubaccountFactory

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)
COUNTRIES = ("AU", "NZ", "GB")
ERRORS = {statuses.UNDELIVERED: ("30003", "Unreachable handset"), statuses.FAILED: ("21610", "Number refuses SMS")}


def message(account, at, status, *, country, gateway, campaign=None, variant="", segments=1, price="0.05"):
    code, text = ERRORS.get(status, ("", ""))
    return Message(account=account, to=f"+6141200{next(_ids):04d}", country=country, body="Hi", encoding="GSM-7",
                   segments=segments, price=Decimal(price), status=status, error_code=code, error_text=text,
                   gateway=gateway, campaign_id=campaign.pk if campaign else None, variant_key=variant,
                   idempotency_key=f"r{next(_ids)}", created_at=at, updated_at=at)


@pytest.fixture
def seeded(main_account):
    return seed(main_account)


def seed(main_account):
    """Two subaccounts of one parent; over the last ten days, messages in every status, three countries, two
    gateway connections, two campaigns with variants A and B; replies and opt-outs."""
    main_account.timezone = "Australia/Sydney"
    main_account.save(update_fields=["timezone"])
    children = [SubaccountFactory(parent=main_account, timezone="Australia/Sydney") for _ in range(2)]
    gateways = [GatewayConnection.objects.create(account=main_account, name=name, kind="sandbox")
                for name in ("Sandbox one", "Sandbox two")]
    campaigns = [Campaign.objects.create(account=children[i], name=f"Spring sale {i + 1}") for i in range(2)]
    now = timezone.now()
    rows = []
    for day in range(10):
        at = now - datetime.timedelta(days=day, minutes=7)
        for i, status in enumerate(statuses.ALL):
            for child_index, child in enumerate(children):
                for n in range(1 + (day + i + child_index) % 3):
                    rows.append(message(child, at, status, country=COUNTRIES[(day + n) % 3],
                                        gateway=gateways[(i + n) % 2],
                                        campaign=campaigns[child_index] if n else None,
                                        variant="AB"[(day + n) % 2] if n else "", segments=1 + n % 2))
    Message.objects.bulk_create(rows)
    for child in children:
        for day in (0, 1, 8):
            conversation = Conversation.objects.create(
                account=child, contact_number=f"+61499{next(_ids):06d}", our_number="+61400000000",
                last_message_at=now, created_at=now, updated_at=now)
            InboundMessage.objects.create(account=child, conversation=conversation, sender=conversation.contact_number,
                                          body="Thanks!", received_at=now - datetime.timedelta(days=day))
        OptOut.objects.create(account=child, phone_number=f"+61498{next(_ids):06d}", source="ui")
    return main_account, children


def counted(account_ids, since, until):
    """Straight from the messages: status counts, charged segments and cost."""
    rows = Message.objects.filter(account_id__in=account_ids, created_at__gte=since, created_at__lt=until)
    by_status = Counter(m.status for m in rows)
    charged = [m for m in rows if m.status in statuses.CHARGEABLE]
    return by_status, sum(m.segments for m in charged), sum((m.price for m in charged), Decimal(0))


def client_for(client, account, role="admin"):
    client.force_login(MemberFactory(account=account, role=role).user)
    return client


@pytest.mark.parametrize("who", ["parent", "child"])
def test_dashboard_reports_csv_and_statistics_agree_with_the_messages(client, seeded, who, api_for):
    parent, children = seeded
    account = parent if who == "parent" else children[0]
    ids = [c.pk for c in children] if who == "parent" else [children[0].pk]
    ui = client_for(client, account)
    period = selectors.period_from({"period": "7d"}, account=account)
    by_status, segments, cost = counted(ids, period.since, period.until)
    assert set(by_status) >= {statuses.DELIVERED, statuses.UNDELIVERED, statuses.FAILED, statuses.BLOCKED}

    # The dashboard's figures.
    dashboard = ui.get("/?period=7d")
    figures = {f.key: f.value for f in dashboard.context["summary"]["figures"]}
    assert figures["sent"] == sum(by_status[s] for s in statuses.REACHED_CARRIER)
    assert figures["failed"] == by_status[statuses.FAILED] and figures["blocked"] == by_status[statuses.BLOCKED]
    outcomes = sum(by_status[s] for s in (statuses.DELIVERED, statuses.UNDELIVERED, statuses.FAILED))
    assert figures["delivery_rate"] == pytest.approx(by_status[statuses.DELIVERED] / outcomes)
    assert figures["segments"] == segments and figures["spend"] == cost
    assert figures["replies"] == InboundMessage.objects.filter(account_id__in=ids,
                                                               received_at__gte=period.since).count() == 2 * len(ids)
    assert figures["opt_outs"] == len(ids)

    # The reports' daily table and its CSV, summed over the days, say the same.
    page = ui.get("/reports/?period=7d")
    daily = page.context["tables"]["daily"]
    assert len(daily) == 7
    for status in statuses.ALL:
        assert sum(day[status] for day in daily) == by_status[status]
    daily_csv = list(csv.DictReader(io.StringIO(ui.get("/reports/daily.csv?period=7d").content.decode())))
    assert [row["day"] for row in daily_csv] == [d["day"].isoformat() for d in daily]
    assert sum(int(row["delivered"]) for row in daily_csv) == by_status[statuses.DELIVERED]
    assert sum(Decimal(row["cost"]) for row in daily_csv) == cost

    # Every breakdown adds up to the same total, and matches the messages group by group.
    total = sum(by_status.values())
    for name in ("countries", "gateways", "campaigns"):
        table = page.context["tables"][name]
        rows = list(csv.DictReader(io.StringIO(ui.get(f"/reports/{name}.csv?period=7d").content.decode())))
        assert len(rows) == len(table)
        if name != "campaigns":
            assert sum(row["messages"] for row in table) == total
            assert sum(int(row["messages"]) for row in rows) == total
    in_period = Message.objects.filter(account_id__in=ids, created_at__gte=period.since)
    assert {row["key"]: row["messages"] for row in page.context["tables"]["countries"]} == dict(
        Counter(m.country for m in in_period))
    assert {(row["campaign_id"], row["variant"]): row["messages"] for row in page.context["tables"]["campaigns"]} \
        == dict(Counter((m.campaign_id, m.variant_key) for m in in_period if m.campaign_id))
    errors = {row["code"]: row for row in page.context["tables"]["errors"]}
    assert errors["30003"]["undelivered"] == by_status[statuses.UNDELIVERED]
    assert errors["21610"]["text"] == "Number refuses SMS"

    # /v3/statistics/sms over its own window (the last 30 local days) against the messages of those days.
    stats = api_for(account).get("/v3/statistics/sms").json()["data"]
    month = selectors.period_from({"period": "30d"}, account=account)
    by_status, _, _ = counted(ids if who == "child" else [account.pk], month.since, month.until)
    outbound = sum(n for s, n in by_status.items() if s not in (statuses.CANCELLED, statuses.BLOCKED))
    assert stats["total"]["outbound"]["count"] == outbound
    assert stats["total"]["bounced"]["count"] == by_status[statuses.UNDELIVERED] + by_status[statuses.FAILED]


def test_a_parent_chooses_a_subaccount_and_a_child_sees_only_its_own(client, seeded):
    parent, (first, second) = seeded
    ui = client_for(client, parent)
    page = ui.get(f"/reports/?period=30d&account={second.pk}")
    assert page.context["scope"].account_ids == [second.pk]
    assert {row["name"] for row in page.context["tables"]["campaigns"]} == {"Spring sale 2"}
    assert ui.get("/reports/?account=999999").status_code == 404

    child = client_for(client, first)
    page = child.get(f"/reports/?period=30d&account={second.pk}")  # a child has no choice to make
    assert page.context["scope"].account_ids == [first.pk] and not page.context["scope"].choices
    assert {row["name"] for row in page.context["tables"]["campaigns"]} == {"Spring sale 1"}
    assert "Spring sale 2" not in child.get("/?period=30d").content.decode()


def test_periods_and_their_errors(client, seeded):
    parent, _ = seeded
    ui = client_for(client, parent)
    response = ui.get("/reports/?period=custom&start=2026-02-30&end=2026-03-01", follow=True)
    assert "start is a date as YYYY-MM-DD" in response.content.decode()
    assert response.context["period"].key == "7d"
    page = ui.get("/?period=custom&start=2026-01-01&end=2026-01-31")
    assert page.context["period"].days[0] == datetime.date(2026, 1, 1) and len(page.context["period"].days) == 31
    with pytest.raises(Exception, match="end is on or after start"):
        selectors.period_from({"period": "custom", "start": "2026-02-02", "end": "2026-02-01"}, account=parent)
    today = selectors.period_from({"period": "today"}, account=parent)
    assert today.previous().end == today.start - datetime.timedelta(days=1)


def test_no_page_counts_or_groups_the_messages_table(client, seeded, django_assert_max_num_queries):
    parent, _ = seeded
    ui = client_for(client, parent)
    for url in ("/?period=30d", "/reports/?period=30d", "/reports/countries.csv?period=30d",
                "/reports/errors.csv?period=30d"):
        with CaptureQueriesContext(connection) as queries:
            assert ui.get(url).status_code == 200
        touching = [q["sql"] for q in queries if re.search(r'\bFROM "messaging_message"', q["sql"])]
        # Only the error table's text probes read messages: one row each, on the partial index of errors.
        assert all("LIMIT 1" in sql and "COUNT(" not in sql.upper() and "GROUP BY" not in sql.upper()
                   for sql in touching), touching
        assert len(touching) <= len(ERRORS)
    with django_assert_max_num_queries(25):
        ui.get("/reports/?period=30d")
    with django_assert_max_num_queries(20):
        ui.get("/?period=30d")


def test_untrusted_text_is_escaped_and_csv_cells_cannot_be_formulas(client, seeded):
    parent, (first, _) = seeded
    Campaign.objects.filter(account=first).update(name='=HYPERLINK("x")<script>alert(1)</script>')
    conversation = Conversation.objects.filter(account=first).first()
    InboundMessage.objects.create(account=first, conversation=conversation, sender="+61400000009",
                                  body='<img src=x onerror=alert(1)>', received_at=timezone.now())
    ui = client_for(client, parent)
    html = ui.get("/?period=30d").content.decode() + ui.get("/reports/?period=30d").content.decode()
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    rows = list(csv.reader(io.StringIO(ui.get("/reports/campaigns.csv?period=30d").content.decode())))
    assert any(row[1].startswith("'=HYPERLINK") for row in rows[1:])


def test_a_viewer_without_reporting_sees_the_account_not_the_figures(client, seeded):
    _, (first, _) = seeded
    first.access_reporting = False
    first.save(update_fields=["access_reporting"])
    ui = client_for(client, first)
    assert ui.get("/reports/").status_code == 403
    page = ui.get("/")
    assert page.status_code == 200 and "summary" not in page.context


def test_the_filter_form_keeps_a_preset_until_its_dates_are_edited(client, seeded):
    parent, (first, _) = seeded
    ui = client_for(client, parent)
    preset = selectors.period_from({"period": "30d"}, account=parent)
    same = ui.get(f"/reports/?period=30d&start={preset.start}&end={preset.end}&account={first.pk}")
    assert same.context["period"].key == "30d"
    edited = ui.get(f"/reports/?period=30d&start={preset.start}&end={preset.start}&account={first.pk}")
    assert edited.context["period"].key == "custom" and len(edited.context["period"].days) == 1


def test_an_empty_period_says_so(client, seeded):
    parent, _ = seeded
    ui = client_for(client, parent)
    assert 'data-testid="dashboard-empty"' not in ui.get("/?period=30d").content.decode()
    assert 'data-testid="dashboard-empty"' in ui.get("/?period=custom&start=2020-01-01&end=2020-01-31").content.decode()


def test_the_reports_api_returns_what_the_pages_show(client, seeded, api_for):
    parent, (first, second) = seeded
    ui = client_for(client, parent)
    api = api_for(parent)
    page = ui.get(f"/reports/?period=30d&account={second.pk}")
    for name in ("daily", "countries", "gateways", "campaigns", "errors"):
        body = api.get(f"/v3/reports/{name}?period=30d&account={second.pk}").json()
        assert body["response_code"] == "SUCCESS" and body["data"]["accounts"] == [second.pk]
        rows = body["data"]["rows"]
        shown = page.context["tables"][name]
        assert len(rows) == len(shown)
        for row, expected in zip(rows, shown, strict=True):
            assert row["messages"] == expected["messages"]
            if "cost" in expected:
                assert Decimal(row["cost"]) == expected["cost"]
    summary = api.get("/v3/reports/summary?period=7d").json()["data"]
    shown = {f.key: f.value for f in ui.get("/?period=7d").context["summary"]["figures"]}
    assert {f["key"]: f["value"] for f in summary["figures"]} == {
        k: (f"{v:.4f}" if isinstance(v, Decimal) else v) for k, v in shown.items()}
    assert sorted(summary["accounts"]) == sorted([parent.pk, first.pk, second.pk])

    child_api = api_for(first)  # a subaccount's key: its own figures, whatever it asks for
    assert child_api.get(f"/v3/reports/campaigns?account={second.pk}").json()["data"]["accounts"] == [first.pk]
    bad = api.get("/v3/reports/daily?period=custom&start=2026-13-01&end=2026-12-01")
    assert bad.status_code == 400 and "start" in bad.content.decode()
    assert api.get("/v3/reports/nonsense").status_code == 404
    assert api.get("/v3/reports/daily?account=999999").status_code == 404
