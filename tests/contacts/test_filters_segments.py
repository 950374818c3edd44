import datetime

import pytest
from django.utils import timezone

from contacts import segments, services
from contacts.filters import ContactFilter, contacts_filtered, count_capped, page_after
from contacts.models import Contact
from smsportal.accounts.permissions import Access
from smsportal.errors import DomainError
from tests.factories import AccountFactory


@pytest.fixture
def book(db):
    """A small AU workspace: three lists, a date field, an opted-out contact, and a stranger's contact."""
    account = AccountFactory(default_region="AU")
    services.custom_field_create(account=account, label="Birthday", type="date")
    vip, news, staff = (services.list_create(account=account, name=n) for n in ("VIP", "News", "Staff"))
    people = {}
    for key, number, first, last, extra in [
        ("ann", "0412 000 001", "Ann", "Smith", {"fields": {"birthday": "1990-05-01"}, "custom_1": "gold"}),
        ("bob", "0412 000 002", "Bob", "Smithers", {"fields": {"birthday": "2001-01-15"}}),
        ("cat", "+44 7400 123456", "Cat", "Jones", {"organization_name": "Acme"}),
        ("dan", "(02) 9876 5432", "Dan", "Brown", {}),
    ]:
        people[key] = services.contact_create(
            account=account, phone_number=number, data={"first_name": first, "last_name": last, **extra}
        )
    by_key = lambda *keys: Contact.objects.filter(pk__in=[people[k].pk for k in keys])  # noqa: E731
    services.list_add_contacts(contact_list=vip, contacts=by_key("ann", "bob"))
    services.list_add_contacts(contact_list=news, contacts=by_key("bob", "cat"))
    services.contacts_opt_out(account=account, contacts=by_key("bob"), source="keyword")
    services.contact_create(account=AccountFactory(default_region="AU"), phone_number="0412 000 001")
    return {"account": account, "access": Access(account=account, role="admin"), "people": people,
            "lists": {"vip": vip, "news": news, "staff": staff}}


def names(qs):
    return sorted(c.first_name for c in qs)


@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, ["Ann", "Bob", "Cat", "Dan"]),
        ({"q": "smi"}, ["Ann", "Bob"]),
        ({"q": "ann smi"}, ["Ann"]),
        ({"q": "acme"}, ["Cat"]),
        ({"q": "0412 000 00"}, ["Ann", "Bob"]),  # national digits as typed in AU
        ({"q": "+44 7400"}, ["Cat"]),
        ({"q": "61298"}, ["Dan"]),
        ({"country": "gb"}, ["Cat"]),
        ({"opted_out": "yes"}, ["Bob"]),
        ({"opted_out": "no"}, ["Ann", "Cat", "Dan"]),
        ({"line_type": "fixed_line"}, ["Dan"]),
        ({"field": "custom_1", "value": "gold"}, ["Ann"]),
        ({"field": "fields.birthday", "value": "2001-01-15"}, ["Bob"]),
        ({"field": "password", "value": "x"}, []),
    ],
)
def test_filters(book, params, expected):
    flt = ContactFilter.from_params(params)
    assert names(contacts_filtered(access=book["access"], flt=flt)) == expected


def test_list_filter_and_foreign_list_ids_match_nothing(book):
    vip = book["lists"]["vip"]
    assert names(contacts_filtered(access=book["access"], flt=ContactFilter(list_id=vip.pk))) == ["Ann", "Bob"]
    stranger_list = services.list_create(account=AccountFactory(), name="Theirs")
    assert names(contacts_filtered(access=book["access"], flt=ContactFilter(list_id=stranger_list.pk))) == []


def test_sorts_and_keyset_pages(book):
    by_name = contacts_filtered(access=book["access"], flt=ContactFilter(sort="name"))
    assert [c.last_name for c in by_name] == ["Brown", "Jones", "Smith", "Smithers"]
    newest = contacts_filtered(access=book["access"], flt=ContactFilter())
    first, after = page_after(newest, after_id=None, size=3)
    second, end = page_after(newest, after_id=after, size=3)
    assert [c.first_name for c in first] == ["Dan", "Cat", "Bob"] and [c.first_name for c in second] == ["Ann"]
    assert end is None
    assert count_capped(newest, cap=3) == (3, False) and count_capped(newest, cap=10) == (4, True)


@pytest.mark.parametrize(
    "conditions,match,expected",
    [
        ([{"type": "list", "op": "any", "lists": ["vip", "news"]}], "all", ["Ann", "Bob", "Cat"]),
        ([{"type": "list", "op": "all", "lists": ["vip", "news"]}], "all", ["Bob"]),
        ([{"type": "list", "op": "none", "lists": ["vip"]}], "all", ["Cat", "Dan"]),
        ([{"type": "country", "op": "not_in", "values": ["au"]}], "all", ["Cat"]),
        ([{"type": "field", "field": "first_name", "op": "equals", "value": "ann"}], "all", ["Ann"]),
        ([{"type": "field", "field": "last_name", "op": "contains", "value": "MITH"}], "all", ["Ann", "Bob"]),
        ([{"type": "field", "field": "organization_name", "op": "empty"}], "all", ["Ann", "Bob", "Dan"]),
        ([{"type": "field", "field": "fields.birthday", "op": "before", "value": "2000-01-01"}], "all", ["Ann"]),
        ([{"type": "field", "field": "fields.birthday", "op": "after", "value": "2000-01-01"}], "all", ["Bob"]),
        ([{"type": "field", "field": "fields.birthday", "op": "empty"}], "all", ["Cat", "Dan"]),
        ([{"type": "opted_out", "value": False}], "all", ["Ann", "Cat", "Dan"]),
        ([{"type": "line_type", "op": "in", "values": ["mobile"]}], "all", ["Ann", "Bob", "Cat"]),
        (
            [{"type": "country", "op": "in", "values": ["GB"]}, {"type": "line_type", "op": "in", "values": ["fixed_line"]}],
            "any",
            ["Cat", "Dan"],
        ),
        ([], "all", ["Ann", "Bob", "Cat", "Dan"]),
    ],
)
def test_segment_rules(book, conditions, match, expected):
    for cond in conditions:
        if cond["type"] == "list":
            cond["lists"] = [book["lists"][name].pk for name in cond["lists"]]
    rules = segments.rules_clean(book["account"], {"match": match, "conditions": conditions})
    assert names(segments.segment_contacts(book["account"], rules)) == expected


def test_segment_created_date_and_live_count(book):
    Contact.objects.filter(pk=book["people"]["ann"].pk).update(created_at=timezone.now() - datetime.timedelta(days=40))
    cutoff = (timezone.now() - datetime.timedelta(days=10)).date().isoformat()
    rules = {"conditions": [{"type": "created", "op": "before", "value": cutoff}]}
    assert segments.segment_count(book["account"], rules) == {"total": 1, "sendable": 1}
    everyone = {"conditions": [{"type": "country", "op": "in", "values": ["AU", "GB"]}]}
    assert segments.segment_count(book["account"], everyone) == {"total": 4, "sendable": 3}


@pytest.mark.parametrize(
    "rules,path",
    [
        ({"match": "some", "conditions": []}, "rules.match"),
        ({"conditions": "x"}, "rules.conditions"),
        ({"conditions": [{"type": "colour"}]}, "rules.conditions.0.type"),
        ({"conditions": [{"type": "list", "op": "any", "lists": []}]}, "rules.conditions.0.lists"),
        ({"conditions": [{"type": "country", "values": ["AUS"]}]}, "rules.conditions.0.values"),
        ({"conditions": [{"type": "field", "field": "password", "op": "equals", "value": "x"}]}, "rules.conditions.0.field"),
        ({"conditions": [{"type": "field", "field": "first_name", "op": "before", "value": "x"}]}, "rules.conditions.0.op"),
        ({"conditions": [{"type": "field", "field": "fields.birthday", "op": "after", "value": "31/12"}]},
         "rules.conditions.0.value"),
        ({"conditions": [{"type": "opted_out", "value": "yes"}]}, "rules.conditions.0.value"),
        ({"conditions": [{"type": "created", "op": "before", "value": "soon"}]}, "rules.conditions.0.value"),
    ],
)
def test_bad_rules_name_their_path(book, rules, path):
    with pytest.raises(DomainError) as err:
        segments.segment_create(account=book["account"], name="Bad", rules=rules)
    assert err.value.field == path


def test_segments_cannot_reference_another_workspaces_list(book):
    theirs = services.list_create(account=AccountFactory(), name="Theirs")
    with pytest.raises(DomainError) as err:
        segments.segment_create(
            account=book["account"], name="Sneaky", rules={"conditions": [{"type": "list", "lists": [theirs.pk]}]}
        )
    assert err.value.field == "rules.conditions.0.lists"


def test_segment_filter_in_the_contacts_table(book):
    segment = segments.segment_create(
        account=book["account"], name="Smiths", rules={"conditions": [
            {"type": "field", "field": "last_name", "op": "contains", "value": "smith"},
            {"type": "opted_out", "value": False},
        ]},
    )
    flt = ContactFilter(segment_id=segment.pk)
    assert names(contacts_filtered(access=book["access"], flt=flt)) == ["Ann"]
