"""The contacts API through the client: ClickSend's paths and JSON types, isolation, 400s naming the field,
list paging without COUNT, segments, custom fields, and an import read back through its job."""

import http.server
import json
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts import services
from contacts.importing import import_run
from contacts.models import Contact, ContactList, CustomField, ImportJob, ListMembership, Segment
from contacts.segments import segment_create
from tests.factories import AccountFactory, SubaccountFactory


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def account(db):
    return AccountFactory(default_region="AU", api_rate_limit=1000)  # these tests make many calls a second


@pytest.fixture
def api(api_for, account):
    return api_for(account)


@pytest.fixture
def other(db):
    return AccountFactory(default_region="AU")


def ok(response):
    body = response.json()
    assert response.status_code == 200, body
    assert body["http_code"] == 200 and body["response_code"] == "SUCCESS"
    return body["data"]


def refused(response, status, field=None):
    body = response.json()
    assert response.status_code == status, body
    assert body["http_code"] == status and body["data"] is None
    if field is not None:
        assert field in body["error"]["fields"], body["error"]
    return body


def make_list(account, name="Customers", numbers=()):
    contact_list = services.list_create(account=account, name=name)
    for number in numbers:
        services.contact_create(account=account, phone_number=number, contact_list=contact_list)
    contact_list.refresh_from_db()
    return contact_list


CONTACT_STR_FIELDS = (
    "phone_number", "first_name", "last_name", "custom_1", "custom_2", "custom_3", "custom_4", "fax_number",
    "organization_name", "email", "address_line_1", "address_line_2", "address_city", "address_state",
    "address_postal_code", "address_country", "_list_name", "country", "line_type",
)


def assert_contact_types(data):
    assert isinstance(data["contact_id"], int) and isinstance(data["list_id"], int)
    assert isinstance(data["date_added"], int) and isinstance(data["date_updated"], int)
    for name in CONTACT_STR_FIELDS:
        assert isinstance(data[name], str), name
    assert data["opted_out"] in (0, 1)
    assert data["opted_out_at"] is None or isinstance(data["opted_out_at"], int)
    assert isinstance(data["fields"], dict)


def assert_list_types(data):
    assert isinstance(data["list_id"], int) and isinstance(data["list_name"], str)
    assert data["list_email_id"] is None
    for flag in ("_contacts_count", "_import_in_progress", "_optout_in_progress"):
        assert type(data[flag]) is int, flag


# --- Lists --------------------------------------------------------------------------------------------------


def test_lists_round_trip_with_clicksend_types(api, account):
    created = ok(api.post("/v3/lists", {"list_name": "VIP"}, format="json"))
    assert_list_types(created)
    assert created["list_name"] == "VIP" and created["_contacts_count"] == 0
    list_id = created["list_id"]

    listed = ok(api.get("/v3/lists"))
    assert listed["total"] == 1 and [item["list_id"] for item in listed["data"]] == [list_id]
    assert_list_types(listed["data"][0])

    assert ok(api.get(f"/v3/lists/{list_id}/"))["list_name"] == "VIP"  # trailing slash optional
    renamed = api.put(f"/v3/lists/{list_id}", {"list_name": "Very VIP"}, format="json")
    assert ok(renamed)["list_name"] == "Very VIP"
    assert renamed.json()["response_msg"] == f"List #{list_id} has been updated."

    services.contact_create(account=account, phone_number="0412345678", contact_list=ContactList.objects.get())
    deleted = api.delete(f"/v3/lists/{list_id}")
    assert ok(deleted) == []  # ClickSend's DeleteList: a list of strings
    refused(api.get(f"/v3/lists/{list_id}"), 404, "list_id")
    assert Contact.objects.filter(account=account).count() == 1  # contacts stay in the workspace


@pytest.mark.parametrize(
    "payload, field",
    [({}, "list_name"), ({"list_name": ""}, "list_name"), ({"list_name": 7}, "list_name"),
     ({"list_name": "x" * 101}, "list_name"), ({"list_name": "A", "colour": "red"}, "colour")],
)
def test_bad_list_input_is_400_naming_the_field(api, payload, field):
    refused(api.post("/v3/lists", payload, format="json"), 400, field)
    assert not ContactList.objects.exists()


def test_import_in_progress_flag(api, account):
    contact_list = make_list(account)
    ImportJob.objects.create(account=account, contact_list=contact_list, status="running", file_name="a.csv",
                             default_country="AU")
    assert ok(api.get(f"/v3/lists/{contact_list.pk}"))["_import_in_progress"] == 1
    assert ok(api.get("/v3/lists"))["data"][0]["_import_in_progress"] == 1
    ImportJob.objects.update(status="done")
    assert ok(api.get(f"/v3/lists/{contact_list.pk}"))["_import_in_progress"] == 0


# Pinned query counts: authentication (1), then a COUNT and a page, or the list and a page; one to spare.


def test_list_endpoints_pin_their_queries(api, account, django_assert_max_num_queries):
    for n in range(30):
        make_list(account, name=f"List {n:02}", numbers=[f"+6141234{n:04}"])
        segment_create(account=account, name=f"Segment {n:02}", rules={"conditions": []})
        services.custom_field_create(account=account, label=f"Field {n:02}")
    job = ImportJob.objects.create(account=account, file_name="a.csv", default_country="AU")
    job.row_errors.bulk_create([job.row_errors.model(job=job, row_number=n, raw_value="x", reason="bad")
                                for n in range(2, 32)])
    for url in ("/v3/lists?limit=20", "/v3/segments?limit=20", "/v3/custom-fields?limit=20",
                f"/v3/contacts/import-jobs/{job.pk}/errors?limit=20"):
        with django_assert_max_num_queries(4):
            data = ok(api.get(url))
        assert data["total"] == 30 and len(data["data"]) == 20, url
    with django_assert_max_num_queries(4):
        data = ok(api.get("/v3/search/contacts-lists?q=list"))
    assert len(data["lists"]) == 25


# --- Contacts in a list -----------------------------------------------------------------------------------


def test_create_contact_in_list_with_all_types(api, account):
    contact_list = make_list(account)
    response = api.post(f"/v3/lists/{contact_list.pk}/contacts", {
        "phone_number": "0412 345 678", "first_name": "Ann", "last_name": "Lee", "custom_1": "gold",
        "email": "ann@example.test", "address_country": "au", "date_added": "1700000000",  # ClickSend's, ignored
    }, format="json")
    data = ok(response)
    assert response.json()["response_msg"] == "New contact has been created."
    assert_contact_types(data)
    assert data["list_id"] == contact_list.pk and data["_list_name"] == "Customers"
    assert (data["phone_number"], data["country"], data["line_type"]) == ("+61412345678", "AU", "mobile")
    assert (data["first_name"], data["custom_1"], data["address_country"]) == ("Ann", "gold", "AU")
    assert data["opted_out"] == 0 and data["opted_out_at"] is None and data["fields"] == {}
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 1


def test_country_in_body_reads_a_national_number(api, account):
    contact_list = make_list(account)
    data = ok(api.post(f"/v3/lists/{contact_list.pk}/contacts",
                       {"phone_number": "07400 123456", "country": "gb"}, format="json"))
    assert data["phone_number"] == "+447400123456" and data["country"] == "GB"


def test_existing_number_joins_the_list_and_is_updated(api, account):
    first = make_list(account, "First")
    existing = services.contact_create(account=account, phone_number="+61412345678", data={"first_name": "Old",
                                       "last_name": "Keep"}, contact_list=first)
    second = make_list(account, "Second")
    response = api.post(f"/v3/lists/{second.pk}/contacts", {"phone_number": "0412345678", "first_name": "New"},
                        format="json")
    data = ok(response)
    assert data["contact_id"] == existing.pk and data["list_id"] == second.pk
    assert (data["first_name"], data["last_name"]) == ("New", "Keep")
    assert "already had this number" in response.json()["response_msg"]
    assert Contact.objects.filter(account=account).count() == 1
    assert set(ListMembership.objects.filter(contact=existing).values_list("contact_list_id", flat=True)) == {
        first.pk, second.pk}
    second.refresh_from_db()
    assert second.contact_count == 1
    # Posting it again changes nothing in the counts.
    ok(api.post(f"/v3/lists/{second.pk}/contacts", {"phone_number": "+61412345678"}, format="json"))
    second.refresh_from_db()
    assert second.contact_count == 1


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"phone_number": "0412"}, "phone_number"),
        ({"phone_number": "hello there"}, "phone_number"),
        ({}, "phone_number"),
        ({"phone_number": 61412345678}, "phone_number"),
        ({"phone_number": "0412345678", "nickname": "Al"}, "nickname"),
        ({"phone_number": "0412345678", "first_name": 5}, "first_name"),
        ({"phone_number": "0412345678", "first_name": "x" * 101}, "first_name"),
        ({"phone_number": "0412345678", "country": "ZZ"}, "country"),
        ({"phone_number": "0412345678", "fields": {"nope": "1"}}, "fields.nope"),
        ({"phone_number": "0412345678", "fields": {"points": "many"}}, "fields.points"),
        ({"phone_number": "0412345678", "fields": "points"}, "fields"),
    ],
)
def test_bad_contact_input_is_400_naming_the_field_and_writes_nothing(api, account, payload, field):
    services.custom_field_create(account=account, label="Points", type="number")
    contact_list = make_list(account)
    refused(api.post(f"/v3/lists/{contact_list.pk}/contacts", payload, format="json"), 400, field)
    contact_list.refresh_from_db()
    assert not Contact.objects.exists() and contact_list.contact_count == 0


def test_bad_update_of_an_existing_number_writes_nothing(api, account):
    contact_list = make_list(account)
    contact = services.contact_create(account=account, phone_number="0412345678", data={"first_name": "Ann"})
    response = api.post(f"/v3/lists/{contact_list.pk}/contacts",
                        {"phone_number": "0412345678", "first_name": "Bea", "fields": {"nope": "x"}}, format="json")
    refused(response, 400, "fields.nope")
    contact.refresh_from_db()
    contact_list.refresh_from_db()
    assert contact.first_name == "Ann" and contact_list.contact_count == 0


def test_view_update_and_delete_a_contact(api, account):
    services.custom_field_create(account=account, label="Points", type="number")
    contact_list = make_list(account, numbers=["0412345678"])
    contact = Contact.objects.get()
    url = f"/v3/lists/{contact_list.pk}/contacts/{contact.pk}"

    data = ok(api.get(url))
    assert_contact_types(data)
    assert data["contact_id"] == contact.pk

    updated = api.put(url, {"first_name": "Zed", "phone_number": "0412 999 888", "fields": {"points": "1,200"}},
                      format="json")
    data = ok(updated)
    assert updated.json()["response_msg"] == f"Contact #{contact.pk} has been updated successfully."
    assert (data["first_name"], data["phone_number"], data["fields"]) == ("Zed", "+61412999888", {"points": "1200"})
    refused(api.put(url, {"phone_number": "12"}, format="json"), 400, "phone_number")
    refused(api.put(url, {"date_updated": 5}, format="json"), 400, "date_updated")

    deleted = api.delete(url)
    assert ok(deleted) == [] and deleted.json()["response_msg"] == f"Contact #{contact.pk} has been deleted."
    assert not Contact.objects.exists()
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 0
    refused(api.get(url), 404, "contact_id")


def test_a_contact_outside_the_list_is_not_found_through_it(api, account):
    contact_list = make_list(account)
    elsewhere = services.contact_create(account=account, phone_number="0412345678")
    refused(api.get(f"/v3/lists/{contact_list.pk}/contacts/{elsewhere.pk}"), 404, "contact_id")
    refused(api.delete(f"/v3/lists/{contact_list.pk}/contacts/{elsewhere.pk}"), 404, "contact_id")
    assert Contact.objects.filter(pk=elsewhere.pk).exists()


def test_opted_out_contact_shows_when(api, account):
    contact_list = make_list(account, numbers=["0412345678"])
    contact = Contact.objects.get()
    services.contacts_opt_out(account=account, contacts=Contact.objects.filter(pk=contact.pk), source="api")
    data = ok(api.get(f"/v3/lists/{contact_list.pk}/contacts/{contact.pk}"))
    assert data["opted_out"] == 1 and isinstance(data["opted_out_at"], int)


def test_copy_and_transfer_between_lists(api, account):
    source = make_list(account, "Source", numbers=["0412345678"])
    target = make_list(account, "Target")
    third = make_list(account, "Third")
    contact = Contact.objects.get()

    copied = api.put(f"/v3/lists/{source.pk}/contacts/{contact.pk}/copy/{target.pk}")
    data = ok(copied)
    assert copied.json()["response_msg"] == f"Contact #{contact.pk} has been copied to List #{target.pk}"
    assert (data["contact_id"], data["list_id"], data["_list_name"]) == (contact.pk, target.pk, "Target")
    assert set(contact.memberships.values_list("contact_list_id", flat=True)) == {source.pk, target.pk}

    moved = api.put(f"/v3/lists/{target.pk}/contacts/{contact.pk}/transfer/{third.pk}/")
    assert ok(moved)["list_id"] == third.pk
    assert set(contact.memberships.values_list("contact_list_id", flat=True)) == {source.pk, third.pk}
    counts = dict(ContactList.objects.values_list("name", "contact_count"))
    assert counts == {"Source": 1, "Target": 0, "Third": 1}

    # Transferring to the list it is already in leaves it there.
    ok(api.put(f"/v3/lists/{third.pk}/contacts/{contact.pk}/transfer/{third.pk}"))
    assert ContactList.objects.get(pk=third.pk).contact_count == 1


def test_remove_duplicates_answers_clicksend_shape(api, account):
    contact_list = make_list(account, numbers=["0412345678"])
    response = api.put(f"/v3/lists/{contact_list.pk}/remove-duplicates/", {"fields": {"first_name": "1"}},
                       format="json")
    assert ok(response) == {"deleted": 0}
    assert ContactList.objects.get().contact_count == 1


def test_remove_opted_out_contacts(api, account):
    contact_list = make_list(account, numbers=["0412345678", "0412345679", "0412345670"])
    opted = Contact.objects.get(phone_number="+61412345678")
    services.contacts_opt_out(account=account, contacts=Contact.objects.filter(pk=opted.pk), source="api")
    opt_out_list = make_list(account, "Opt-outs")
    services.list_add_contacts(contact_list=opt_out_list, contacts=Contact.objects.filter(phone_number="+61412345679"))

    data = ok(api.put(f"/v3/lists/{contact_list.pk}/remove-opted-out-contacts/{opt_out_list.pk}"))
    assert data == {"deleted": 2}
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 1
    assert Contact.objects.count() == 3  # removed from the list, not deleted
    assert ok(api.put(f"/v3/lists/{contact_list.pk}/remove-opted-out-contacts")) == {"deleted": 0}


# --- Paging a list without counting it ----------------------------------------------------------------------


def test_list_contacts_pages_newest_first_without_counting(api, account, django_assert_max_num_queries):
    contact_list = make_list(account, numbers=[f"+614123450{n:02}" for n in range(30)])
    assert contact_list.contact_count == 30
    newest = list(Contact.objects.order_by("-id").values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(4):
        data = ok(api.get(f"/v3/lists/{contact_list.pk}/contacts?page=2&limit=10"))
    assert (data["total"], data["per_page"], data["current_page"], data["last_page"]) == (30, 10, 2, 3)
    assert (data["from"], data["to"]) == (11, 20) and data["page"] == {"count": 3, "number": 2}
    assert "page=3" in data["next_page_url"] and "page=1" in data["prev_page_url"]
    assert [row["contact_id"] for row in data["data"]] == newest[10:20]
    for row in data["data"]:
        assert_contact_types(row)
    counting = [q["sql"] for q in queries.captured_queries
                if "COUNT(" in q["sql"].upper() and "contacts_listmembership" in q["sql"]]
    assert counting == []

    # The kept count is what `total` reports: it is never recomputed by a page view.
    ContactList.objects.filter(pk=contact_list.pk).update(contact_count=1_000_000)
    data = ok(api.get(f"/v3/lists/{contact_list.pk}/contacts?page=40000&limit=25"))
    assert data["total"] == 1_000_000 and data["last_page"] == 40000 and data["data"] == []


def test_list_contacts_query_count_does_not_grow_with_the_page(api, account, django_assert_max_num_queries):
    contact_list = make_list(account, numbers=[f"+614123451{n:02}" for n in range(60)])
    with django_assert_max_num_queries(4):
        assert len(ok(api.get(f"/v3/lists/{contact_list.pk}/contacts?limit=100"))["data"]) == 60


# --- Isolation between workspaces ---------------------------------------------------------------------------


def test_another_workspaces_ids_are_not_found(api, account, other):
    theirs = make_list(other, "Theirs", numbers=["0412345678"])
    their_contact = Contact.objects.get(account=other)
    their_segment = segment_create(account=other, name="S", rules={"match": "all", "conditions": []})
    their_job = ImportJob.objects.create(account=other, file_name="a.csv", default_country="AU")
    their_field = services.custom_field_create(account=other, label="Level")
    mine = make_list(account, "Mine", numbers=["0412345679"])
    my_contact = Contact.objects.get(account=account)

    refused(api.get(f"/v3/lists/{theirs.pk}"), 404, "list_id")
    refused(api.put(f"/v3/lists/{theirs.pk}", {"list_name": "Hacked"}, format="json"), 404, "list_id")
    refused(api.delete(f"/v3/lists/{theirs.pk}"), 404, "list_id")
    refused(api.get(f"/v3/lists/{theirs.pk}/contacts"), 404, "list_id")
    refused(api.post(f"/v3/lists/{theirs.pk}/contacts", {"phone_number": "0412000000"}, format="json"), 404)
    refused(api.get(f"/v3/lists/{theirs.pk}/contacts/{their_contact.pk}"), 404, "list_id")
    refused(api.get(f"/v3/lists/{mine.pk}/contacts/{their_contact.pk}"), 404, "contact_id")
    refused(api.put(f"/v3/lists/{mine.pk}/contacts/{their_contact.pk}", {"first_name": "X"}, format="json"), 404)
    refused(api.delete(f"/v3/lists/{mine.pk}/contacts/{their_contact.pk}"), 404)
    refused(api.put(f"/v3/lists/{mine.pk}/contacts/{my_contact.pk}/copy/{theirs.pk}"), 404, "list_id")
    refused(api.put(f"/v3/lists/{mine.pk}/contacts/{my_contact.pk}/transfer/{theirs.pk}"), 404, "list_id")
    refused(api.put(f"/v3/lists/{theirs.pk}/contacts/{their_contact.pk}/copy/{mine.pk}"), 404, "list_id")
    refused(api.put(f"/v3/lists/{theirs.pk}/remove-duplicates"), 404)
    refused(api.put(f"/v3/lists/{mine.pk}/remove-opted-out-contacts/{theirs.pk}"), 404, "list_id")
    refused(api.post(f"/v3/lists/{theirs.pk}/import", {"file_url": "https://x.test/a.csv"}, format="json"), 404)
    refused(api.get(f"/v3/segments/{their_segment.pk}"), 404, "segment_id")
    refused(api.put(f"/v3/segments/{their_segment.pk}", {"name": "Mine now"}, format="json"), 404)
    refused(api.delete(f"/v3/segments/{their_segment.pk}"), 404)
    refused(api.get(f"/v3/segments/{their_segment.pk}/count"), 404)
    refused(api.get(f"/v3/contacts/import-jobs/{their_job.pk}"), 404, "id")
    refused(api.get(f"/v3/contacts/import-jobs/{their_job.pk}/errors"), 404, "id")
    refused(api.delete(f"/v3/custom-fields/{their_field.pk}"), 404, "field_id")
    # A segment cannot reach into another workspace's list either.
    refused(api.post("/v3/segments/count", {"rules": {"conditions": [{"type": "list", "lists": [theirs.pk]}]}},
                     format="json"), 400, "rules.conditions.0.lists")

    # Nothing of theirs moved or changed.
    theirs.refresh_from_db()
    their_contact.refresh_from_db()
    assert theirs.name == "Theirs" and theirs.contact_count == 1 and their_contact.first_name == ""
    assert Segment.objects.filter(account=other).count() == 1
    assert set(my_contact.memberships.values_list("contact_list_id", flat=True)) == {mine.pk}
    assert ok(api.get("/v3/lists"))["total"] == 1
    search = ok(api.get("/v3/search/contacts-lists?q=0412345678"))
    assert search["contacts"] == [] and search["lists"] == []


def test_without_contacts_access_a_subaccount_is_forbidden(api_for, account):
    sub = SubaccountFactory(parent=account, access_contacts=False)
    client = api_for(sub)
    refused(client.get("/v3/lists"), 403)
    refused(client.post("/v3/lists", {"list_name": "X"}, format="json"), 403)
    refused(client.get("/v3/segments"), 403)


# --- Search ---------------------------------------------------------------------------------------------------


def test_search_contacts_and_lists(api, account):
    services.list_create(account=account, name="Annual gala")
    make_list(account, "Other")
    services.contact_create(account=account, phone_number="0412345678", data={"first_name": "Anna"})
    services.contact_create(account=account, phone_number="0498765432", data={"first_name": "Bob"})

    data = ok(api.get("/v3/search/contacts-lists", {"q": "ann"}))
    assert [c["first_name"] for c in data["contacts"]] == ["Anna"]
    assert [item["list_name"] for item in data["lists"]] == ["Annual gala"]
    assert data["contacts"][0]["list_id"] is None
    assert_list_types(data["lists"][0])

    data = ok(api.get("/v3/search/contacts-lists", {"q": "0498"}))
    assert [c["phone_number"] for c in data["contacts"]] == ["+61498765432"]
    refused(api.get("/v3/search/contacts-lists"), 400, "q")


# --- Segments and custom fields -------------------------------------------------------------------------------


def test_segments_crud_and_counts(api, account):
    vip = make_list(account, "VIP", numbers=["0412345678", "0412345679"])
    services.contacts_opt_out(account=account, contacts=Contact.objects.filter(phone_number="+61412345678"),
                              source="api")
    rules = {"match": "all", "conditions": [{"type": "list", "op": "any", "lists": [vip.pk]}]}

    created = ok(api.post("/v3/segments", {"name": "VIPs", "rules": rules}, format="json"))
    assert isinstance(created["id"], int) and created["name"] == "VIPs"
    assert isinstance(created["created_at"], int) and isinstance(created["updated_at"], int)
    assert created["rules"]["conditions"][0]["lists"] == [vip.pk]
    segment_id = created["id"]

    assert ok(api.get(f"/v3/segments/{segment_id}/count")) == {"total": 2, "sendable": 1}
    listed = ok(api.get("/v3/segments"))
    assert listed["total"] == 1 and listed["data"][0]["id"] == segment_id
    assert ok(api.get(f"/v3/segments/{segment_id}"))["name"] == "VIPs"

    renamed = ok(api.put(f"/v3/segments/{segment_id}", {"name": "Top"}, format="json"))
    assert renamed["name"] == "Top" and renamed["rules"] == created["rules"]
    live = {"rules": {"match": "all", "conditions": [{"type": "opted_out", "value": False}]}}
    assert ok(api.post("/v3/segments/count", live, format="json")) == {"total": 1, "sendable": 1}

    assert ok(api.delete(f"/v3/segments/{segment_id}")) is True
    refused(api.get(f"/v3/segments/{segment_id}"), 404)


@pytest.mark.parametrize(
    "rules, field",
    [
        ({"conditions": [{"type": "field", "field": "shoe_size", "op": "equals", "value": "9"}]},
         "rules.conditions.0.field"),
        ({"conditions": [{"type": "opted_out", "value": False}, {"type": "created", "op": "after", "value": "soon"}]},
         "rules.conditions.1.value"),
        ({"match": "some", "conditions": []}, "rules.match"),
        ("everyone", "rules.match"),
    ],
)
def test_bad_rules_are_400_naming_the_path_and_save_nothing(api, account, rules, field):
    refused(api.post("/v3/segments", {"name": "Bad", "rules": rules}, format="json"), 400, field)
    refused(api.post("/v3/segments/count", {"rules": rules}, format="json"), 400, field)
    assert not Segment.objects.exists()
    segment = segment_create(account=account, name="Good", rules={"conditions": []})
    refused(api.put(f"/v3/segments/{segment.pk}", {"name": "Renamed", "rules": rules}, format="json"), 400, field)
    segment.refresh_from_db()
    assert segment.name == "Good"


def test_segment_input_is_strict(api):
    refused(api.post("/v3/segments", {"name": "S"}, format="json"), 400, "rules")
    refused(api.post("/v3/segments", {"name": "", "rules": {"conditions": []}}, format="json"), 400, "name")
    refused(api.post("/v3/segments", {"name": "S", "rules": {"conditions": []}, "x": 1}, format="json"), 400, "x")


def test_custom_fields(api, account):
    created = ok(api.post("/v3/custom-fields", {"label": "Loyalty points", "type": "number"}, format="json"))
    assert created["key"] == "loyalty_points" and created["type"] == "number" and isinstance(created["id"], int)
    refused(api.post("/v3/custom-fields", {"label": "Loyalty points"}, format="json"), 400, "key")
    refused(api.post("/v3/custom-fields", {"label": "Birthday", "type": "colour"}, format="json"), 400, "type")
    refused(api.post("/v3/custom-fields", {"label": ""}, format="json"), 400, "label")
    listed = ok(api.get("/v3/custom-fields"))
    assert [f["key"] for f in listed["data"]] == ["loyalty_points"]

    contact_list = make_list(account)
    contact = ok(api.post(f"/v3/lists/{contact_list.pk}/contacts",
                          {"phone_number": "0412345678", "fields": {"loyalty_points": "12.50"}}, format="json"))
    assert contact["fields"] == {"loyalty_points": "12.5"}

    assert ok(api.delete(f"/v3/custom-fields/{created['id']}")) is True
    assert not CustomField.objects.exists()


# --- Import ---------------------------------------------------------------------------------------------------

CSV = (
    "Mobile,First,Last\r\n"
    "0412 345 678,Ann,Lee\r\n"
    "+61412345679,Bob,Ray\r\n"
    "0412 345 678,Ann,Again\r\n"
    "not a number,Cy,Zed\r\n"
)


def _upload(name="people.csv", data=CSV):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data.encode(), content_type="text/csv")


def test_import_through_the_api_then_progress_and_errors(api, account, django_capture_on_commit_callbacks):
    contact_list = make_list(account, "Imported")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"/v3/lists/{contact_list.pk}/import", {
            "file": _upload(), "field_order": json.dumps(["phone_number", "first_name", "last_name"]),
            "country": "AU",
        }, format="multipart")
    data = ok(response)
    assert len(callbacks) == 1  # the run is queued after commit
    job = ImportJob.objects.get()
    assert data["id"] == str(job.pk) and data["ids"] == [str(job.pk)] and data["msg"] == "Your file is now queued."
    assert data["import_job"]["status"] == "queued" and data["import_job"]["list_id"] == contact_list.pk
    assert job.mapping == {"phone_number": 0, "first_name": 1, "last_name": 2} and job.default_country == "AU"
    assert ok(api.get("/v3/lists"))["data"][0]["_import_in_progress"] == 1

    import_run(job_id=job.pk)

    progress = ok(api.get(f"/v3/contacts/import-jobs/{job.pk}"))
    assert {k: progress[k] for k in ("status", "total_rows", "processed_rows", "created", "updated", "duplicates",
                                      "invalid", "error", "percent")} == {
        "status": "done", "total_rows": 4, "processed_rows": 4, "created": 2, "updated": 0, "duplicates": 1,
        "invalid": 1, "error": "", "percent": 100,
    }
    assert isinstance(progress["finished_at"], int)
    errors = ok(api.get(f"/v3/contacts/import-jobs/{job.pk}/errors"))
    assert errors["total"] == 1
    assert errors["data"] == [{"row_number": 5, "raw_value": "not a number", "reason": errors["data"][0]["reason"]}]
    listed = ok(api.get(f"/v3/lists/{contact_list.pk}/contacts"))
    assert listed["total"] == 2
    assert sorted(c["first_name"] for c in listed["data"]) == ["Ann", "Bob"]


def test_import_takes_a_repeated_field_order_and_guesses_without_one(api, account):
    contact_list = make_list(account)
    ok(api.post(f"/v3/lists/{contact_list.pk}/import",
                {"file": _upload(), "field_order": ["phone_number", "", "last_name"]}, format="multipart"))
    assert ImportJob.objects.get().mapping == {"phone_number": 0, "last_name": 2}
    ImportJob.objects.all().delete()
    ok(api.post(f"/v3/lists/{contact_list.pk}/import", {"file": _upload()}, format="multipart"))
    job = ImportJob.objects.get()
    assert job.mapping == {"phone_number": 0, "first_name": 1, "last_name": 2}
    assert job.default_country == "AU"  # the workspace's


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "file"),
        ({"field_order": '["phone_number"]'}, "file"),
        ({"file": "upload", "field_order": '["shoe_size"]'}, "field_order"),
        ({"file": "upload", "field_order": '["first_name"]'}, "field_order"),
        ({"file": "upload", "field_order": "[not json"}, "field_order"),
        ({"file": "upload", "country": "Narnia"}, "country"),
        ({"file": "upload", "colour": "red"}, "colour"),
        ({"file": "empty"}, "file"),
    ],
)
def test_bad_import_requests_leave_no_job(api, account, payload, field, tmp_path):
    contact_list = make_list(account)
    if payload.get("file") == "upload":
        payload["file"] = _upload()
    elif payload.get("file") == "empty":
        payload["file"] = _upload(data="")
    refused(api.post(f"/v3/lists/{contact_list.pk}/import", payload, format="multipart"), 400, field)
    assert not ImportJob.objects.exists()
    assert not list((tmp_path / "imports").rglob("*.csv")) if (tmp_path / "imports").exists() else True


def test_file_url_only_from_allowed_hosts(api, account, settings):
    contact_list = make_list(account)
    settings.CONTACT_IMPORT_URL_HOSTS = []
    body = {"file_url": "https://files.example.test/people.csv", "field_order": "phone_number,first_name"}
    refused(api.post(f"/v3/lists/{contact_list.pk}/import", body, format="json"), 400, "file_url")
    settings.CONTACT_IMPORT_URL_HOSTS = ["files.example.test"]
    refused(api.post(f"/v3/lists/{contact_list.pk}/import", {**body, "file_url": "file:///etc/passwd"},
                     format="json"), 400, "file_url")
    refused(api.post(f"/v3/lists/{contact_list.pk}/import", {**body, "file_url": "https://evil.test/a.csv"},
                     format="json"), 400, "file_url")
    assert not ImportJob.objects.exists()


@pytest.fixture
def file_server():
    """A loopback HTTP server serving CSV at /people.csv and a redirect at /moved."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/people.csv":
                payload = CSV.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            elif self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest")
                self.end_headers()
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_file_url_is_fetched_from_an_allowed_host(api, account, settings, file_server):
    settings.CONTACT_IMPORT_URL_HOSTS = ["127.0.0.1"]
    contact_list = make_list(account)
    url = f"/v3/lists/{contact_list.pk}/import"
    data = ok(api.post(url, {"file_url": f"{file_server}/people.csv", "field_order": '["phone_number"]'},
                       format="json"))
    job = ImportJob.objects.get(pk=int(data["id"]))
    assert job.file_name == "people.csv" and job.mapping == {"phone_number": 0}
    assert import_run(job_id=job.pk).created_count == 2
    refused(api.post(url, {"file_url": f"{file_server}/moved"}, format="json"), 400, "file_url")
    refused(api.post(url, {"file_url": f"{file_server}/missing.csv"}, format="json"), 400, "file_url")
    assert ImportJob.objects.count() == 1


def test_file_url_size_is_capped(api, account, settings, file_server, monkeypatch):
    monkeypatch.setattr("contacts.api.imports.FETCH_MAX_BYTES", 20)
    settings.CONTACT_IMPORT_URL_HOSTS = ["127.0.0.1"]
    contact_list = make_list(account)
    response = api.post(f"/v3/lists/{contact_list.pk}/import", {"file_url": f"{file_server}/people.csv"}, format="json")
    assert "larger than" in refused(response, 400, "file_url")["error"]["description"]
    assert not ImportJob.objects.exists()


def test_import_job_progress_while_running(api, account):
    job = ImportJob.objects.create(account=account, file_name="a.csv", default_country="AU", status="running",
                                   total_rows=200, processed_rows=50, started_at=timezone.now())
    data = ok(api.get(f"/v3/contacts/import-jobs/{job.pk}/"))
    assert (data["status"], data["percent"], data["list_id"], data["finished_at"]) == ("running", 25, None, None)
    assert ok(api.get(f"/v3/contacts/import-jobs/{job.pk}/errors"))["data"] == []
