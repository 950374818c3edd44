"""campaign_preview and campaign_launch: a campaign over 1,000,000 contacts (PRODUCT.md §7).

Targets (2 cores, PostgreSQL): the preview — exact recipients, segments and cost by country for every
recipient's own body — in ≤ 2 s with spintax and merge fields, ≤ 0.5 s without merge fields. The launch's
fan-out (writing the messages, each with its rendered body, variant, segments and price) has no target in §7;
its rate is reported.

The audience is the one contacts_import left behind when it ran first (a real import of 1,000,000 CSV rows), else
one inserted set-based here: Australian, British and American mobiles, first names from a list, 1 % opted out.
"""

from __future__ import annotations

import time
from decimal import Decimal

from .bench_contacts import FIRST
from .harness import Context, Result, benchmark, median_seconds, timed

WITH_MERGE = ("{Hi|Hello|G'day} {{first_name|there}}, our spring sale {ends|finishes} {today|tonight}: "
              "{20|25} % off everything in store. Reply STOP to opt out")
WITHOUT_MERGE = ("{Hi|Hello|G'day} there, our spring sale {ends|finishes} {today|tonight}: "
                 "{20|25} % off everything in store. Reply STOP to opt out")
VARIANT_B = "{{first_name|Hi}}, spring sale: 20 % off today only! {See you soon|Come in today}. STOP to opt out"


def _audience(ctx: Context, size: int):
    """(account, contact list) of about `size` contacts: contacts_import's when it ran first, else inserted here."""
    from contacts.models import ContactList
    from smsportal.accounts import services as accounts
    from smsportal.accounts.models import Account

    if not ctx.quick and ctx.shared.get("list_id"):
        account = Account.objects.get(pk=ctx.shared["account_id"])
        contact_list = ContactList.objects.get(pk=ctx.shared["list_id"])
        accounts.credit_top_up(account=account, amount="200000")
        return account, contact_list, "the 1,000,000-row import's contacts"
    stamp = f"cb{int(time.time() * 1000) % 10_000_000}"
    account = Account.objects.create(name=f"Bench {stamp}", api_username=stamp, email=f"{stamp}@example.test",
                                     default_region="AU")
    accounts.credit_top_up(account=account, amount="200000")
    contact_list = ContactList.objects.create(account=account, name="Everyone")
    _insert_contacts(account.pk, contact_list.pk, size)
    return account, contact_list, f"{size:,} contacts inserted set-based"


def _insert_contacts(account_id: int, list_id: int, size: int) -> None:
    from django.db import connection

    from contacts.models import Contact, ContactList, ListMembership, OptOut

    names = "ARRAY[" + ", ".join("'" + n.replace("'", "''") + "'" for n in [*FIRST, ""]) + "]"
    text = ", ".join(["''"] * 14)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {Contact._meta.db_table} (account_id, phone_number, country, line_type, first_name, last_name,
                email, fax_number, organization_name, address_line_1, address_line_2, address_city, address_state,
                address_postal_code, address_country, custom_1, custom_2, custom_3, custom_4, fields, opted_out_at,
                opt_out_source, created_at, updated_at)
            SELECT %s,
                   CASE WHEN i %% 10 < 8 THEN '+614' || lpad((10000000 + i)::text, 8, '0')
                        WHEN i %% 10 = 8 THEN '+447' || lpad((700000000 + i)::text, 9, '0')
                        ELSE '+1415' || lpad((2000000 + i)::text, 7, '0') END,
                   CASE WHEN i %% 10 < 8 THEN 'AU' WHEN i %% 10 = 8 THEN 'GB' ELSE 'US' END, 'mobile',
                   ({names})[1 + (i * 7919) %% {len(FIRST) + 1}], {text}, '{{}}'::jsonb,
                   CASE WHEN i %% 100 = 42 THEN now() END, CASE WHEN i %% 100 = 42 THEN 'keyword' ELSE '' END,
                   now(), now()
            FROM generate_series(1::bigint, %s) AS i
        """, [account_id, size])
        cursor.execute(f"""
            INSERT INTO {OptOut._meta.db_table} (account_id, phone_number, source, created_at)
            SELECT account_id, phone_number, 'keyword', now() FROM {Contact._meta.db_table}
            WHERE account_id = %s AND opted_out_at IS NOT NULL
        """, [account_id])
        cursor.execute(f"""
            INSERT INTO {ListMembership._meta.db_table} (contact_list_id, contact_id, created_at)
            SELECT %s, id, now() FROM {Contact._meta.db_table} WHERE account_id = %s
        """, [list_id, account_id])
        cursor.execute(f"UPDATE {ContactList._meta.db_table} SET contact_count = %s WHERE id = %s", [size, list_id])
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")
        cursor.execute(f"ANALYZE {ListMembership._meta.db_table}")


def _campaign(account, contact_list, *bodies, splits=None):
    from campaigns import services

    splits = splits or [100 // len(bodies)] * len(bodies)
    return services.campaign_save(account=account, data={
        "name": "Bench campaign", "quiet_hours": False, "audience": {"lists": [contact_list.pk]},
        "variants": [{"body": b, "split": s} for b, s in zip(bodies, splits, strict=True)],
    })


@benchmark
def campaign_preview(ctx: Context) -> Result:
    result = Result()
    if not ctx.postgres:
        result.add("skipped", "needs PostgreSQL")
        return result
    from campaigns import services

    size = 20_000 if ctx.quick else 1_000_000
    setup_s, (account, contact_list, source) = timed(_audience, ctx, size)
    runs = 3 if ctx.quick else 5
    cases = [
        ("spintax + merge field, A/B", (WITH_MERGE, VARIANT_B), 2.0, "with_merge_seconds"),
        ("spintax, no merge fields", (WITHOUT_MERGE,), 0.5, "without_merge_seconds"),
    ]
    result.add("cores", __import__("os").cpu_count(), key="cpu_count")
    contact_list.refresh_from_db()
    result.add("audience", contact_list.contact_count, "contacts", f"{source}; ready in {setup_s:.1f} s",
               key="contacts")
    for label, bodies, target, key in cases:
        campaign = _campaign(account, contact_list, *bodies)
        last = {}

        def run(campaign=campaign, last=last):
            last["preview"] = services.campaign_preview(campaign=campaign, samples=0)

        seconds = median_seconds(run, runs=runs)
        tally = last["preview"].tally
        result.add(f"preview: {label}", seconds, "s", f"median of {runs}; target ≤ {target} s", key=key)
        result.target(f"preview of {contact_list.contact_count:,} recipients: {label}", seconds, "s",
                      at_most=target, full_scale=True)
        blocked = ", ".join(f"{reason} {n:,}" for reason, n in tally.blocked.most_common())
        result.add("  counted", tally.recipients, "recipients",
                   f"{tally.segments:,} segments, cost {tally.cost:,.4f}; blocked: {blocked or 'none'}; "
                   f"variants " + " / ".join(f"{v.label} {v.recipients:,}" for v in tally.variants))
    ctx.shared["campaign_account_id"], ctx.shared["campaign_list_id"] = account.pk, contact_list.pk
    return result


@benchmark
def campaign_launch(ctx: Context) -> Result:
    result = Result()
    if not ctx.postgres:
        result.add("skipped", "needs PostgreSQL")
        return result
    from django.db import connection

    from campaigns import services
    from contacts.models import ContactList
    from smsportal.accounts.models import Account
    from smsportal.messaging.models import Message

    if "campaign_list_id" in ctx.shared:
        account = Account.objects.get(pk=ctx.shared["campaign_account_id"])
        contact_list = ContactList.objects.get(pk=ctx.shared["campaign_list_id"])
    else:
        account, contact_list, _ = _audience(ctx, 20_000 if ctx.quick else 1_000_000)
    campaign = _campaign(account, contact_list, WITH_MERGE, VARIANT_B)
    balance_before = account.balance
    launch_s, campaign = timed(services.campaign_launch, campaign=campaign)
    prepared, batches = 0, 0
    start = time.perf_counter()
    while True:
        done = services.campaign_prepare(campaign_id=campaign.pk)
        prepared += done["prepared"]
        batches += 1
        if not done["more"]:
            break
    prepare_s = time.perf_counter() - start
    campaign.refresh_from_db()
    totals = Message.objects.filter(campaign_id=campaign.pk).exclude(status="blocked")
    from django.db.models import Sum

    written = totals.aggregate(cost=Sum("price"))["cost"] or Decimal(0)
    account.refresh_from_db(fields=["balance"])
    result.add("cores", __import__("os").cpu_count(), key="cpu_count")
    result.add("launch: snapshot, exact price, reserve", launch_s, "s",
               f"{campaign.recipients:,} recipients, {campaign.reserved:,.4f} reserved", key="launch_seconds")
    result.add("fan-out: messages written", prepared, note=f"{batches} batches of {services.PREPARE_BATCH:,}",
               key="messages")
    result.add("fan-out time", prepare_s, "s", key="prepare_seconds")
    result.add("fan-out rate", prepared / prepare_s if prepare_s else 0.0, "messages/s",
               "render, segments, price, due time; one INSERT per batch", key="messages_per_second")
    result.add("reserved = written", "yes" if written == campaign.reserved else f"NO: {written} ≠ {campaign.reserved}",
               note=f"balance {balance_before:,.4f} → {account.balance:,.4f}")
    # The dispatch benchmarks refuse a database with queued messages: these were never meant to be sent.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Message._meta.db_table} WHERE campaign_id = %s", [campaign.pk])
    return result
