"""CSV export: streamed, scoped, the same rows as the table's query, and safe to open in a spreadsheet."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from contacts import exporting, segments, services
from contacts.models import Contact
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(main_account):
    main_account.default_region = "AU"
    main_account.name = "Acme Café"
    main_account.save(update_fields=["default_region", "name"])
    return main_account


@pytest.fixture
def book(account):
    services.custom_field_create(account=account, label="Note", type="text")
    vip = services.list_create(account=account, name="VIP Club")
    people = {}
    for key, number, data in [
        ("ann", "0412 000 001", {"first_name": "=cmd()", "last_name": "Smith", "custom_1": "@x", "fields": {"note": "-2+3"}}),
        ("bob", "0412 000 002", {"first_name": "Zoë", "organization_name": "+tab"}),
        ("cat", "+44 7400 123456", {"first_name": "Cat", "address_city": "-CR", "custom_3": "safe = fine"}),
    ]:
        people[key] = services.contact_create(account=account, phone_number=number, data=data)
    services.list_add_contacts(contact_list=vip, contacts=Contact.objects.filter(pk__in=[people["ann"].pk, people["cat"].pk]))
    services.contacts_opt_out(account=account, contacts=Contact.objects.filter(pk=people["bob"].pk), source="ui")
    services.contact_create(account=AccountFactory(default_region="AU"), phone_number="0412 000 009")
    return {"people": people, "vip": vip}


def download(client, **params):
    response = client.get(reverse("contacts:export"), params)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8")
    return response, body


def rows_of(body: str) -> list[dict]:
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


def test_export_all_streams_every_contact_of_the_workspace_with_a_bom(admin_client, book):
    response, body = download(admin_client)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="contacts-acme-cafe-') and disposition.endswith('.csv"')
    rows = rows_of(body)
    assert [r["phone_number"] for r in rows] == ["+61412000001", "+61412000002", "+447400123456"]
    header = body.removeprefix("\ufeff").splitlines()[0].split(",")
    assert header[:3] == ["phone_number", "country", "first_name"]
    assert header[-4:] == ["note", "opted_out", "opted_out_at", "created_at"]
    assert "list" not in header


def test_cells_that_start_a_formula_are_escaped_but_numbers_stay_readable(admin_client, book):
    rows = {r["phone_number"]: r for r in rows_of(download(admin_client)[1])}
    ann, bob, cat = rows["+61412000001"], rows["+61412000002"], rows["+447400123456"]
    assert (ann["first_name"], ann["custom_1"], ann["note"]) == ("'=cmd()", "'@x", "'-2+3")
    assert (bob["first_name"], bob["organization_name"]) == ("Zoë", "'+tab")
    assert cat["address_city"] == "'-CR" and cat["custom_3"] == "safe = fine"
    assert cat["phone_number"] == "+447400123456"  # E.164 is kept as is
    assert (bob["opted_out"], ann["opted_out"]) == ("yes", "no")
    assert bob["opted_out_at"].startswith("20") and ann["opted_out_at"] == ""
    assert ann["created_at"][:4].isdigit() and "T" in ann["created_at"]


def test_export_a_list(admin_client, book):
    response, body = download(admin_client, list=book["vip"].pk)
    assert [r["phone_number"] for r in rows_of(body)] == ["+61412000001", "+447400123456"]
    assert "-vip-club-" in response["Content-Disposition"]


def test_export_the_filtered_view(admin_client, book):
    _, body = download(admin_client, country="AU", opted_out="no")
    assert [r["phone_number"] for r in rows_of(body)] == ["+61412000001"]
    _, body = download(admin_client, q="zo")
    assert [r["first_name"] for r in rows_of(body)] == ["Zoë"]


def test_export_a_segment(admin_client, account, book):
    segment = segments.segment_create(
        account=account, name="Brits", rules={"conditions": [{"type": "country", "op": "in", "values": ["GB"]}]}
    )
    response, body = download(admin_client, segment=segment.pk)
    assert [r["phone_number"] for r in rows_of(body)] == ["+447400123456"]
    assert "-brits-" in response["Content-Disposition"]


def test_export_of_another_workspaces_list_is_empty(admin_client, book):
    other = AccountFactory()
    their_list = services.list_create(account=other, name="Theirs")
    _, body = download(admin_client, list=their_list.pk)
    assert rows_of(body) == []


def test_export_reads_rows_in_chunks(admin_client, book, monkeypatch):
    """The queryset is iterated (server-side cursor on PostgreSQL), never materialised as a list."""
    seen = {}
    real_iterator = Contact.objects.none().__class__.iterator

    def spy(self, chunk_size=None):
        seen["chunk_size"] = chunk_size
        return real_iterator(self, chunk_size=chunk_size)

    monkeypatch.setattr(Contact.objects.none().__class__, "iterator", spy)
    _, body = download(admin_client)
    assert seen["chunk_size"] == exporting.CHUNK_SIZE == 2000
    assert len(rows_of(body)) == 3


def test_escape_cell():
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert exporting.escape_cell(dangerous) == "'" + dangerous
    for harmless in ("", "Ann", "1+1", "a=b", "'quoted"):
        assert exporting.escape_cell(harmless) == harmless


def test_viewer_may_export_and_a_visitor_may_not(client, user_with_role, book):
    assert client.get(reverse("contacts:export")).status_code == 302  # to the login page
    client.force_login(user_with_role("viewer"))
    assert client.get(reverse("contacts:export")).status_code == 200
