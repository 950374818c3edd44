"""The segment builder through the test client: rows of conditions in, rules JSON saved, live counts out."""

import re

import pytest
from django.urls import reverse

from contacts import segments, services
from contacts.models import Contact, Segment
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(main_account):
    """AU workspace: Ann and Bob (AU, VIP; Bob opted out), Cat (GB), Dan (AU fixed line)."""
    main_account.default_region = "AU"
    main_account.save(update_fields=["default_region"])
    vip = services.list_create(account=main_account, name="VIP")
    news = services.list_create(account=main_account, name="News")
    services.custom_field_create(account=main_account, label="Birthday", type="date")
    people = {}
    for key, number, first in [
        ("ann", "0412 000 001", "Ann"), ("bob", "0412 000 002", "Bob"),
        ("cat", "+44 7400 123456", "Cat"), ("dan", "(02) 9876 5432", "Dan"),
    ]:
        people[key] = services.contact_create(account=main_account, phone_number=number, data={"first_name": first})
    services.list_add_contacts(contact_list=vip, contacts=Contact.objects.filter(first_name__in=["Ann", "Bob"]))
    services.contacts_opt_out(account=main_account, contacts=Contact.objects.filter(first_name="Bob"), source="ui")
    return {"account": main_account, "vip": vip, "news": news, "people": people}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def rows(*conditions, match="all", name="AU VIPs"):
    """POST data as the builder sends it: a `row` prefix per condition, then `<prefix>-<input>`."""
    data = {"name": name, "match": match, "row": []}
    for index, condition in enumerate(conditions):
        prefix = f"c{index * 3}"  # prefixes need not be consecutive: rows are added and removed in the browser
        data["row"].append(prefix)
        for key, value in condition.items():
            data[f"{prefix}-{key}"] = value
    return data


def test_create_a_segment_from_condition_rows(admin_client, book):
    data = rows(
        {"type": "country", "country_op": "in", "countries": "au, nz"},
        {"type": "list", "list_op": "any", "lists": [str(book["vip"].pk)]},
        {"type": "opted_out", "opted_out": "no"},
    )
    response = admin_client.post(reverse("contacts:segment-new"), data)
    segment = Segment.objects.get(account=book["account"])
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:segment", args=[segment.pk])
    assert segment.name == "AU VIPs"
    assert segment.rules == {"match": "all", "conditions": [
        {"type": "country", "op": "in", "values": ["AU", "NZ"]},
        {"type": "list", "op": "any", "lists": [book["vip"].pk]},
        {"type": "opted_out", "value": False},
    ]}
    assert segments.segment_count(book["account"], segment.rules) == {"total": 1, "sendable": 1}


def test_every_condition_type_round_trips_through_the_editor(admin_client, book):
    data = rows(
        {"type": "list", "list_op": "none", "lists": [str(book["news"].pk)]},
        {"type": "line_type", "line_type_op": "not_in", "line_types": ["fixed_line", "voip"]},
        {"type": "field", "field": "first_name", "field_op": "contains", "field_value": "a"},
        {"type": "field", "field": "fields.birthday", "field_op": "before", "field_value": "2000-01-01"},
        {"type": "created", "created_op": "after", "created_value": "2020-01-31"},
        {"type": "opted_out", "opted_out": "yes"},
        match="any", name="Everything",
    )
    assert admin_client.post(reverse("contacts:segment-new"), data).status_code == 302
    segment = Segment.objects.get(account=book["account"])
    assert [c["type"] for c in segment.rules["conditions"]] == [
        "list", "line_type", "field", "field", "created", "opted_out"
    ]
    html = admin_client.get(reverse("contacts:segment", args=[segment.pk])).content.decode()
    assert 'name="c5-type"' in html and '<option value="opted_out" selected>' in html
    assert 'value="2020-01-31"' in html and 'value="fixed_line" checked' in html
    assert '<option value="fields.birthday" selected>Birthday (custom)</option>' in html
    assert '<option value="any" selected>any</option>' in html
    assert f'href="/contacts/?segment={segment.pk}"' in html
    # The builder's empty row for new conditions sits in a <template>.
    assert '<template id="condition-template">' in html and 'name="__prefix__-type"' in html


def test_live_count_returns_the_matches_and_the_textable(admin_client, book):
    data = rows({"type": "country", "country_op": "in", "countries": "AU"})
    response = admin_client.post(reverse("contacts:segment-count"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    text = re.sub(r"<[^>]+>|\s+", " ", response.content.decode())
    assert re.sub(r"\s+", " ", text).strip() == "3 contacts match · 2 can be texted"

    # No conditions: everyone.
    response = admin_client.post(reverse("contacts:segment-count"), rows(), HTTP_HX_REQUEST="true")
    assert "4 contacts match" in re.sub(r"<[^>]+>|\s+", " ", response.content.decode()).replace("  ", " ")


def test_live_count_explains_invalid_rules_by_row(admin_client, book):
    data = rows(
        {"type": "country", "country_op": "in", "countries": "AU"},
        {"type": "created", "created_op": "before", "created_value": "31/01/2026"},
    )
    response = admin_client.post(reverse("contacts:segment-count"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Condition 2: &#x27;31/01/2026&#x27; is not a date like 2026-12-31." in response.content.decode()


def test_live_count_needs_contacts_edit_and_stays_in_the_workspace(client, book):
    stranger = services.list_create(account=AccountFactory(), name="Theirs")
    client.force_login(MemberFactory(account=book["account"], role="marketer").user)
    data = rows({"type": "list", "list_op": "any", "lists": [str(stranger.pk)]})
    response = client.post(reverse("contacts:segment-count"), data)
    assert f"Condition 1: No list with id {stranger.pk}." in response.content.decode()


def test_invalid_rules_show_the_error_on_their_row(admin_client, book):
    data = rows(
        {"type": "country", "country_op": "in", "countries": "AU"},
        {"type": "list", "list_op": "any"},  # no list chosen
    )
    response = admin_client.post(reverse("contacts:segment-new"), data)
    assert response.status_code == 400
    assert not Segment.objects.exists()
    posted = response.context["rows"]
    assert posted[0]["errors"] == []
    assert posted[1]["errors"] == ["lists must be a non-empty list of list ids."]
    html = response.content.decode()
    # The row keeps what was typed and is marked invalid.
    assert 'value="AU"' in html
    second = html.split('name="row" value="c3"')[1]
    assert "lists must be a non-empty list of list ids." in second.split('name="row"')[0]
    assert html.count("condition-invalid") == 1


def test_a_name_is_required(admin_client, book):
    response = admin_client.post(reverse("contacts:segment-new"), rows({"type": "opted_out", "opted_out": "yes"}, name=" "))
    assert response.status_code == 400
    assert response.context["name_errors"] == ["name is required."]


def test_edit_a_segment(admin_client, book):
    segment = segments.segment_create(
        account=book["account"], name="GB", rules={"conditions": [{"type": "country", "values": ["GB"]}]}
    )
    response = admin_client.get(reverse("contacts:segment", args=[segment.pk]))
    assert response.status_code == 200
    assert 'value="GB"' in response.content.decode()

    data = rows({"type": "field", "field": "first_name", "field_op": "equals", "field_value": "ann"}, name="Anns")
    response = admin_client.post(reverse("contacts:segment", args=[segment.pk]), data)
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Anns"
    assert segment.rules["conditions"] == [{"type": "field", "field": "first_name", "op": "equals", "value": "ann"}]

    # A refused edit leaves the stored segment alone.
    data = rows({"type": "field", "field": "password", "field_op": "equals", "field_value": "x"}, name="Broken")
    response = admin_client.post(reverse("contacts:segment", args=[segment.pk]), data)
    assert response.status_code == 400
    assert response.context["rows"][0]["errors"] == ["'password' is not a contact field."]
    segment.refresh_from_db()
    assert segment.name == "Anns"


def test_delete_a_segment(admin_client, book):
    segment = segments.segment_create(account=book["account"], name="Old", rules={"conditions": []})
    assert admin_client.get(reverse("contacts:segment-delete", args=[segment.pk])).status_code == 405
    response = admin_client.post(reverse("contacts:segment-delete", args=[segment.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("contacts:segments")
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert Contact.objects.filter(account=book["account"]).count() == 4
    assert "Segment “Old” deleted." in response.content.decode()


def test_index_lists_segments_with_a_lazy_count_each(admin_client, book, django_assert_max_num_queries):
    for n in range(3):
        segments.segment_create(
            account=book["account"], name=f"Seg {n}",
            rules={"match": "any", "conditions": [{"type": "list", "lists": [book["vip"].pk]},
                                                    {"type": "country", "values": ["GB"]}]},
        )
    with django_assert_max_num_queries(15):
        response = admin_client.get(reverse("contacts:segments"))
    html = response.content.decode()
    assert html.count("hx-trigger=\"load\"") == 3
    assert "In any of VIP" in html and "Country is one of GB" in html
    segment = Segment.objects.get(name="Seg 0")
    response = admin_client.get(reverse("contacts:segment-saved-count", args=[segment.pk]))
    text = re.sub(r"<[^>]+>|\s+", " ", response.content.decode())
    assert re.sub(r" +", " ", text).strip() == "3 · 2 can be texted"


def test_another_workspaces_segment_is_not_found(admin_client, book):
    theirs = segments.segment_create(account=AccountFactory(), name="Theirs", rules={"conditions": []})
    assert admin_client.get(reverse("contacts:segment", args=[theirs.pk])).status_code == 404
    assert admin_client.get(reverse("contacts:segment-saved-count", args=[theirs.pk])).status_code == 404
    assert admin_client.post(reverse("contacts:segment", args=[theirs.pk]), rows(name="Mine")).status_code == 404
    assert admin_client.post(reverse("contacts:segment-delete", args=[theirs.pk])).status_code == 404
    assert "Theirs" not in admin_client.get(reverse("contacts:segments")).content.decode()
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_a_viewer_sees_segments_but_cannot_change_them(client, book):
    segment = segments.segment_create(account=book["account"], name="GB", rules={
        "conditions": [{"type": "country", "values": ["GB"]}]})
    client.force_login(MemberFactory(account=book["account"], role="viewer").user)
    response = client.get(reverse("contacts:segments"))
    assert response.status_code == 200 and "New segment" not in response.content.decode()
    response = client.get(reverse("contacts:segment", args=[segment.pk]))
    assert response.status_code == 200
    assert response.templates[0].name == "contacts/segments/detail.html"
    assert "Country is one of GB" in response.content.decode()
    assert client.get(reverse("contacts:segment-saved-count", args=[segment.pk])).status_code == 200
    assert client.get(reverse("contacts:segment-new")).status_code == 403
    assert client.post(reverse("contacts:segment-new"), rows(name="X")).status_code == 403
    assert client.post(reverse("contacts:segment", args=[segment.pk]), rows(name="X")).status_code == 403
    assert client.post(reverse("contacts:segment-delete", args=[segment.pk])).status_code == 403
    assert client.post(reverse("contacts:segment-count"), rows()).status_code == 403
    segment.refresh_from_db()
    assert segment.name == "GB"


def test_without_contacts_access_nothing_is_shown(client, book):
    book["account"].access_contacts = False
    book["account"].save(update_fields=["access_contacts"])
    client.force_login(MemberFactory(account=book["account"], role="admin").user)
    assert client.get(reverse("contacts:segments")).status_code == 403


def test_the_count_reads_as_english_for_one_and_many():
    from django.template.loader import render_to_string

    def text(total):
        html = render_to_string("contacts/segments/_count.html", {"count": {"total": total, "sendable": total}})
        return re.sub(r"<[^>]+>|\s+", " ", html).split("·")[0].split()

    assert text(1) == ["1", "contact", "matches"] and text(3) == ["3", "contacts", "match"]
