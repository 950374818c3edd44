"""The Usage page and its CSV: figures per account and local month from the stats rollup and the ledger, equal to
what the messages and ledger rows say; only a main account's admins see it; the messages table is never read."""

import csv
import io
import re
import zoneinfo
from collections import defaultdict
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from smsportal.accounts import services as accounts
from smsportal.accounts.models import LedgerEntry
from smsportal.accounts.templatetags.money import money
from smsportal.accounts.workspace import SESSION_KEY
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from smsportal.messaging.services import SmsRequest, messages_send
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory
from tests.messaging.conftest import run_engine

pytestmark = pytest.mark.django_db

SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 3, 10, 3, 0, tzinfo=dt_timezone.utc)
FIGURES = ("messages", "charged", "segments", "spend", "credit_in", "credit_out")


def at(*args):
    return time_machine.travel(datetime(*args, tzinfo=dt_timezone.utc), tick=True)


def send(account, *numbers, body="Hello", schedule=None):
    messages_send(account=account, requests=[SmsRequest(to=n, body=body, schedule=schedule) for n in numbers])


@pytest.fixture
def world(main_account, settings):
    """A main account in Sydney with two subaccounts; messages in September (outside six months), January,
    the first morning of February in Sydney (still January in UTC) and February; transfers each way."""
    settings.SANDBOX_DLR_DELAY = 0
    settings.SMS_RETRY_BASE = 0
    main_account.timezone = "Australia/Sydney"
    main_account.default_region = "AU"
    main_account.save(update_fields=["timezone", "default_region"])
    one = SubaccountFactory(parent=main_account, name="Alpha", timezone="Australia/Sydney", default_region="AU")
    two = SubaccountFactory(parent=main_account, name="Beta", timezone="Australia/Sydney", default_region="AU")
    with at(2025, 9, 5, 1):
        accounts.credit_top_up(account=main_account, amount="100")
        send(main_account, "+61412345601")
        run_engine()
    with at(2026, 1, 10, 2):
        accounts.credit_transfer(source=main_account, destination=one, amount="20")
        accounts.credit_transfer(source=main_account, destination=two, amount="10")
        # delivered, failed (refunded), blocked (invalid); a two-segment one and an undelivered one (charged)
        send(main_account, "+61412345678", "+61412340000", "not a number")
        send(one, "+61412345602", body="Spring sale " * 20)
        send(one, "+61412340001")
        run_engine()
    with at(2026, 1, 31, 20):  # 07:00 on 1 February in Sydney
        send(one, "+61412345603")
        accounts.credit_transfer(source=one, destination=main_account, amount="5")
        run_engine()
    with at(2026, 2, 15, 4):
        send(two, "+61412345604")
        send(two, "+61412345605", schedule=datetime(2026, 6, 1, tzinfo=dt_timezone.utc))  # waits: held, not spent
        send(main_account, "+61412345606")
        run_engine()
    return main_account, one, two


@pytest.fixture
def admin(client, world):
    client.force_login(MemberFactory(account=world[0]).user)
    return client


def expected(account_ids, since) -> dict:
    """{(YYYY-MM, account id): figures} counted straight from the messages and the ledger."""
    rows = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    for m in Message.objects.filter(account_id__in=account_ids, created_at__gte=since):
        row = rows[(f"{m.created_at.astimezone(SYDNEY):%Y-%m}", m.account_id)]
        row["messages"] += 1
        if m.status in statuses.CHARGEABLE:
            row["charged"] += 1
            row["segments"] += m.segments
            row["spend"] += m.price
    transfers = LedgerEntry.objects.filter(
        account_id__in=account_ids, created_at__gte=since,
        kind__in=(LedgerEntry.Kind.TRANSFER_IN, LedgerEntry.Kind.TRANSFER_OUT))
    for e in transfers:
        row = rows[(f"{e.created_at.astimezone(SYDNEY):%Y-%m}", e.account_id)]
        row["credit_in" if e.kind == LedgerEntry.Kind.TRANSFER_IN else "credit_out"] += abs(e.amount)
    return {key: {k: (Decimal(v) if k in ("spend", "credit_in", "credit_out") else v) for k, v in row.items()}
            for key, row in rows.items()}


def page_figures(response) -> dict:
    return {
        (f"{row.month:%Y-%m}", row.account.pk): {k: getattr(row, k) for k in FIGURES}
        for month in response.context["table"].months for row in month.rows
    }


def csv_figures(response) -> dict:
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    return {
        (r["month"], int(r["account_id"])): {
            k: (Decimal(r[k]) if k in ("spend", "credit_in", "credit_out") else int(r[k])) for k in FIGURES}
        for r in reader
    }


def get(client, name, query=""):
    with time_machine.travel(NOW, tick=True):
        return client.get(reverse(f"reports:{name}") + query)


def test_page_and_csv_equal_the_messages_and_the_ledger(admin, world):
    main, one, two = world
    since = datetime(2025, 10, 1, tzinfo=SYDNEY)  # six months back from March, Sydney time
    wanted = expected([main.pk, one.pk, two.pk], since)
    # The seed covers what the page must tell apart.
    assert wanted[("2026-02", one.pk)]["messages"] == 1  # UTC January, Sydney February
    assert wanted[("2026-02", one.pk)]["credit_out"] == Decimal(5)
    assert wanted[("2026-02", main.pk)]["credit_in"] == Decimal(5)
    assert wanted[("2026-01", main.pk)] | {"spend": 0} == {
        "messages": 3, "charged": 1, "segments": 1, "spend": 0, "credit_in": 0, "credit_out": Decimal(30)}
    assert wanted[("2026-01", one.pk)]["segments"] == 3  # two segments delivered, one undelivered: charged
    assert wanted[("2026-02", two.pk)]["messages"] == 2 and wanted[("2026-02", two.pk)]["charged"] == 1
    assert not any(month < "2025-10" for month, _ in wanted)

    page = get(admin, "usage")
    assert page.status_code == 200
    assert page_figures(page) == wanted
    table = page.context["table"]
    assert [f"{m.month:%Y-%m}" for m in table.months] == [
        "2026-03", "2026-02", "2026-01", "2025-12", "2025-11", "2025-10"]
    assert table.total.spend == sum(r["spend"] for r in wanted.values())
    # Rendered right-aligned with the money filter.
    html = page.content.decode()
    row = re.search(rf'data-testid="usage-2026-01-{one.pk}">(.*?)</tr>', html, re.S).group(1)
    assert f'<td class="num">{money(wanted[("2026-01", one.pk)]["spend"])}</td>' in row
    assert f'<td class="num">{money(Decimal(20))}</td>' in row
    assert 'href="/reports/usage.csv?months=6"' in html
    assert "Calendar months in Australia/Sydney, from 1 Oct 2025." in html

    download = get(admin, "usage-csv")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert csv_figures(download) == wanted


def test_spend_is_what_the_ledger_kept(admin, world):
    main, one, two = world
    table = get(admin, "usage", "?months=24").context["table"]
    spend = defaultdict(Decimal)
    for month in table.months:
        for row in month.rows:
            spend[row.account.pk] += row.spend
    for account in (main, one, two):
        ledger = LedgerEntry.objects.filter(account=account)
        settled = sum(e.covers for e in ledger.filter(kind=LedgerEntry.Kind.SETTLE))
        reserved = -sum(e.amount for e in ledger.filter(kind=LedgerEntry.Kind.RESERVE))
        refunded = sum(e.covers for e in ledger.filter(kind=LedgerEntry.Kind.REFUND))
        held = sum(e.held for e in ledger.filter(kind=LedgerEntry.Kind.RESERVE))
        assert spend[account.pk] == settled == reserved - refunded - held
    assert sum(e.held for e in LedgerEntry.objects.filter(account=two)) > 0  # the scheduled one: not spend


def test_filters_scope_and_clamp(admin, world):
    main, one, two = world
    only_one = get(admin, "usage", f"?subaccount={one.pk}&months=3")
    assert {account_id for _, account_id in page_figures(only_one)} == {one.pk}
    assert len(only_one.context["table"].months) == 3
    assert csv_figures(get(admin, "usage-csv", f"?subaccount={one.pk}&months=3")) == page_figures(only_one)
    assert {a for _, a in page_figures(get(admin, "usage", f"?subaccount={main.pk}"))} == {main.pk}
    assert len(get(admin, "usage", "?months=100").context["table"].months) == 24
    assert len(get(admin, "usage", "?months=0").context["table"].months) == 1
    assert len(get(admin, "usage", "?months=lots").context["table"].months) == 6
    assert ("2025-09", main.pk) in page_figures(get(admin, "usage", "?months=7"))


def test_another_accounts_subaccount_is_not_found(admin, world):
    stranger = SubaccountFactory(parent=AccountFactory())
    assert get(admin, "usage", f"?subaccount={stranger.pk}").status_code == 404
    assert get(admin, "usage-csv", f"?subaccount={stranger.pk}").status_code == 404
    assert get(admin, "usage", "?subaccount=abc").status_code == 404


def test_only_the_main_accounts_admins_see_it(client, world):
    main, one, _ = world
    client.force_login(MemberFactory(account=one).user)  # a subaccount's own admin
    assert get(client, "usage").status_code == 403
    assert get(client, "usage-csv").status_code == 403

    client.force_login(MemberFactory(account=main, role="viewer").user)
    assert get(client, "usage").status_code == 403

    # The main account's admin working inside a subaccount: the page belongs to the main account.
    client.force_login(MemberFactory(account=main).user)
    session = client.session
    session[SESSION_KEY] = one.pk
    session.save()
    response = get(client, "usage")
    assert response.status_code == 403 and b"switch to it first" in response.content


def test_subaccounts_settings_page_links_to_usage(admin):
    with time_machine.travel(NOW, tick=True):
        html = admin.get(reverse("settings-subaccounts")).content.decode()
    assert f'href="{reverse("reports:usage")}"' in html


def test_page_reads_the_rollup_in_a_fixed_number_of_queries(admin, world, django_assert_max_num_queries):
    main = world[0]
    for n in range(5):  # more subaccounts with usage cost no more queries
        sub = SubaccountFactory(parent=main, default_region="AU")
        with time_machine.travel(NOW, tick=True):
            accounts.credit_transfer(source=main, destination=sub, amount="1")
            send(sub, f"+6141234570{n}")
    # 4 are the page's own (accounts, the rollup's two parts, ledger); the rest: session, workspace and layout.
    with django_assert_max_num_queries(16), CaptureQueriesContext(connection) as captured:
        response = get(admin, "usage", "?months=24")
    assert response.status_code == 200
    assert not [q["sql"] for q in captured.captured_queries if 'FROM "messaging_message"' in q["sql"]]
    assert any('"messaging_messagestat"' in q["sql"] for q in captured.captured_queries)
