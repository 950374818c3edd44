"""The published clicksend-client SDK's ListsApi and ContactsApi against a live smsportal: every call
deserializes into the SDK's strict models."""

import http.server
import threading

import clicksend
import pytest
from clicksend.models import (
    CreateListRequest,
    CreateNewContactRequest,
    ImportContactsRequest,
    RemoveDuplicateContactsRequest,
    RemoveDuplicateContactsRequestFields,
)

from contacts import services
from contacts.models import Contact, ImportJob
from tests.api.test_clicksend_sdk import sdk_client
from tests.factories import AccountFactory, MemberFactory, api_key_for


@pytest.fixture
def sdk(live_server, transactional_db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    account = AccountFactory(api_username="sdk-contacts", default_region="AU", api_rate_limit=1000)
    MemberFactory(account=account)
    with sdk_client(live_server.url, account.api_username, api_key_for(account)) as client:
        yield account, client


def test_sdk_lists_and_contacts_round_trip(sdk):
    account, client = sdk
    lists, contacts = clicksend.ListsApi(client), clicksend.ContactsApi(client)

    created = lists.create_list(create_list_request=CreateListRequest(list_name="Customers"))
    assert created.http_code == 200 and created.response_code == "SUCCESS"
    customers = created.data
    assert isinstance(customers.list_id, int) and customers.list_name == "Customers"
    assert customers.contacts_count == 0 and customers.import_in_progress == 0 and customers.optout_in_progress == 0
    other = lists.create_list(create_list_request=CreateListRequest(list_name="Other")).data

    viewed = lists.view_lists()
    assert viewed.data.total == 2 and viewed.data.current_page == 1 and viewed.data.var_from == 1
    assert {item.list_name for item in viewed.data.data} == {"Customers", "Other"}
    assert lists.view_specific_list(list_id=str(customers.list_id)).data.list_name == "Customers"
    renamed = lists.update_list(list_id=str(customers.list_id),
                                create_list_request=CreateListRequest(list_name="Best customers"))
    assert renamed.data.list_name == "Best customers" and renamed.data.list_id == customers.list_id

    added = lists.create_new_contact(
        list_id=str(customers.list_id),
        create_new_contact_request=CreateNewContactRequest(
            phone_number="+61412345678", first_name="Ann", last_name="Lee", custom_1="gold",
            email="ann@example.test", organization_name="Lee & Co", address_city="Sydney", address_country="AU",
            date_added="1700000000",
        ),
    )
    ann = added.data
    assert isinstance(ann.contact_id, int) and ann.list_id == customers.list_id
    assert ann.list_name == "Best customers" and isinstance(ann.date_added, int) and isinstance(ann.date_updated, int)
    assert (ann.phone_number, ann.first_name, ann.custom_1, ann.address_city) == (
        "+61412345678", "Ann", "gold", "Sydney"
    )
    bob = lists.create_new_contact(
        list_id=str(customers.list_id),
        create_new_contact_request=CreateNewContactRequest(phone_number="0412345679", first_name="Bob"),
    ).data
    assert bob.phone_number == "+61412345679"

    page = lists.view_list_contacts(list_id=str(customers.list_id))
    assert page.data.total == 2 and page.data.per_page == 25 and page.data.to == 2
    assert [c.contact_id for c in page.data.data] == [bob.contact_id, ann.contact_id]  # newest first

    fetched = contacts.get_specific_contact(list_id=str(customers.list_id), contact_id=str(ann.contact_id))
    assert fetched.data.email == "ann@example.test" and fetched.data.organization_name == "Lee & Co"
    updated = contacts.update_contact(
        list_id=str(customers.list_id), contact_id=str(ann.contact_id),
        create_new_contact_request=CreateNewContactRequest(last_name="Lee-Smith", custom_2="vip"),
    )
    assert updated.data.last_name == "Lee-Smith" and updated.data.custom_2 == "vip" and updated.data.first_name == "Ann"

    copied = lists.copy_contact_to_list(
        from_list_id=str(customers.list_id), contact_id=str(ann.contact_id), to_list_id=str(other.list_id)
    )
    assert copied.data.contact_id == ann.contact_id and copied.data.list_id == other.list_id
    assert lists.view_specific_list(list_id=str(other.list_id)).data.contacts_count == 1
    moved = lists.transfer_contact_to_list(
        from_list_id=str(customers.list_id), contact_id=str(bob.contact_id), to_list_id=str(other.list_id)
    )
    assert moved.data.list_id == other.list_id
    assert lists.view_specific_list(list_id=str(customers.list_id)).data.contacts_count == 1
    assert lists.view_specific_list(list_id=str(other.list_id)).data.contacts_count == 2

    deduped = lists.remove_duplicate_contacts(
        list_id=str(other.list_id),
        remove_duplicate_contacts_request=RemoveDuplicateContactsRequest(
            fields=RemoveDuplicateContactsRequestFields(first_name="1")
        ),
    )
    assert deduped.data.deleted == 0
    services.contacts_opt_out(account=account, contacts=Contact.objects.filter(pk=bob.contact_id), source="api")
    unsubscribed = lists.create_list(create_list_request=CreateListRequest(list_name="Unsubscribed")).data
    cleaned = lists.remove_opted_out_contacts(list_id=str(other.list_id), opt_out_list_id=str(unsubscribed.list_id))
    assert cleaned.data.deleted == 1  # Bob, opted out in the workspace; Ann stays

    deleted = contacts.delete_contact(list_id=str(other.list_id), contact_id=str(ann.contact_id))
    assert deleted.data == [] and deleted.response_code == "SUCCESS"
    with pytest.raises(clicksend.exceptions.ApiException) as missing:
        contacts.get_specific_contact(list_id=str(customers.list_id), contact_id=str(ann.contact_id))
    assert missing.value.status == 404 and '"NOT_FOUND"' in missing.value.body

    removed = lists.delete_list(list_id=str(customers.list_id))
    assert removed.data == [] and removed.response_msg == f"List #{customers.list_id} has been deleted."
    assert lists.view_lists().data.total == 2
    with pytest.raises(clicksend.exceptions.ApiException) as gone:
        lists.view_specific_list(list_id=str(customers.list_id))
    assert gone.value.status == 404


def test_sdk_search_and_isolation(sdk, live_server):
    account, client = sdk
    lists = clicksend.ListsApi(client)
    mine = services.list_create(account=account, name="Annual")
    services.contact_create(account=account, phone_number="0412345678", data={"first_name": "Anna"}, contact_list=mine)
    found = lists.view_contact_lists_with_http_info(q="ann")
    assert found.status_code == 200  # the SDK declares no model for this call; the body is ours

    stranger = AccountFactory(api_username="sdk-stranger", api_rate_limit=1000)
    theirs = services.list_create(account=stranger, name="Theirs")
    with pytest.raises(clicksend.exceptions.ApiException) as foreign:
        lists.view_specific_list(list_id=str(theirs.pk))
    assert foreign.value.status == 404
    contact = Contact.objects.get(account=account)
    with pytest.raises(clicksend.exceptions.ApiException) as foreign_copy:
        lists.copy_contact_to_list(from_list_id=str(mine.pk), contact_id=str(contact.pk), to_list_id=str(theirs.pk))
    assert foreign_copy.value.status == 404
    assert not theirs.memberships.exists()


@pytest.fixture
def csv_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            payload = b"phone,name\r\n0412345678,Ann\r\n0412345679,Bob\r\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_sdk_import_contacts_from_an_allowed_url(sdk, settings, csv_server, monkeypatch):
    account, client = sdk
    queued = []
    # The queue is the boundary: record the run instead of sending it to a broker.
    monkeypatch.setattr("contacts.tasks.contact_import_run.delay", lambda job_id: queued.append(job_id))
    settings.CONTACT_IMPORT_URL_HOSTS = ["127.0.0.1"]
    contact_list = services.list_create(account=account, name="Imported")
    answer = clicksend.ListsApi(client).import_contacts(
        list_id=str(contact_list.pk),
        import_contacts_request=ImportContactsRequest(
            file_url=f"{csv_server}/people.csv", field_order='["phone_number","first_name"]'
        ),
    )
    job = ImportJob.objects.get()
    assert answer.data.id == str(job.pk) and answer.data.ids == [str(job.pk)] and answer.data.msg
    assert queued == [job.pk] and job.contact_list_id == contact_list.pk
    assert job.mapping == {"phone_number": 0, "first_name": 1}
