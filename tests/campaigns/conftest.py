from decimal import Decimal

import pytest

from contacts.models import Contact, ContactList, CustomField, ListMembership, OptOut
from contacts.services import list_recount
from smsportal.accounts import services as accounts

from ..messaging.conftest import funded  # noqa: F401  (the sandbox account fixture)


def make_contacts(account, numbers, *, country="AU", **fields):
    """Contacts for E.164 `numbers` (set-based), in id order."""
    Contact.objects.bulk_create(
        Contact(account=account, phone_number=n, country=country, line_type="mobile", **fields) for n in numbers
    )
    return list(Contact.objects.filter(account=account, phone_number__in=list(numbers)).order_by("pk"))


def make_list(account, name, contacts):
    contact_list = ContactList.objects.create(account=account, name=name)
    ListMembership.objects.bulk_create(ListMembership(contact_list=contact_list, contact=c) for c in contacts)
    list_recount(list_ids=[contact_list.pk])
    contact_list.refresh_from_db()
    return contact_list


def au(i: int) -> str:
    """An Australian mobile number that is none of the sandbox's magic numbers (…0000 to …0003)."""
    return f"+6141{i:05d}55"


@pytest.fixture
def rich(funded):  # noqa: F811
    """$1,000 and an audience with every kind of recipient: Australians with and without first names and a custom
    field, a Briton, an American, a Japanese number (no rate), an opted-out one, an invalid one, a landline, a
    contact in two lists (a duplicate) and one in an excluded list."""
    accounts.credit_top_up(account=funded, amount="950")
    funded.refresh_from_db()
    CustomField.objects.create(account=funded, key="suburb", label="Suburb")
    names = ["Olivia", "Noah", "", "Zoë", "Jack", "Mia", "", "Léa"]
    people = make_contacts(funded, [au(i) for i in range(40)])
    for i, person in enumerate(people):
        person.first_name = names[i % len(names)]
        person.fields = {"suburb": "Surry Hills"} if i % 3 else {}
        person.save(update_fields=["first_name", "fields"])
    gb = make_contacts(funded, ["+447700900123"], country="GB", first_name="Amelia")
    us = make_contacts(funded, ["+14155550123"], country="US", first_name="Liam")
    jp = make_contacts(funded, ["+819012345678"], country="JP", first_name="Yui")
    opted = make_contacts(funded, [au(90)], first_name="Stop")
    OptOut.objects.create(account=funded, phone_number=au(90), source="keyword")
    Contact.objects.filter(pk=opted[0].pk).update(opted_out_at="2026-01-01T00:00:00Z", opt_out_source="keyword")
    invalid = make_contacts(funded, ["+6112"], first_name="Broken")
    landline = make_contacts(funded, ["+61298765432"], first_name="Desk")
    Contact.objects.filter(pk=landline[0].pk).update(line_type="fixed_line")
    main = make_list(funded, "Customers", people[:30] + gb + us + jp + opted + invalid + landline)
    second = make_list(funded, "VIP", people[25:40])  # 25–29 are in both: five duplicates
    excluded = make_list(funded, "Do not disturb", people[35:37])
    return {
        "account": funded, "main": main, "second": second, "excluded": excluded, "people": people,
        "audience": {"lists": [main.pk, second.pk], "exclude_lists": [excluded.pk]},
    }


def balance(account) -> Decimal:
    account.refresh_from_db(fields=["balance"])
    return account.balance
