"""Message stats: the triggers keep the rollup exact through every write path, the squasher folds it without
changing a sum, and a rebuild from the messages agrees with both."""

import threading
from collections import defaultdict
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from contacts.models import OptOut
from smsportal.accounts import services as accounts
from smsportal.messaging import bulk, statuses, tasks
from smsportal.messaging.models import Message, MessageStat
from smsportal.messaging.selectors import STAT_DIMS, message_stats
from smsportal.messaging.services import SmsRequest, messages_cancel, messages_send
from smsportal.messaging.stats import stats_rebuild, stats_squash

from ..factories import AccountFactory
from .conftest import run_engine

EVERY_DIM = ("account_id", "bucket", "campaign_id", "variant_key", "country", "gateway_id", "status", "error_code")


def stats(account_ids) -> dict:
    """{dims: (messages, segments, cost)} as the selector reads the rollup."""
    return {
        tuple(row[d] for d in EVERY_DIM): (row["messages"], row["segments"], row["cost"])
        for row in message_stats(account_ids=account_ids, group_by=EVERY_DIM)
    }


def counted(account_ids) -> dict:
    """The same, counted straight from the messages."""
    groups = defaultdict(lambda: [0, 0, Decimal(0)])
    for m in Message.objects.filter(account_id__in=account_ids):
        bucket = m.created_at.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)
        group = groups[(m.account_id, bucket, m.campaign_id or 0, m.variant_key, m.country, m.gateway_id or 0,
                        m.status, m.error_code)]
        group[0] += 1
        group[1] += m.segments
        group[2] += m.price
    return {dims: tuple(v) for dims, v in groups.items()}


def send(account, *requests):
    return messages_send(account=account, requests=list(requests))


@pytest.fixture
def busy(funded):
    """An account's messages in every status: delivered, sent, failed, undelivered, blocked (opted out and
    invalid), cancelled, scheduled — some of them a campaign's, one of them two segments long."""
    OptOut.objects.create(account=funded, phone_number="+61412345679", source="ui")
    later = timezone.now() + timedelta(hours=3)
    send(funded, *(SmsRequest(to=n, body="Hello") for n in
                   ("0412 345 678", "+61412340000", "+61412340001", "+61412340002", "+61412340003",
                    "+61412345679", "not a number")))
    send(funded, *(SmsRequest(to=f"+6141234567{i}", body="Spring sale " * 20, campaign_id=7, variant_key=k)
                   for i, k in ((0, "A"), (1, "B"), (2, "B"))))
    scheduled = send(funded, SmsRequest(to="+61412345690", body="Later", schedule=later),
                     SmsRequest(to="+61412345691", body="Later, cancelled", schedule=later))
    messages_cancel(account=funded, message_ids=[scheduled.outcomes[1].message_id])
    run_engine()
    return funded


def test_incremental_equals_squashed_equals_rebuilt_equals_counted(busy, sub_account):
    wanted = counted([busy.pk])
    assert {dims[6] for dims in wanted} == {
        statuses.DELIVERED, statuses.SENT, statuses.FAILED, statuses.UNDELIVERED, statuses.BLOCKED,
        statuses.CANCELLED, statuses.SCHEDULED,
    }
    assert any(dims[2] == 7 for dims in wanted) and any(dims[5] == 0 for dims in wanted)
    assert any(dims[7] for dims in wanted)  # a gateway's error code is a group of its own
    assert MessageStat.objects.filter(squashed=False).exists()

    assert stats([busy.pk]) == wanted
    assert stats_squash() > 0
    assert stats([busy.pk]) == wanted
    stats_rebuild()
    assert stats([busy.pk]) == wanted
    assert stats([sub_account.pk]) == {}  # scoped: another workspace sees none of it


def test_selector_groups_and_scopes(busy):
    by_status = {r["status"]: r for r in message_stats(account_ids=[busy.pk])}
    assert by_status[statuses.DELIVERED]["messages"] == 5 and by_status[statuses.BLOCKED]["messages"] == 2
    assert by_status[statuses.BLOCKED]["cost"] == Decimal(0)  # blocked at acceptance: never priced
    campaign = message_stats(campaign_id=7, group_by=("variant_key",))
    assert [(r["variant_key"], r["messages"], r["segments"]) for r in campaign] == [("A", 1, 2), ("B", 2, 4)]
    assert isinstance(campaign[0]["cost"], Decimal) and campaign[0]["cost"] > 0
    total = message_stats(account_ids=[busy.pk], group_by=())
    assert total[0]["messages"] == Message.objects.filter(account=busy).count()
    hours = [r["bucket"] for r in message_stats(account_ids=[busy.pk], group_by=("bucket",))]
    assert message_stats(account_ids=[busy.pk], since=hours[-1] + timedelta(hours=1)) == []
    assert message_stats(account_ids=[busy.pk], until=hours[0]) == []
    assert message_stats(account_ids=[busy.pk], since=hours[0], until=hours[-1] + timedelta(hours=1),
                         group_by=()) == total


def test_bulk_writes_raw_sql_updates_and_deletes_keep_stats_exact(busy):
    ids = list(Message.objects.filter(account=busy).order_by("id").values_list("id", flat=True))
    gateway_id = Message.objects.filter(account=busy).exclude(gateway=None).values_list("gateway_id", flat=True)[0]

    # Raw SQL, as the dispatcher writes: status and gateway from values, the hot path's own statement.
    bulk.update_messages(ids_values=[(ids[0], statuses.UNDELIVERED, None), (ids[1], statuses.QUEUED, gateway_id)],
                         columns=["status", "gateway_id"], casts=["text", "bigint"])
    assert stats([busy.pk]) == counted([busy.pk])

    # The ORM's set-based update, a column that is no status (price) and a move to another hour.
    Message.objects.filter(pk__in=ids[2:5]).update(status=statuses.DELIVERED, gateway_id=None)
    Message.objects.filter(pk=ids[5]).update(price=Decimal("1.2345"))
    Message.objects.filter(pk=ids[6]).update(created_at=timezone.now() - timedelta(days=2))
    # Updates that change nothing counted leave no delta rows.
    before = MessageStat.objects.count()
    Message.objects.filter(pk__in=ids).update(updated_at=timezone.now(), receipt_read=True)
    assert MessageStat.objects.count() == before
    assert stats([busy.pk]) == counted([busy.pk])

    # bulk_create of a new send, then deletes (the collector's and raw).
    send(busy, SmsRequest(to="+61412345699", body="One more", campaign_id=8))
    assert stats([busy.pk]) == counted([busy.pk])
    Message.objects.filter(pk__in=ids[:3]).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Message._meta.db_table} WHERE id = %s", [ids[3]])
    assert stats([busy.pk]) == counted([busy.pk])
    stats_squash()
    assert stats([busy.pk]) == counted([busy.pk])


def test_squash_is_idempotent_and_leaves_one_row_per_group(busy):
    groups = MessageStat.objects.filter(squashed=False).values(*EVERY_DIM).distinct().count()
    wanted = stats([busy.pk])

    assert stats_squash(limit=1) == 1  # the limit is in groups
    assert stats_squash() == groups - 1
    assert stats_squash() == 0

    assert stats([busy.pk]) == wanted
    rows = list(MessageStat.objects.values(*EVERY_DIM, "messages", "squashed"))
    assert all(r["squashed"] for r in rows)
    assert len({tuple(r[d] for d in EVERY_DIM) for r in rows}) == len(rows) == len(wanted)
    assert all(r["messages"] != 0 for r in rows)

    # A group that empties (its messages moved elsewhere) leaves no row at all once squashed.
    Message.objects.filter(account=busy, status=statuses.SENT).update(status=statuses.DELIVERED)
    assert stats_squash() == 2
    assert not MessageStat.objects.filter(status=statuses.SENT).exists()
    assert stats([busy.pk]) == counted([busy.pk])


def test_tick_squashes(busy, monkeypatch):
    monkeypatch.setattr(tasks, "dispatch_kick", lambda n: None)
    monkeypatch.setattr(tasks, "reports_kick", lambda **_: None)
    assert tasks.tick()["squashed"] > 0
    assert not MessageStat.objects.filter(squashed=False).exists()
    assert tasks.tick()["squashed"] == 0


def test_rebuild_command_repairs_one_account_or_all(busy, capsys):
    wanted = counted([busy.pk])
    MessageStat.objects.filter(account_id=busy.pk, status=statuses.DELIVERED).delete()  # stats gone astray
    assert stats([busy.pk]) != wanted

    call_command("rebuild_message_stats", "--account", str(busy.pk))
    assert f"account {busy.pk}: {len(wanted)} groups" in capsys.readouterr().out
    assert stats([busy.pk]) == wanted
    call_command("rebuild_message_stats")
    assert stats([busy.pk]) == wanted
    assert not MessageStat.objects.filter(squashed=False).exists()
    with pytest.raises(CommandError, match="No account"):
        call_command("rebuild_message_stats", "--account", "999999")


def test_selector_refuses_unknown_dims_and_unscoped_queries(busy):
    with pytest.raises(ValueError, match="'to'"):
        message_stats(account_ids=[busy.pk], group_by=("status", "to"))
    with pytest.raises(ValueError, match="account_ids or campaign_id"):
        message_stats(group_by=("status",))
    assert set(STAT_DIMS) == set(EVERY_DIM)


def test_selector_is_one_query_or_two_on_the_narrow_rollup(busy, django_assert_num_queries):
    with django_assert_num_queries(1):
        message_stats(account_ids=[busy.pk], group_by=("bucket", "country", "status"))
    with django_assert_num_queries(2):  # the folded (account, hour, status) rows and the deltas not folded yet
        message_stats(account_ids=[busy.pk], group_by=("bucket", "status"))


NARROW = ("account_id", "bucket", "status")


def wide(account_ids, group_by=NARROW):
    """The same totals from the full dims, grouped in Python (what the narrow rollup must agree with)."""
    totals = defaultdict(lambda: [0, 0, Decimal(0)])
    for row in message_stats(account_ids=account_ids, group_by=(*group_by, "country")):
        total = totals[tuple(row[d] for d in group_by)]
        total[0] += row["messages"]
        total[1] += row["segments"]
        total[2] += row["cost"]
    return {key: tuple(v) for key, v in totals.items() if v[0]}


def narrow(account_ids, group_by=NARROW):
    return {tuple(row[d] for d in group_by): (row["messages"], row["segments"], row["cost"])
            for row in message_stats(account_ids=account_ids, group_by=group_by)}


def test_the_narrow_rollup_agrees_before_and_after_squashing_and_rebuilding(busy, sub_account):
    from smsportal.messaging.models import MessageStatusStat

    ids = [busy.pk, sub_account.pk]
    expected = wide(ids)
    assert expected and narrow(ids) == expected
    assert not MessageStatusStat.objects.exists()  # nothing folded yet: all of it read from the deltas
    stats_squash()
    assert MessageStatusStat.objects.filter(account_id=busy.pk).exists()
    assert not MessageStat.objects.filter(squashed=False).exists()
    assert narrow(ids) == expected == wide(ids)
    send(busy, SmsRequest(to="+61412345699", body="One more"))  # a new delta on top of folded rows
    run_engine()
    grown = wide(ids)
    assert grown != expected and narrow(ids) == grown
    stats_squash()
    assert narrow(ids) == grown
    MessageStatusStat.objects.all().delete()  # lost: the rebuild makes it again
    stats_rebuild(account_id=busy.pk)
    assert narrow(ids) == grown
    assert narrow(ids, ("status",)) == wide(ids, ("status",))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_squashers_and_a_rebuild_never_double_count(settings):
    """Squashers skip the rows another holds, and a rebuild waits for squashers under way: whichever order they
    commit in, every group still sums to its messages."""
    settings.SANDBOX_DLR_DELAY = 0
    account = AccountFactory(default_region="AU")
    accounts.credit_top_up(account=account, amount="50")
    send(account, *(SmsRequest(to=f"+614123456{i:02d}", body="Hi", campaign_id=i % 3) for i in range(30)))
    run_engine()
    wanted = counted([account.pk])
    barrier = threading.Barrier(6)
    errors = []

    def work(job):
        try:
            barrier.wait()
            for _ in range(3):
                job()
                Message.objects.filter(account=account, status=statuses.DELIVERED, campaign_id=1).update(
                    status=statuses.UNDELIVERED)
        except Exception as exc:  # reported below, with the thread's story
            errors.append(exc)
        finally:
            connections.close_all()

    jobs = [lambda: stats_squash(limit=2)] * 4 + [lambda: stats_rebuild(account_id=account.pk), stats_rebuild]
    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert stats([account.pk]) == counted([account.pk]) != wanted
    assert narrow([account.pk]) == wide([account.pk])  # the narrow rollup moved with every fold and rebuild
    stats_squash()
    assert stats([account.pk]) == counted([account.pk])
    assert narrow([account.pk]) == wide([account.pk])


def test_days_and_months_are_grouped_in_the_time_zone_asked(busy):
    from zoneinfo import ZoneInfo

    sydney = ZoneInfo("Australia/Sydney")
    by_day = message_stats(account_ids=[busy.pk], group_by=("day", "status"), tz=sydney)
    expected = defaultdict(int)
    for m in Message.objects.filter(account=busy):
        bucket = m.created_at.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)
        expected[(bucket.astimezone(sydney).date(), m.status)] += 1
    assert {(row["day"], row["status"]): row["messages"] for row in by_day} == dict(expected)
    by_month = message_stats(account_ids=[busy.pk], group_by=("month",), tz=sydney)
    assert sum(row["messages"] for row in by_month) == Message.objects.filter(account=busy).count()
    assert all(row["month"].day == 1 for row in by_month)
    with pytest.raises(ValueError, match="needs tz"):
        message_stats(account_ids=[busy.pk], group_by=("day",))
