"""Ids inside request bodies and query strings, not in the URL: the other way to name a sibling's object.

Sibling A posts its own forms and API calls with B's list, contact, campaign, conversation or member named in the
data. Each is refused (404, or 400 naming the field), nothing of B's changes, and nothing of B's is shown back;
the same request with A's own id is the control.
"""

import pytest
from django.test import Client
from django.utils import timezone

from inbox.models import Conversation
from smsportal.messaging.models import Message, WebhookDelivery
from tests.conftest import KeyClient

from .conftest import snapshot


def ui(workspace) -> Client:
    return workspace.browser()


def api(workspace) -> KeyClient:
    return KeyClient(workspace.account, workspace.raw_key)


def b_phone(family) -> str:
    from contacts.models import Contact

    return Contact.objects.get(pk=family["b"].ids["contact_id"]).phone_number


# Each asks as the client's workspace (`own` ids), naming `theirs` where the id under test goes.
def _list_add(client, own, theirs):
    return client.post(f"/contacts/{own['contact_id']}/lists/add/", {"contact_list": theirs["list_id"]})


def _bulk_into_list(client, own, theirs):
    return client.post("/contacts/bulk/", {"action": "add_to_list", "ids": [own["contact_id"]],
                                           "contact_list": theirs["list_id"]})


def _campaign_preview(client, own, theirs):
    return client.post("/campaigns/preview/", {"campaign_id": theirs["campaign_id"], "name": "x", "body": "Hi"})


def _ui_send_to_list(client, own, theirs):
    return client.post("/messages/send/", {"mode": "list", "contact_list": theirs["list_id"], "body": "Hi"})


def _ui_assign(client, own, theirs):
    return client.post(f"/inbox/{own['conversation_id']}/assign/", {"user_id": theirs["user_id"]})


def _import_into_list(client, own, theirs):
    return client.post(f"/contacts/import/{own['job_id']}/", {
        "col_0": "phone_number", "col_1": "first_name", "default_country": "AU", "has_header": "on",
        "contact_list": theirs["list_id"]})


def _segment_rules(client, own, theirs):
    return client.post("/v3/segments", {"name": "Theirs", "rules": {
        "match": "all", "conditions": [{"type": "list", "lists": [theirs["list_id"]]}]}}, format="json")


def _api_send_to_list(client, own, theirs):
    return client.post("/v3/sms/send", {"messages": [{"list_id": theirs["list_id"], "body": "Hi"}]}, format="json")


def _api_campaign_to_list(client, own, theirs):
    return client.post("/v3/sms-campaigns/send", {"name": "Theirs", "body": "Hi", "list_id": theirs["list_id"]},
                       format="json")


def _api_assign(client, own, theirs):
    return client.put(f"/v3/conversations/{own['conversation_id']}/assign", {"user_id": theirs["user_id"]},
                      format="json")


def _switch_workspace(client, own, theirs):
    return client.post("/switch/", {"account_id": theirs["subaccount_id"]})


# (name, client, request, how it is refused: 404, or 400 naming the field, or a redirect flashing the reason)
CASES = [
    ("switch into their workspace", ui, _switch_workspace, 404),
    ("add my contact to their list", ui, _list_add, 404),
    ("bulk-add my contact to their list", ui, _bulk_into_list, 404),
    ("preview their campaign", ui, _campaign_preview, 404),
    ("send to their list (UI)", ui, _ui_send_to_list, "contact_list"),
    ("assign my conversation to their member (UI)", ui, _ui_assign, "Assign the conversation to a member"),
    ("import my file into their list", ui, _import_into_list, "contact_list"),
    ("a segment of their list", api, _segment_rules, "rules.conditions.0.lists"),
    ("send to their list (API)", api, _api_send_to_list, "messages.0.list_id"),
    ("a campaign to their list (API)", api, _api_campaign_to_list, "list_id"),
    ("assign my conversation to their member (API)", api, _api_assign, "user_id"),
]


def assert_refused(client, response, how):
    if how == 404:
        assert response.status_code == 404, response.status_code
    elif response["Content-Type"].startswith("application/json"):
        body = response.json()
        assert response.status_code == 400 and how in body["error"]["fields"], body
    elif response.status_code == 302:  # the action redirects back and says why
        shown = client.get(response["Location"])
        assert how in shown.content.decode(), shown.content[:500]
    else:
        assert response.status_code == 400 and how in response.context["form"].errors, response.status_code


@pytest.mark.parametrize("name, make_client, ask, how", CASES, ids=[c[0] for c in CASES])
def test_a_siblings_id_in_the_body_is_refused(family, name, make_client, ask, how):
    a, b = family["a"], family["b"]
    client = make_client(a)
    before, a_messages = snapshot(b.account), Message.objects.filter(account=a.account).count()
    r = ask(client, a.ids, b.ids)
    assert_refused(client, r, how)
    assert snapshot(b.account) == before
    assert b_phone(family).encode() not in r.content
    assert Message.objects.filter(account=a.account).count() == a_messages  # nobody of B's was texted from A
    assert Conversation.objects.get(pk=a.ids["conversation_id"]).assigned_to_id is None


@pytest.mark.parametrize("name, make_client, ask, how", CASES, ids=[c[0] for c in CASES])
def test_the_same_request_with_ones_own_id_goes_through(family, name, make_client, ask, how):
    a = family["a"]
    r = ask(make_client(a), a.ids, a.ids)
    assert r.status_code in (200, 302), (r.status_code, r.content[:500])
    if r["Content-Type"].startswith("application/json"):
        assert r.json()["http_code"] == 200, r.json()


def test_the_inbox_list_does_not_open_a_siblings_conversation(family):
    a, b = family["a"], family["b"]
    r = ui(a).get(f"/inbox/list/?c={b.ids['conversation_id']}")
    assert r.status_code == 200 and b_phone(family).encode() not in r.content
    own = ui(b).get(f"/inbox/list/?c={b.ids['conversation_id']}")
    assert b_phone(family).encode() in own.content  # the control: B's own list shows it


def test_the_delivery_log_does_not_filter_into_a_siblings_rule(family):
    a, b = family["a"], family["b"]
    WebhookDelivery.objects.create(rule_id=b.ids["receipt_rule_id"], account=b.account, event="receipt",
                                   url="http://127.0.0.1:9/b-only-delivery", payload={}, created_at=timezone.now())
    for client, expected in ((api(a), 0), (api(b), 1)):  # B's own key is the control
        r = client.get(f"/v3/automations/deliveries?rule_id={b.ids['receipt_rule_id']}")
        assert r.status_code == 200 and r.json()["data"]["total"] == expected
    for client, shown in ((ui(a), False), (ui(b), True)):
        r = client.get(f"/settings/webhooks/?rule={b.ids['receipt_rule_id']}")
        assert r.status_code == 200 and (b"b-only-delivery" in r.content) == shown
