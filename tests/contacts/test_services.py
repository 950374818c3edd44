import pytest

from contacts import services
from contacts.models import Contact, ContactList, CustomField, ListMembership, OptOut
from smsportal.errors import DomainError
from tests.factories import AccountFactory


@pytest.fixture
def account(db):
    return AccountFactory(default_region="AU")


def test_create_normalizes_and_refuses_a_second_contact_for_the_number(account):
    contact = services.contact_create(account=account, phone_number="0412 345 678", data={"first_name": " Ann "})
    assert (contact.phone_number, contact.country, contact.line_type, contact.first_name) == (
        "+61412345678", "AU", "mobile", "Ann"
    )
    with pytest.raises(DomainError) as err:
        services.contact_create(account=account, phone_number="+61412345678")
    assert err.value.field == "phone_number" and "already" in err.value.message
    other = AccountFactory()
    assert services.contact_create(account=other, phone_number="+61412345678").account == other


def test_invalid_number_is_refused_with_the_reason(account):
    with pytest.raises(DomainError, match="too short"):
        services.contact_create(account=account, phone_number="0412")
    assert not Contact.objects.exists()


def test_custom_fields_are_typed(account):
    services.custom_field_create(account=account, label="Birthday", type="date")
    services.custom_field_create(account=account, label="Points", type="number")
    contact = services.contact_create(
        account=account, phone_number="0412345678", data={"fields": {"birthday": "31/12/1990", "points": "1,200.50"}}
    )
    assert contact.fields == {"birthday": "1990-12-31", "points": "1200.5"}
    for bad, field in [({"points": "lots"}, "fields.points"), ({"nope": "x"}, "fields.nope")]:
        with pytest.raises(DomainError) as err:
            services.contact_update(contact=contact, data={"fields": bad})
        assert err.value.field == field


def test_list_counts_follow_adds_removes_and_deletes(account):
    lst = services.list_create(account=account, name="VIP")
    other = services.list_create(account=account, name="Other")
    made = [services.contact_create(account=account, phone_number=f"04123456{i:02d}") for i in range(5)]
    everyone = Contact.objects.filter(account=account)
    assert services.list_add_contacts(contact_list=lst, contacts=everyone) == 5
    assert services.list_add_contacts(contact_list=lst, contacts=everyone) == 0  # already members
    services.list_add_contacts(contact_list=other, contacts=everyone.filter(pk=made[0].pk))
    assert services.list_remove_contacts(contact_list=lst, contacts=everyone.filter(pk=made[1].pk)) == 1
    assert services.contacts_delete(contacts=everyone.filter(pk__in=[made[0].pk, made[2].pk])) == 2
    lst.refresh_from_db()
    other.refresh_from_db()
    assert (lst.contact_count, other.contact_count) == (2, 0)
    assert lst.contact_count == ListMembership.objects.filter(contact_list=lst).count()


def test_bulk_add_ignores_other_workspaces_contacts(account):
    lst = services.list_create(account=account, name="Mine")
    stranger = services.contact_create(account=AccountFactory(), phone_number="+61412345678")
    assert services.list_add_contacts(contact_list=lst, contacts=Contact.objects.filter(pk=stranger.pk)) == 0
    assert not ListMembership.objects.exists()


def test_opt_out_outlives_the_contact(account):
    contact = services.contact_create(account=account, phone_number="0412345678")
    assert services.contacts_opt_out(account=account, contacts=Contact.objects.filter(pk=contact.pk), source="ui") == 1
    contact.refresh_from_db()
    assert contact.is_opted_out and contact.opt_out_source == "ui"
    services.contacts_delete(contacts=Contact.objects.filter(pk=contact.pk))
    again = services.contact_create(account=account, phone_number="+61 412 345 678")
    assert again.is_opted_out and again.opt_out_source == "ui"  # re-adding cannot resurrect a STOP
    assert services.contacts_opt_in(account=account, phone_numbers=["+61412345678"]) == 1
    again.refresh_from_db()
    assert not again.is_opted_out and not OptOut.objects.exists()


def test_list_name_is_required(account):
    with pytest.raises(DomainError) as err:
        services.list_create(account=account, name="  ")
    assert err.value.field == "list_name" and not ContactList.objects.exists()


def test_custom_field_keys_cannot_shadow_standard_fields(account):
    with pytest.raises(DomainError):
        services.custom_field_create(account=account, label="First name", key="first_name")
    assert not CustomField.objects.exists()


def test_deleting_contacts_lists_or_subsets_leaves_no_orphan_memberships(account):
    """ListMembership has no database FK constraints (import speed); the ORM's cascade must do their work."""
    lists = [services.list_create(account=account, name=f"L{i}") for i in range(3)]
    for i in range(6):
        services.contact_create(account=account, phone_number=f"04123456{i:02d}")
    everyone = Contact.objects.filter(account=account)
    for lst in lists:
        services.list_add_contacts(contact_list=lst, contacts=everyone)
    services.contacts_delete(contacts=everyone.filter(phone_number__endswith="0"))
    services.list_delete(contact_list=lists[0])
    services.contacts_delete(contacts=Contact.objects.filter(pk=everyone.order_by("pk").first().pk))
    live_contacts = set(Contact.objects.values_list("pk", flat=True))
    live_lists = set(ContactList.objects.values_list("pk", flat=True))
    for contact_id, list_id in ListMembership.objects.values_list("contact_id", "contact_list_id"):
        assert contact_id in live_contacts and list_id in live_lists
    assert ListMembership.objects.count() == 2 * 4
    for lst in ContactList.objects.all():
        assert lst.contact_count == ListMembership.objects.filter(contact_list=lst).count() == 4
