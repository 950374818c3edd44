"""The contacts UI through the test client, against the real database."""

import re

import pytest
from django.urls import reverse

from contacts import services
from contacts.models import Contact, ContactList, CustomField, ListMembership, OptOut
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_as(client, user_with_role, account):
    def login(role):
        client.force_login(user_with_role(role))
        return client

    return login


@pytest.fixture
def book(account):
    """Six contacts: three AU, two GB, one US; one opted out; two lists."""
    vip = services.list_create(account=account, name="VIP")
    news = services.list_create(account=account, name="News")
    people = {}
    for key, number, first, last, extra in [
        ("ann", "0412 000 001", "Ann", "Smith", {"custom_1": "gold"}),
        ("bob", "0412 000 002", "Bob", "Smithers", {}),
        ("cat", "+44 7400 123456", "Cat", "Jones", {"organization_name": "Acme"}),
        ("dan", "(02) 9876 5432", "Dan", "Brown", {}),
        ("eve", "+44 7400 654321", "Eve", "Adams", {"custom_1": "gold"}),
        ("fay", "+1 650 253 0000", "Fay", "Zed", {}),
    ]:
        people[key] = services.contact_create(
            account=account, phone_number=number, data={"first_name": first, "last_name": last, **extra}
        )
    services.list_add_contacts(contact_list=vip, contacts=pick(people, "ann", "bob"))
    services.list_add_contacts(contact_list=news, contacts=pick(people, "bob", "cat"))
    services.contacts_opt_out(account=account, contacts=pick(people, "bob"), source="keyword")
    return {"people": people, "vip": vip, "news": news}


@pytest.fixture
def stranger(db):
    """Another workspace with a contact and a list of its own."""
    other = AccountFactory(default_region="AU")
    contact = services.contact_create(account=other, phone_number="0412 999 999", data={"first_name": "Zoe"})
    contact_list = services.list_create(account=other, name="Theirs")
    services.list_add_contacts(contact_list=contact_list, contacts=Contact.objects.filter(pk=contact.pk))
    return {"account": other, "contact": contact, "list": contact_list}


def pick(people, *keys):
    return Contact.objects.filter(pk__in=[people[k].pk for k in keys])


def shown_numbers(response) -> list[str]:
    return re.findall(r'<span class="phone">(\+\d+)</span>', response.content.decode())


def shown_first_names(response) -> list[str]:
    return re.findall(r'class="contact-name">(\w+) ', response.content.decode())


# --- The table ------------------------------------------------------------------------------------------------


def test_empty_workspace_offers_import(admin_client):
    response = admin_client.get(reverse("contacts:index"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="contacts-empty"' in html
    assert "/contacts/import/" in html


def test_table_lists_contacts_newest_first_with_lists_badge_and_custom_1(admin_client, book):
    response = admin_client.get(reverse("contacts:index"))
    html = response.content.decode()
    assert shown_first_names(response) == ["Fay", "Eve", "Dan", "Cat", "Bob", "Ann"]
    assert "+61412000001" in html and "+447400123456" in html
    assert html.count(">Opted out</span>") == 1
    assert '<span class="badge badge-list">VIP</span>' in html and "gold" in html
    assert re.search(r'data-testid="contact-count"><strong class="num-inline">6</strong> contacts', html)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "smi"}, ["Bob", "Ann"]),
        ({"q": "0412 000"}, ["Bob", "Ann"]),
        ({"q": "+44"}, ["Eve", "Cat"]),
        ({"country": "gb"}, ["Eve", "Cat"]),
        ({"opted_out": "yes"}, ["Bob"]),
        ({"opted_out": "no", "country": "AU"}, ["Dan", "Ann"]),
        ({"field": "custom_1", "value": "gold"}, ["Eve", "Ann"]),
        ({"line_type": "fixed_line"}, ["Dan"]),
        ({"sort": "oldest"}, ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay"]),
        ({"sort": "name"}, ["Eve", "Dan", "Cat", "Ann", "Bob", "Fay"]),
        ({"sort": "-name"}, ["Fay", "Bob", "Ann", "Cat", "Dan", "Eve"]),
        ({"sort": "number"}, ["Fay", "Cat", "Eve", "Dan", "Ann", "Bob"]),
    ],
)
def test_search_filters_and_sorts(admin_client, book, params, expected):
    assert shown_first_names(admin_client.get(reverse("contacts:index"), params)) == expected


def test_list_filter_from_the_select(admin_client, book):
    response = admin_client.get(reverse("contacts:index"), {"list": book["news"].pk})
    assert shown_first_names(response) == ["Cat", "Bob"]


@pytest.mark.parametrize("sort", ["newest", "oldest", "name", "-name", "number"])
def test_keyset_pages_walk_forward_and_back_without_offset(admin_client, account, sort, monkeypatch):
    from contacts import views

    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    for i in range(10):
        services.contact_create(
            account=account, phone_number=f"0412 100 {i:03d}", data={"first_name": f"P{i % 3}", "last_name": "Same"}
        )
    url = reverse("contacts:index")
    seen, pages, response = [], [], admin_client.get(url, {"sort": sort})
    while True:
        numbers = shown_numbers(response)
        pages.append(numbers)
        seen += numbers
        match = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        if not match:
            break
        response = admin_client.get(match.group(1).replace("&amp;", "&"))
    assert [len(p) for p in pages] == [4, 4, 2]
    assert len(set(seen)) == 10
    # Previous from the last page gives back the middle page exactly.
    previous = re.search(r'rel="prev" href="([^"]+)"', response.content.decode()).group(1).replace("&amp;", "&")
    assert "before=" in previous
    assert shown_numbers(admin_client.get(previous)) == pages[1]


def test_a_bad_cursor_is_the_first_page(admin_client, book):
    response = admin_client.get(reverse("contacts:index"), {"after": "not-a-cursor!"})
    assert response.status_code == 200 and len(shown_first_names(response)) == 6


def test_htmx_request_gets_only_the_table_fragment(admin_client, book):
    response = admin_client.get(reverse("contacts:index"), {"q": "smi"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="contacts-table"')
    assert "<html" not in html and 'class="sidebar"' not in html
    assert shown_first_names(response) == ["Bob", "Ann"]
    assert "HX-Request" in response["Vary"]
    history = admin_client.get(
        reverse("contacts:index"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in history.content.decode()


def test_page_search_input_is_wired_for_search_as_you_type(admin_client, book):
    html = admin_client.get(reverse("contacts:index")).content.decode()
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert 'hx-target="#contacts-table"' in html


def test_count_is_capped(admin_client, book, monkeypatch):
    from contacts import filters

    monkeypatch.setattr(filters, "COUNT_CAP", 3)
    monkeypatch.setattr(filters.count_capped, "__defaults__", (3,))
    html = admin_client.get(reverse("contacts:index")).content.decode()
    assert re.search(r'<strong class="num-inline">3\+</strong> contacts', html)


def test_contacts_page_query_count_does_not_grow_with_rows(admin_client, account, django_assert_max_num_queries):
    lists = [services.list_create(account=account, name=f"L{i}") for i in range(3)]
    for i in range(40):
        services.contact_create(account=account, phone_number=f"0412 200 {i:03d}")
    for contact_list in lists:
        services.list_add_contacts(contact_list=contact_list, contacts=Contact.objects.filter(account=account))
    services.custom_field_create(account=account, label="Birthday", type="date")
    admin_client.get(reverse("contacts:index"))  # the first visit also stores the workspace in the session
    # Fixed cost: session, user, workspace and switcher (6); rows, their lists, the capped count; the filter
    # choices (custom fields, lists, segments); the navigation's inbox badge. Not one more per row.
    with django_assert_max_num_queries(13):
        response = admin_client.get(reverse("contacts:index"))
    assert len(shown_numbers(response)) == 40
    assert response.content.decode().count('<span class="badge badge-list">') == 80  # two names shown per row


# --- One contact ---------------------------------------------------------------------------------------------


def test_add_a_contact_with_custom_fields(admin_client, account):
    services.custom_field_create(account=account, label="Birthday", type="date")
    services.custom_field_create(account=account, label="Points", type="number")
    page = admin_client.get(reverse("contacts:new")).content.decode()
    assert 'name="cf_birthday"' in page and 'type="date"' in page
    assert '<option value="AU" selected>' in page
    response = admin_client.post(
        reverse("contacts:new"),
        {"phone_number": "07400 123456", "country": "GB", "first_name": "Ann", "cf_birthday": "1990-05-01",
         "cf_points": "1,200"},
    )
    contact = Contact.objects.get(account=account)
    assert response.status_code == 302 and response["Location"] == reverse("contacts:detail", args=[contact.pk])
    assert (contact.phone_number, contact.country, contact.first_name) == ("+447400123456", "GB", "Ann")
    assert contact.fields == {"birthday": "1990-05-01", "points": "1200"}


def test_invalid_number_shows_the_reason_on_the_field(admin_client, account):
    response = admin_client.post(reverse("contacts:new"), {"phone_number": "0412", "country": "AU"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "too short" in errors["phone_number"][0]
    assert not Contact.objects.exists()


def test_duplicate_number_shows_an_error_on_the_field(admin_client, book):
    response = admin_client.post(reverse("contacts:new"), {"phone_number": "+61412000001", "country": "AU"})
    assert "already a contact" in response.context["form"].errors["phone_number"][0]
    assert Contact.objects.filter(phone_number="+61412000001").count() == 1


def test_bad_custom_value_shows_on_its_field(admin_client, account):
    services.custom_field_create(account=account, label="Points", type="number")
    response = admin_client.post(reverse("contacts:new"), {"phone_number": "0412000001", "country": "AU",
                                                           "cf_points": "lots"})
    assert "must be a number" in response.context["form"].errors["cf_points"][0]


def test_edit_a_contact(admin_client, book):
    ann = book["people"]["ann"]
    page = admin_client.get(reverse("contacts:edit", args=[ann.pk])).content.decode()
    assert 'value="+61412000001"' in page and 'value="Ann"' in page
    response = admin_client.post(
        reverse("contacts:edit", args=[ann.pk]),
        {"phone_number": "0412 000 009", "country": "AU", "first_name": "Anne", "last_name": "Smith"},
    )
    assert response.status_code == 302
    ann.refresh_from_db()
    assert (ann.phone_number, ann.first_name, ann.custom_1) == ("+61412000009", "Anne", "")


def test_edit_to_a_number_another_contact_has_is_refused(admin_client, book):
    ann = book["people"]["ann"]
    response = admin_client.post(
        reverse("contacts:edit", args=[ann.pk]), {"phone_number": "0412 000 002", "country": "AU", "first_name": "X"}
    )
    assert "already another contact" in response.context["form"].errors["phone_number"][0]
    ann.refresh_from_db()
    assert (ann.phone_number, ann.first_name) == ("+61412000001", "Ann")


def test_delete_a_contact_updates_list_counts(admin_client, book):
    bob = book["people"]["bob"]
    response = admin_client.post(reverse("contacts:delete", args=[bob.pk]))
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=bob.pk).exists()
    book["vip"].refresh_from_db()
    assert book["vip"].contact_count == 1


def test_detail_page_shows_fields_lists_and_opt_out_state(admin_client, book):
    bob = book["people"]["bob"]
    html = admin_client.get(reverse("contacts:detail", args=[bob.pk])).content.decode()
    assert "Bob Smithers" in html and "+61412000002" in html
    assert "via a STOP reply" in html and "Opt back in" in html
    assert reverse("contacts:list", args=[book["vip"].pk]) in html
    assert "Message history arrives with the sending engine" in html


def test_opt_out_and_back_in_from_the_detail_page(admin_client, book, account):
    ann = book["people"]["ann"]
    admin_client.post(reverse("contacts:opt-out", args=[ann.pk]))
    ann.refresh_from_db()
    assert ann.opted_out_at is not None and ann.opt_out_source == "ui"
    assert OptOut.objects.filter(account=account, phone_number=ann.phone_number, source="ui").exists()
    html = admin_client.get(reverse("contacts:detail", args=[ann.pk])).content.decode()
    assert "via the web app" in html
    admin_client.post(reverse("contacts:opt-in", args=[ann.pk]))
    ann.refresh_from_db()
    assert ann.opted_out_at is None and not OptOut.objects.filter(phone_number=ann.phone_number).exists()


def test_add_and_remove_a_list_from_the_detail_page(admin_client, book):
    dan, news = book["people"]["dan"], book["news"]
    admin_client.post(reverse("contacts:list-add", args=[dan.pk]), {"contact_list": news.pk})
    news.refresh_from_db()
    assert news.contact_count == 3 and ListMembership.objects.filter(contact=dan, contact_list=news).exists()
    admin_client.post(reverse("contacts:list-remove", args=[dan.pk]), {"contact_list": news.pk})
    news.refresh_from_db()
    assert news.contact_count == 2


# --- Bulk actions ---------------------------------------------------------------------------------------------


def bulk(client, **data):
    return client.post(reverse("contacts:bulk"), data)


def test_bulk_add_ticked_contacts_to_a_list(admin_client, book):
    people, vip = book["people"], book["vip"]
    response = bulk(admin_client, action="add_to_list", contact_list=vip.pk,
                    ids=[people["cat"].pk, people["dan"].pk, people["ann"].pk])
    assert response.status_code == 302
    vip.refresh_from_db()
    assert vip.contact_count == 4  # ann was already in
    assert set(ListMembership.objects.filter(contact_list=vip).values_list("contact__first_name", flat=True)) == {
        "Ann", "Bob", "Cat", "Dan"
    }


def test_bulk_on_the_whole_filtered_set(admin_client, book, account):
    target = services.list_create(account=account, name="UK")
    response = bulk(admin_client, action="add_to_list", contact_list=target.pk, scope="all",
                    query="country=GB&sort=name", ids=[book["people"]["ann"].pk])
    assert response.status_code == 302
    target.refresh_from_db()
    members = set(ListMembership.objects.filter(contact_list=target).values_list("contact__phone_number", flat=True))
    assert members == set(Contact.objects.filter(account=account, country="GB").values_list("phone_number", flat=True))
    assert target.contact_count == 2
    html = admin_client.get(reverse("contacts:lists")).content.decode()
    assert re.search(rf'data-testid="list-count-{target.pk}">2<', html)


def test_bulk_remove_opt_out_opt_in_and_delete(admin_client, book, account):
    people, vip = book["people"], book["vip"]
    bulk(admin_client, action="remove_from_list", contact_list=vip.pk, ids=[people["ann"].pk])
    vip.refresh_from_db()
    assert vip.contact_count == 1
    bulk(admin_client, action="opt_out", scope="all", query="q=smi")
    assert set(Contact.objects.filter(opted_out_at__isnull=False).values_list("first_name", flat=True)) == {"Ann", "Bob"}
    assert Contact.objects.get(pk=people["ann"].pk).opt_out_source == "ui"
    bulk(admin_client, action="opt_in", ids=[people["bob"].pk])
    assert set(Contact.objects.filter(opted_out_at__isnull=False).values_list("first_name", flat=True)) == {"Ann"}
    bulk(admin_client, action="delete", scope="all", query="country=AU")
    assert sorted(Contact.objects.filter(account=account).values_list("country", flat=True)) == ["GB", "GB", "US"]
    book["news"].refresh_from_db()
    assert book["news"].contact_count == 1


def test_bulk_without_a_selection_or_a_list_changes_nothing(admin_client, book):
    response = bulk(admin_client, action="delete")
    assert response.status_code == 302 and Contact.objects.count() == 6
    bulk(admin_client, action="add_to_list", ids=[book["people"]["dan"].pk])
    assert ListMembership.objects.filter(contact=book["people"]["dan"]).count() == 0


def test_bulk_redirects_back_only_to_this_site(admin_client, book):
    ids = [book["people"]["dan"].pk]
    assert bulk(admin_client, action="opt_out", ids=ids, next="/contacts/?q=dan")["Location"] == "/contacts/?q=dan"
    assert bulk(admin_client, action="opt_out", ids=ids, next="https://evil.test/")["Location"] == "/contacts/"


# --- Lists ---------------------------------------------------------------------------------------------------


def test_lists_page_shows_kept_counts(admin_client, book, django_assert_max_num_queries):
    admin_client.get(reverse("contacts:lists"))
    with django_assert_max_num_queries(8):
        html = admin_client.get(reverse("contacts:lists")).content.decode()
    assert re.search(rf'data-testid="list-count-{book["vip"].pk}">2<', html)
    assert re.search(rf'data-testid="list-count-{book["news"].pk}">2<', html)


def test_create_rename_and_delete_a_list(admin_client, book, account):
    response = admin_client.post(reverse("contacts:list-create"), {"name": "Winter promo"})
    created = ContactList.objects.get(account=account, name="Winter promo")
    assert response["Location"] == reverse("contacts:list", args=[created.pk])
    assert admin_client.post(reverse("contacts:list-create"), {"name": "  "}).status_code == 400
    admin_client.post(reverse("contacts:list-rename", args=[created.pk]), {"name": "Summer promo"})
    created.refresh_from_db()
    assert created.name == "Summer promo"
    admin_client.post(reverse("contacts:list-delete", args=[book["vip"].pk]))
    assert not ContactList.objects.filter(pk=book["vip"].pk).exists()
    assert Contact.objects.filter(account=account).count() == 6  # contacts stay


def test_list_page_is_the_table_filtered_by_the_list(admin_client, book):
    response = admin_client.get(reverse("contacts:list", args=[book["news"].pk]))
    assert shown_first_names(response) == ["Cat", "Bob"]
    assert response.content.decode().count('name="list"') == 0  # the list is fixed, not a filter choice
    searched = admin_client.get(reverse("contacts:list", args=[book["news"].pk]), {"q": "cat"}, HTTP_HX_REQUEST="true")
    assert shown_first_names(searched) == ["Cat"]
    assert 'name="query" value="q=cat&amp;list=' in searched.content.decode()


# --- Custom fields ---------------------------------------------------------------------------------------------


def test_custom_fields_create_and_delete(admin_client, account):
    response = admin_client.post(reverse("contacts:field-create"), {"label": "Birthday", "type": "date"})
    assert response.status_code == 302
    field = CustomField.objects.get(account=account)
    assert (field.key, field.type) == ("birthday", "date")
    assert "{{birthday}}" in admin_client.get(reverse("contacts:fields")).content.decode()
    again = admin_client.post(reverse("contacts:field-create"), {"label": "Birthday", "type": "date"})
    assert "already exists" in again.context["form"].errors["key"][0]
    admin_client.post(reverse("contacts:field-delete", args=[field.pk]))
    assert not CustomField.objects.exists()


# --- Roles and isolation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_viewer_and_agent_can_look_but_not_change(client_as, book, role):
    client = client_as(role)
    ann = book["people"]["ann"]
    assert client.get(reverse("contacts:index")).status_code == 200
    assert client.get(reverse("contacts:detail", args=[ann.pk])).status_code == 200
    assert client.get(reverse("contacts:lists")).status_code == 200
    html = client.get(reverse("contacts:index")).content.decode()
    assert 'id="bulk-form"' not in html and reverse("contacts:new") not in html
    refused = [
        client.post(reverse("contacts:bulk"), {"action": "delete", "scope": "all", "query": ""}),
        client.get(reverse("contacts:new")),
        client.post(reverse("contacts:edit", args=[ann.pk]), {"phone_number": "0412000111", "country": "AU"}),
        client.post(reverse("contacts:delete", args=[ann.pk])),
        client.post(reverse("contacts:opt-out", args=[ann.pk])),
        client.post(reverse("contacts:list-add", args=[ann.pk]), {"contact_list": book["news"].pk}),
        client.post(reverse("contacts:list-create"), {"name": "Nope"}),
        client.post(reverse("contacts:list-delete", args=[book["vip"].pk])),
        client.post(reverse("contacts:field-create"), {"label": "Nope"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert Contact.objects.count() == 6 and ContactList.objects.count() == 2
    assert Contact.objects.get(pk=ann.pk).opted_out_at is None


def test_marketer_can_change(client_as, book):
    client = client_as("marketer")
    response = client.post(reverse("contacts:bulk"), {"action": "opt_out", "ids": [book["people"]["ann"].pk]})
    assert response.status_code == 302
    assert Contact.objects.get(pk=book["people"]["ann"].pk).opted_out_at is not None


def test_other_workspaces_ids_are_not_found(admin_client, book, stranger):
    theirs, their_list = stranger["contact"].pk, stranger["list"].pk
    mine = book["people"]["ann"].pk
    assert admin_client.get(reverse("contacts:detail", args=[theirs])).status_code == 404
    assert admin_client.get(reverse("contacts:edit", args=[theirs])).status_code == 404
    assert admin_client.post(reverse("contacts:delete", args=[theirs])).status_code == 404
    assert admin_client.post(reverse("contacts:opt-out", args=[theirs])).status_code == 404
    assert admin_client.get(reverse("contacts:list", args=[their_list])).status_code == 404
    assert admin_client.post(reverse("contacts:list-delete", args=[their_list])).status_code == 404
    assert admin_client.post(reverse("contacts:list-add", args=[mine]), {"contact_list": their_list}).status_code == 404
    # Filtering the table by their list shows nothing of theirs.
    assert shown_first_names(admin_client.get(reverse("contacts:index"), {"list": their_list})) == []
    assert Contact.objects.filter(pk=theirs).exists()
    assert ContactList.objects.filter(pk=their_list).exists()


def test_bulk_with_a_foreign_id_affects_nothing_of_theirs(admin_client, book, stranger):
    theirs = stranger["contact"]
    bulk(admin_client, action="delete", ids=[theirs.pk])
    bulk(admin_client, action="opt_out", ids=[theirs.pk])
    assert Contact.objects.filter(pk=theirs.pk, opted_out_at=None).exists()
    # Into my list: their contact is not added; into their list: not found.
    bulk(admin_client, action="add_to_list", contact_list=book["vip"].pk, ids=[theirs.pk])
    assert not ListMembership.objects.filter(contact=theirs, contact_list=book["vip"]).exists()
    response = bulk(admin_client, action="add_to_list", contact_list=stranger["list"].pk, ids=[book["people"]["dan"].pk])
    assert response.status_code == 404
    assert ListMembership.objects.filter(contact_list=stranger["list"]).count() == 1
    # "All matching" with a filter naming their list selects nothing.
    bulk(admin_client, action="delete", scope="all", query=f"list={stranger['list'].pk}")
    assert Contact.objects.count() == 7


def test_subaccount_member_does_not_see_the_main_accounts_contacts(client, book, sub_account):
    user = MemberFactory(account=sub_account, role="admin").user
    client.force_login(user)
    response = client.get(reverse("contacts:index"))
    assert response.status_code == 200 and 'data-testid="contacts-empty"' in response.content.decode()
    assert client.get(reverse("contacts:detail", args=[book["people"]["ann"].pk])).status_code == 404
