import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from smsportal.accounts import services
from smsportal.accounts.models import Account, LedgerEntry
from smsportal.errors import DomainError, Forbidden, InsufficientCredit
from tests.factories import AccountFactory, SubaccountFactory


def balance(account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


def test_top_up_writes_a_ledger_row(main_account):
    entry = services.credit_top_up(account=main_account, amount="25.50", memo="card")
    assert entry.kind == "top_up" and entry.amount == Decimal("25.50") and entry.balance_after == Decimal("25.50")
    assert balance(main_account) == Decimal("25.50")


@pytest.mark.parametrize("amount", ["0", "-3", "abc", "1.00001", "NaN", "1e20"])
def test_bad_amounts_are_refused_and_write_nothing(main_account, amount):
    with pytest.raises(DomainError) as err:
        services.credit_top_up(account=main_account, amount=amount)
    assert err.value.field == "amount"
    assert not LedgerEntry.objects.exists() and balance(main_account) == 0


def test_transfer_both_ways_between_parent_and_child(main_account, sub_account):
    services.credit_top_up(account=main_account, amount="10")
    services.credit_transfer(source=main_account, destination=sub_account, amount="7")
    services.credit_transfer(source=sub_account, destination=main_account, amount="2")
    assert (balance(main_account), balance(sub_account)) == (Decimal("5"), Decimal("5"))
    kinds = list(LedgerEntry.objects.order_by("id").values_list("account_id", "kind", "amount"))
    assert kinds == [
        (main_account.pk, "top_up", Decimal("10")),
        (main_account.pk, "transfer_out", Decimal("-7")),
        (sub_account.pk, "transfer_in", Decimal("7")),
        (sub_account.pk, "transfer_out", Decimal("-2")),
        (main_account.pk, "transfer_in", Decimal("2")),
    ]


def test_transfer_more_than_balance_changes_nothing(main_account, sub_account):
    services.credit_top_up(account=main_account, amount="3")
    with pytest.raises(InsufficientCredit):
        services.credit_transfer(source=main_account, destination=sub_account, amount="3.0001")
    assert (balance(main_account), balance(sub_account)) == (Decimal("3"), Decimal("0"))
    assert LedgerEntry.objects.count() == 1


def test_transfer_only_within_the_family(main_account, sub_account):
    stranger = SubaccountFactory(parent=AccountFactory())
    sibling = SubaccountFactory(parent=main_account)
    services.credit_top_up(account=main_account, amount="5")
    for source, destination in [(main_account, stranger), (sub_account, sibling)]:
        with pytest.raises(Forbidden):
            services.credit_transfer(source=source, destination=destination, amount="1")
    with pytest.raises(Forbidden):
        services.credit_top_up(account=sub_account, amount="1")


def test_reserve_settle_refund(main_account):
    services.credit_top_up(account=main_account, amount="10")
    first = services.credit_reserve(account_id=main_account.pk, amount="4", reference="campaign:1")
    second = services.credit_reserve(account_id=main_account.pk, amount="3", reference="campaign:2")
    assert balance(main_account) == Decimal("3")

    settled = services.credit_settle(reservation_id=first.pk, actual_amount="2.5")
    assert settled.amount == Decimal("1.5") and balance(main_account) == Decimal("4.5")
    assert services.credit_settle(reservation_id=first.pk, actual_amount="2.5").pk == settled.pk  # idempotent

    refunded = services.credit_refund(reservation_id=second.pk)
    assert refunded.amount == Decimal("3") and balance(main_account) == Decimal("7.5")
    assert services.credit_refund(reservation_id=second.pk).pk == refunded.pk
    with pytest.raises(DomainError):
        services.credit_settle(reservation_id=second.pk)  # already refunded: cannot also settle

    with pytest.raises(InsufficientCredit):
        services.credit_reserve(account_id=main_account.pk, amount="7.5001")
    assert balance(main_account) == Decimal("7.5")


def test_ledger_sums_to_balance(main_account, sub_account):
    services.credit_top_up(account=main_account, amount="100")
    services.credit_transfer(source=main_account, destination=sub_account, amount="30")
    r = services.credit_reserve(account_id=sub_account.pk, amount="12")
    services.credit_settle(reservation_id=r.pk, actual_amount="10")
    for account in (main_account, sub_account):
        total = sum(LedgerEntry.objects.filter(account=account).values_list("amount", flat=True))
        last = LedgerEntry.objects.filter(account=account).order_by("-id").first()
        assert total == balance(account) == last.balance_after


def test_database_refuses_a_negative_balance(main_account):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=main_account.pk).update(balance=Decimal("-1"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_reservations_against_a_balance_for_twenty():
    account = AccountFactory()
    services.credit_top_up(account=account, amount="20")
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def reserve():
        try:
            barrier.wait()
            services.credit_reserve(account_id=account.pk, amount="1", reference="race")
            result = "ok"
        except InsufficientCredit:
            result = "refused"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=reserve) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert connection.vendor == "postgresql"
    assert outcomes.count("ok") == 20 and outcomes.count("refused") == 30
    assert balance(account) == Decimal("0")
    assert LedgerEntry.objects.filter(account=account, kind="reserve").count() == 20
