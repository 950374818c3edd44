"""/v3/sms-campaigns through the client with an API key: ClickSend's JSON types (checked against the SDK's strict
models), all-or-nothing /send, /price and /preview as dry runs agreeing with the service to the cent, 400s naming
the field, pagination and filters with a pinned query count, other workspaces' campaigns not found and untouched,
and capabilities."""

import time
from decimal import Decimal

import pytest
from clicksend.models import CalculateSmsCampaignPriceData, SmsCampaign
from django.core.management import call_command
from django.db.models import Sum
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient, CampaignVariant
from smsportal.accounts import services as accounts
from smsportal.accounts.models import DEFAULT_RATES, LedgerEntry
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from tests.factories import AccountFactory

from ..messaging.conftest import run_engine
from .conftest import au, balance, make_contacts, make_list

AU_RATE = DEFAULT_RATES["AU"]
BODY = "{Hi|Hello} {{first_name|there}}, our sale is on. Reply STOP to opt out"


@pytest.fixture
def account(rich):
    rich["account"].api_rate_limit = 1000  # these tests make many calls a second
    rich["account"].save(update_fields=["api_rate_limit"])
    return rich["account"]


@pytest.fixture
def api(api_for, account):
    return api_for(account)


@pytest.fixture
def other(db):
    """Another workspace, with a campaign of its own."""
    stranger = AccountFactory(default_region="AU", api_rate_limit=1000)
    accounts.credit_top_up(account=stranger, amount="10")
    people = make_contacts(stranger, [au(500), au(501)])
    contact_list = make_list(stranger, "Theirs", people)
    campaign = services.campaign_save(account=stranger, data={
        "name": "Not yours", "body": "Theirs", "list_id": contact_list.pk, "quiet_hours": False})
    return {"account": stranger, "list": contact_list, "campaign": campaign}


def ok(response):
    body = response.json()
    assert response.status_code == 200, body
    assert body["http_code"] == 200 and body["response_code"] == "SUCCESS" and body["response_msg"]
    return body["data"]


def refused(response, status, field=None, code=None):
    body = response.json()
    assert response.status_code == status, body
    assert body["http_code"] == status and body["data"] is None and body["error"]["description"]
    if code is not None:
        assert body["response_code"] == body["error"]["code"] == code
    if field is not None:
        assert field in body["error"]["fields"], body["error"]
    return body


def campaign_of(data) -> SmsCampaign:
    """The SDK's strict model (ints are ints, strings strings), and our extensions beside it."""
    model = SmsCampaign.from_dict(data)
    assert model.sms_campaign_id == data["sms_campaign_id"]
    return model


def draft(api, **fields):
    data = {"name": "Summer", "from": "ACME", "quiet_hours": False, **fields}
    if "variants" not in data:
        data.setdefault("body", BODY)
    return ok(api.post("/v3/sms-campaigns", data, format="json"))


def prepare_all(campaign_id):
    while services.campaign_prepare(campaign_id=campaign_id, limit=7)["more"]:
        pass


# --- ClickSend's: send, price ---------------------------------------------------------------------------------


def test_send_creates_and_launches_in_clicksends_shape(api, account, rich):
    expected = services.campaign_preview(campaign=services.campaign_save(
        account=account, data={"name": "x", "body": BODY, "list_id": rich["main"].pk}), samples=0).tally
    Campaign.objects.all().delete()
    before = balance(account)
    data = ok(api.post("/v3/sms-campaigns/send", {
        "list_id": rich["main"].pk, "name": "Spring", "from": "ACME", "body": BODY, "source": "crm",
        "senders": [], "url_to_shorten": "", "custom_string": "spring-1", "quiet_hours": False,
    }, format="json"))
    model = campaign_of(data)
    campaign = Campaign.objects.get()
    assert model.sms_campaign_id == campaign.pk and model.status == "Sending" and model.name == "Spring"
    assert model.user_id == account.pk and model.subaccount_id == account.pk
    assert model.list_id == rich["main"].pk and model.list_name == "Customers"
    assert (model.var_from, model.body, model.source, model.custom_string) == ("ACME", BODY, "crm", "spring-1")
    assert model.schedule == int(campaign.starts_at.timestamp()) and abs(model.date_added - time.time()) < 60
    assert model.total_count == campaign.recipients == expected.messages == 36  # 32 sendable, 4 blocked
    assert (model.url_to_shorten, model.unsubscribe_link, model.senders) == ("", 0, None)
    assert data["variants"] == [{"label": "A", "body": BODY, "split": 100}]
    assert data["audience"] == {"lists": [rich["main"].pk], "segments": [], "exclude_lists": [], "exclude_segments": []}
    assert data["schedule_mode"] == "now" and data["quiet_hours"] is False and data["rate_per_minute"] is None
    assert data["progress"] == {"recipients": 36, "prepared": 0, "counts": {}}
    assert balance(account) == before - expected.cost  # the whole cost is reserved at once

    prepare_all(campaign.pk)
    run_engine()
    shown = ok(api.get(f"/v3/sms-campaigns/{campaign.pk}"))
    assert shown["progress"]["prepared"] == 36
    assert shown["progress"]["counts"] == {statuses.DELIVERED: 32, statuses.BLOCKED: 4}


def test_send_with_a_future_schedule_is_scheduled_for_then(api, rich):
    later = int(time.time()) + 86_400
    model = campaign_of(ok(api.post("/v3/sms-campaigns/send", {
        "list_id": str(rich["second"].pk), "name": "Tomorrow", "from": "ACME", "body": "See you tomorrow",
        "schedule": later, "senders": [],
    }, format="json")))
    assert model.status == "Scheduled" and model.schedule == later and model.list_name == "VIP"
    campaign = Campaign.objects.get(pk=model.sms_campaign_id)
    assert campaign.schedule_mode == Campaign.ScheduleMode.AT and int(campaign.starts_at.timestamp()) == later


def test_send_takes_our_variants_audience_and_schedule_settings(api, rich):
    data = ok(api.post("/v3/sms-campaigns/send", {
        "name": "A/B", "from": "ACME", "variants": [{"body": "Short one", "split": 30}, {"body": BODY, "split": 70}],
        "audience": rich["audience"], "schedule_mode": "local", "local_send_at": "2030-06-01T09:30",
        "quiet_hours": True, "quiet_start": "20:00", "quiet_end": "09:00", "rate_per_minute": 600,
    }, format="json"))
    campaign_of(data)
    assert (data["status"], data["schedule_mode"], data["local_send_at"]) == ("Scheduled", "local", "2030-06-01T09:30")
    assert [(v["label"], v["split"]) for v in data["variants"]] == [("A", 30), ("B", 70)]
    assert data["body"] == "Short one"
    assert data["audience"]["lists"] == sorted(rich["audience"]["lists"])
    assert data["audience"]["exclude_lists"] == rich["audience"]["exclude_lists"]
    assert (data["quiet_start"], data["quiet_end"], data["rate_per_minute"]) == ("20:00", "09:00", 600)
    assert data["_total_count"] == 44  # 46 matched, 2 excluded


def test_a_send_refused_for_credit_leaves_nothing_behind(api_for, funded):
    people = make_contacts(funded, [au(i) for i in range(1000)])  # 1,000 × $0.055 > the $50 balance
    big = make_list(funded, "Big", people)
    api = api_for(funded)
    counts = lambda: (Campaign.objects.count(), CampaignVariant.objects.count(),  # noqa: E731
                      CampaignRecipient.objects.count(), Message.objects.count(), LedgerEntry.objects.count())
    before = counts()
    body = refused(api.post("/v3/sms-campaigns/send", {"list_id": big.pk, "name": "Too big", "from": "ACME",
                                                       "body": "Hello", "senders": []}, format="json"),
                   402, field="balance", code="INSUFFICIENT_CREDIT")
    assert "needs 55" in body["error"]["description"]
    assert counts() == before and balance(funded) == Decimal("50")


def test_price_is_the_send_as_a_dry_run(api, account, rich):
    expected = services.campaign_preview(campaign=services.campaign_save(
        account=account, data={"name": "x", "body": BODY, "list_id": rich["main"].pk}), samples=0).tally
    Campaign.objects.all().delete()
    before = (balance(account), LedgerEntry.objects.count(), CampaignVariant.objects.count())
    data = ok(api.post("/v3/sms-campaigns/price", {"list_id": str(rich["main"].pk), "name": "Spring", "from": "ACME",
                                                    "body": BODY}, format="json"))
    quote = CalculateSmsCampaignPriceData.from_dict(data)
    assert quote.total_count == expected.recipients == 32  # what goes out; the 4 blocked are never charged
    assert quote.total_price == f"{expected.cost:.4f}" and Decimal(quote.total_price) > 0
    assert (quote.data.var_from, quote.data.body, quote.data.schedule) == ("ACME", BODY, 0)
    assert quote.currency.currency_name_short == "USD" and quote.currency.currency_prefix_d == "$"
    assert not Campaign.objects.exists()
    assert (balance(account), LedgerEntry.objects.count(), CampaignVariant.objects.count()) == before
    later = int(time.time()) + 3600
    scheduled = ok(api.post("/v3/sms-campaigns/price", {"list_id": rich["main"].pk, "body": "Hi", "schedule": later},
                            format="json"))
    assert scheduled["data"]["schedule"] == later
    assert scheduled["total_price"] == f"{30 * AU_RATE + DEFAULT_RATES['GB'] + DEFAULT_RATES['US']:.4f}"
    refused(api.post("/v3/sms-campaigns/price", {"list_id": rich["main"].pk, "body": "Hi {there"}, format="json"),
            400, field="body")
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("payload,field", [
    ({"name": "x", "body": "Hi"}, "list_id"),
    ({"list_id": "LIST", "name": "x", "body": "Hi"}, "list_id"),
    ({"name": "x", "from": "ACME"}, "body"),
    ({"name": "", "body": "Hi"}, "name"),
    ({"name": "x", "body": "Hi {there|you"}, "body"),
    ({"name": "x", "body": "Hi {{shoe_size}}"}, "body"),
    ({"name": "x", "body": "Hi", "from": "far too long a sender"}, "from"),
    ({"name": "x", "body": 42}, "body"),
    ({"name": "x", "body": "Hi", "schedule": "tomorrow"}, "schedule"),
    ({"name": "x", "body": "Hi", "schedule": 10**20}, "schedule"),
    ({"name": "x", "body": "Hi", "shoe_size": 9}, "shoe_size"),
    ({"name": "x", "body": "Hi", "variants": [{"body": "Hi"}]}, "variants"),
    ({"name": "x", "variants": [{"body": "A", "split": 50}, {"body": "B", "split": 40}]}, "variants"),
    ({"name": "x", "variants": [{"body": "A", "split": 50}, {"body": "", "split": 50}]}, "variants.1.body"),
    ({"name": "x", "variants": [{"body": "A", "split": "half"}]}, "variants.0.split"),
    ({"name": "x", "body": "Hi", "quiet_start": "late"}, "quiet_start"),
    ({"name": "x", "body": "Hi", "schedule_mode": "whenever"}, "schedule_mode"),
    ({"name": "x", "body": "Hi", "schedule_mode": "local"}, "local_send_at"),
    ({"name": "x", "body": "Hi", "schedule_mode": "at"}, "schedule"),
    ({"name": "x", "body": "Hi", "local_send_at": "24 Dec"}, "local_send_at"),
    ({"name": "x", "body": "Hi", "rate_per_minute": 2_000_000}, "rate_per_minute"),
])
def test_bad_requests_name_the_field(api, rich, payload, field):
    if "list_id" not in payload and field != "list_id":
        payload = {**payload, "list_id": rich["main"].pk}
    refused(api.post("/v3/sms-campaigns/send", payload, format="json"), 400, field=field, code="BAD_REQUEST")
    assert not Campaign.objects.exists()


def test_audiences_of_another_workspace_are_named_and_refused(api, rich, other):
    refused(api.post("/v3/sms-campaigns/send", {"list_id": other["list"].pk, "name": "x", "body": "Hi"}, format="json"),
            400, field="list_id")
    refused(api.post("/v3/sms-campaigns/send", {"audience": {"lists": [rich["main"].pk],
                                                             "exclude_lists": [other["list"].pk]},
                                                "name": "x", "body": "Hi"}, format="json"), 400,
            field="audience.exclude_lists")
    refused(api.post("/v3/sms-campaigns/send", {"audience": {"lists": ["one"]}, "name": "x", "body": "Hi"},
                     format="json"), 400, field="audience.lists.0")
    refused(api.post("/v3/sms-campaigns/send", {"audience": rich["audience"], "list_id": rich["main"].pk,
                                                "name": "x", "body": "Hi"}, format="json"), 400, field="audience")
    assert not Campaign.objects.filter(account=rich["account"]).exists()


# --- ClickSend's: list, view, update, cancel ----------------------------------------------------------------


def test_the_list_paginates_filters_and_orders(api, account, rich):
    ids = [draft(api, name=f"Draft {i:02d}", list_id=rich["second"].pk)["sms_campaign_id"] for i in range(27)]
    launched = [ok(api.post("/v3/sms-campaigns/send", {"list_id": rich["second"].pk, "name": f"Sent {i}",
                                                       "body": "Hi", "quiet_hours": False}, format="json"))
                for i in range(3)]
    first = ok(api.get("/v3/sms-campaigns"))
    assert (first["total"], first["per_page"], first["current_page"], first["last_page"]) == (30, 25, 1, 2)
    assert (first["from"], first["to"], first["prev_page_url"]) == (1, 25, None) and "page=2" in first["next_page_url"]
    assert first["page"] == {"count": 2, "number": 1}
    assert first["data"][0]["sms_campaign_id"] == launched[-1]["sms_campaign_id"]  # newest first
    for item in first["data"]:
        campaign_of(item)
    second = ok(api.get("/v3/sms-campaigns?page=2&limit=25"))
    assert [c["sms_campaign_id"] for c in second["data"]] == ids[:5][::-1] and second["to"] == 30

    drafts = ok(api.get("/v3/sms-campaigns", {"q": "status:Draft", "limit": 100}))
    assert drafts["total"] == 27 and {c["status"] for c in drafts["data"]} == {"Draft"}
    assert ok(api.get("/v3/sms-campaigns", {"q": "status:Sending"}))["total"] == 3
    named = ok(api.get("/v3/sms-campaigns", {"q": "name:draft 1", "order_by": "name:desc"}))
    assert [c["name"] for c in named["data"]] == [f"Draft {i}" for i in range(19, 9, -1)]
    both = ok(api.get("/v3/sms-campaigns", {"q": "status:Draft, name:draft 2"}))
    assert [c["name"] for c in both["data"]] == [f"Draft {i}" for i in range(26, 19, -1)]
    assert ok(api.get("/v3/sms-campaigns", {"q": f"sms_campaign_id:{ids[3]}"}))["data"][0]["name"] == "Draft 03"
    ascending = ok(api.get("/v3/sms-campaigns", {"order_by": "date_added:asc", "limit": 2}))
    assert [c["sms_campaign_id"] for c in ascending["data"]] == ids[:2]
    by_schedule = ok(api.get("/v3/sms-campaigns", {"order_by": "schedule:desc", "limit": 3}))
    assert {c["status"] for c in by_schedule["data"]} == {"Sending"}
    now = int(time.time())
    assert ok(api.get("/v3/sms-campaigns", {"date_from": now - 600, "date_to": now + 60}))["total"] == 30
    assert ok(api.get("/v3/sms-campaigns", {"date_from": now + 600}))["total"] == 0
    refused(api.get("/v3/sms-campaigns", {"q": "status:Lost"}), 400, field="q")
    refused(api.get("/v3/sms-campaigns", {"q": "colour:red"}), 400, field="q")
    refused(api.get("/v3/sms-campaigns", {"order_by": "body:asc"}), 400, field="order_by")
    refused(api.get("/v3/sms-campaigns", {"date_from": "yesterday"}), 400, field="date_from")
    refused(api.get("/v3/sms-campaigns", {"limit": 0}), 400, field="limit")


def test_the_list_runs_the_same_few_queries_for_any_page(api, rich, django_assert_max_num_queries):
    for i in range(12):
        draft(api, name=f"Draft {i}", list_id=rich["main"].pk)
    for i in range(12):
        campaign_id = ok(api.post("/v3/sms-campaigns/send", {"audience": rich["audience"], "name": f"Sent {i}",
                                                            "body": BODY, "quiet_hours": False},
                                  format="json"))["sms_campaign_id"]
        prepare_all(campaign_id)
    run_engine()
    # The key (with its account), the count, the page, its variants, one rollup query for every launched
    # campaign's counts by status, and the lists' names: whatever the page's size.
    with django_assert_max_num_queries(6):
        page = ok(api.get("/v3/sms-campaigns", {"limit": 100}))
    assert page["total"] == 24
    sent = [c for c in page["data"] if c["status"] == "Sending"]
    assert len(sent) == 12 and all(c["progress"]["counts"][statuses.DELIVERED] == 40 for c in sent)
    assert all(c["_list_name"] in ("Customers", "VIP") for c in page["data"])
    with django_assert_max_num_queries(6):
        ok(api.get("/v3/sms-campaigns", {"limit": 3}))


def test_update_changes_a_draft_and_refuses_a_launched_one(api, rich):
    created = draft(api, list_id=rich["main"].pk)
    campaign_id = created["sms_campaign_id"]
    assert created["status"] == "Draft" and created["_total_count"] == 0 and created["schedule"] == 0
    later = int(time.time()) + 7200
    updated = ok(api.put(f"/v3/sms-campaigns/{campaign_id}", {
        "list_id": str(rich["second"].pk), "name": "Renamed", "from": "SHOP", "body": "New words", "schedule": later,
    }, format="json"))
    model = campaign_of(updated)
    assert (model.name, model.var_from, model.body, model.list_id, model.list_name) == (
        "Renamed", "SHOP", "New words", rich["second"].pk, "VIP")
    assert model.schedule == later and updated["schedule_mode"] == "at" and model.status == "Draft"
    kept = ok(api.put(f"/v3/sms-campaigns/{campaign_id}", {"custom_string": "batch-7"}, format="json"))
    assert kept["name"] == "Renamed" and kept["custom_string"] == "batch-7" and kept["schedule"] == later
    now = ok(api.put(f"/v3/sms-campaigns/{campaign_id}", {"schedule": 0}, format="json"))
    assert now["schedule"] == 0 and now["schedule_mode"] == "now"
    ok(api.put(f"/v3/sms-campaigns/{campaign_id}", {"body": "Hi {there"}, format="json"))  # a draft may be broken
    refused(api.post(f"/v3/sms-campaigns/{campaign_id}/launch"), 400, field="variants.0.body")
    ok(api.put(f"/v3/sms-campaigns/{campaign_id}", {"body": "Hi there", "quiet_hours": False}, format="json"))
    assert ok(api.post(f"/v3/sms-campaigns/{campaign_id}/launch"))["status"] == "Sending"
    refused(api.put(f"/v3/sms-campaigns/{campaign_id}", {"name": "Too late"}, format="json"), 400, field="status")
    assert Campaign.objects.get(pk=campaign_id).name == "Renamed"


def test_cancel_answers_the_campaign_and_refunds(api, account, rich):
    before = balance(account)
    sent = ok(api.post("/v3/sms-campaigns/send", {"list_id": rich["main"].pk, "name": "Oops", "body": "Hi",
                                                  "schedule": int(time.time()) + 3600}, format="json"))
    assert balance(account) < before
    prepare_all(sent["sms_campaign_id"])
    cancelled = campaign_of(ok(api.put(f"/v3/sms-campaigns/{sent['sms_campaign_id']}/cancel")))
    assert cancelled.status == "Cancelled" and balance(account) == before
    assert ok(api.get(f"/v3/sms-campaigns/{sent['sms_campaign_id']}"))["progress"]["counts"][statuses.CANCELLED] == 32
    refused(api.put(f"/v3/sms-campaigns/{sent['sms_campaign_id']}/cancel"), 400, field="status")
    draft_id = draft(api)["sms_campaign_id"]
    refused(api.put(f"/v3/sms-campaigns/{draft_id}/cancel"), 400, field="status")


# --- smsportal's: drafts, launch, pause, resume, duplicate, delete, test, report, preview -------------------


def test_a_draft_launches_pauses_resumes_duplicates_and_deletes(api, account, rich):
    created = draft(api, audience=rich["audience"],
                    variants=[{"body": "One", "split": 50}, {"body": BODY, "split": 50}])
    campaign_id = created["sms_campaign_id"]
    assert [v["label"] for v in created["variants"]] == ["A", "B"] and created["status"] == "Draft"
    launched = ok(api.post(f"/v3/sms-campaigns/{campaign_id}/launch"))
    assert launched["status"] == "Sending" and launched["launched_at"] and launched["_total_count"] == 44
    refused(api.post(f"/v3/sms-campaigns/{campaign_id}/launch"), 400, field="status")
    refused(api.put(f"/v3/sms-campaigns/{campaign_id}/resume"), 400, field="status")
    assert ok(api.put(f"/v3/sms-campaigns/{campaign_id}/pause"))["status"] == "Paused"
    refused(api.delete(f"/v3/sms-campaigns/{campaign_id}"), 400, field="status")
    assert ok(api.put(f"/v3/sms-campaigns/{campaign_id}/resume"))["status"] == "Sending"
    copy = ok(api.post(f"/v3/sms-campaigns/{campaign_id}/duplicate"))
    assert copy["status"] == "Draft" and copy["name"] == "Summer (copy)" and copy["sms_campaign_id"] != campaign_id
    assert copy["variants"] == launched["variants"] and copy["audience"] == launched["audience"]
    assert ok(api.delete(f"/v3/sms-campaigns/{copy['sms_campaign_id']}")) is True
    refused(api.get(f"/v3/sms-campaigns/{copy['sms_campaign_id']}"), 404, field="sms_campaign_id", code="NOT_FOUND")
    ok(api.put(f"/v3/sms-campaigns/{campaign_id}/cancel"))
    assert ok(api.delete(f"/v3/sms-campaigns/{campaign_id}")) is True
    assert not Campaign.objects.filter(pk=campaign_id).exists()


def test_a_test_send_texts_the_chosen_contacts_message(api, account, rich):
    campaign_id = draft(api, list_id=rich["main"].pk, body="Hi {{first_name|there}}")["sms_campaign_id"]
    olivia = rich["people"][0]
    before = balance(account)
    sent = ok(api.post(f"/v3/sms-campaigns/{campaign_id}/test", {"to": "+61412340077", "contact_id": olivia.pk},
                       format="json"))
    assert sent["queued_count"] == 1 and sent["messages"][0]["body"] == "Hi Olivia"
    assert sent["messages"][0]["status"] == "SUCCESS" and sent["messages"][0]["message_id"].isdigit()
    assert balance(account) == before - AU_RATE
    message = Message.objects.get(pk=int(sent["messages"][0]["message_id"]))
    assert message.to == "+61412340077" and message.campaign_id is None
    plain = ok(api.post(f"/v3/sms-campaigns/{campaign_id}/test", {"to": "+61412340077"}, format="json"))
    assert plain["messages"][0]["body"] == "Hi there"
    refused(api.post(f"/v3/sms-campaigns/{campaign_id}/test", {"to": "not a phone"}, format="json"), 400, field="to")
    refused(api.post(f"/v3/sms-campaigns/{campaign_id}/test", {}, format="json"), 400, field="to")
    ok(api.put(f"/v3/sms-campaigns/{campaign_id}", {"body": "Hi {there"}, format="json"))
    refused(api.post(f"/v3/sms-campaigns/{campaign_id}/test", {"to": "+61412340077"}, format="json"), 400,
            field="variants.0.body")


def test_the_report_has_totals_rates_variants_and_choices(api, account, rich):
    sent = ok(api.post("/v3/sms-campaigns/send", {
        "name": "Report", "audience": rich["audience"], "quiet_hours": False,
        "variants": [{"body": "{Hi|Hello} there", "split": 50}, {"body": "Hey {{first_name|you}}", "split": 50}],
    }, format="json"))
    campaign_id = sent["sms_campaign_id"]
    prepare_all(campaign_id)
    run_engine()
    services.campaign_sample(campaign=Campaign.objects.get(pk=campaign_id))
    report = ok(api.get(f"/v3/sms-campaigns/{campaign_id}/report"))
    total = report["total"]
    assert report["sms_campaign_id"] == campaign_id and report["status"] == "Sending" and report["currency"] == "USD"
    assert total["messages"] == 44 and total["counts"] == {statuses.DELIVERED: 40, statuses.BLOCKED: 4}
    assert total["delivery_rate"] == 1.0 and total["reply_rate"] == 0.0 and total["opt_out_rate"] == 0.0
    charged = Message.objects.filter(campaign_id=campaign_id, status=statuses.DELIVERED).aggregate(p=Sum("price"))["p"]
    assert total["spend"] == f"{charged:.4f}" and charged > 0
    assert report["progress"] == 100 and report["waiting"] == 0
    assert [v["label"] for v in report["variants"]] == ["A", "B"]
    assert sum(v["messages"] for v in report["variants"]) == 44
    assert [c["label"] for c in report["choices"]["A"]] == ["A · “Hi”", "A · “Hello”"]
    assert sum(c["messages"] for c in report["choices"]["A"]) == report["variants"][0]["messages"]
    assert report["samples"][-1]["counts"][statuses.DELIVERED] == 40 and isinstance(report["samples"][-1]["at"], int)


def test_the_preview_shows_what_the_composer_does_and_saves_nothing(api, account, rich):
    body_b = "Hey {{first_name}}! Our “summer” sale starts now — 20 % off everything… {see you there|come by soon}"
    chosen = rich["people"][3]
    payload = {"name": "Preview", "audience": rich["audience"], "contact_id": chosen.pk,
               "variants": [{"body": BODY, "split": 50}, {"body": body_b, "split": 50}]}
    data = ok(api.post("/v3/sms-campaigns/preview", payload, format="json"))
    assert not Campaign.objects.exists() and not CampaignVariant.objects.exists()
    assert data["problems"] == []
    assert (data["matched"], data["excluded"], data["duplicates"], data["recipients"], data["messages"]) == (
        46, 2, 5, 40, 44)
    assert data["blocked"] == {"opted_out": 1, "invalid_number": 1, "landline": 1, "no_route": 1}
    assert {c["country"]: c["messages"] for c in data["countries"]} == {"AU": 38, "GB": 1, "US": 1}
    au_line = next(c for c in data["countries"] if c["country"] == "AU")
    assert au_line["rate"] == f"{AU_RATE:.4f}"
    assert Decimal(data["cost"]) == sum(Decimal(c["cost"]) for c in data["countries"])
    assert (data["currency"], data["balance"]) == ("USD", f"{balance(account):.4f}")
    assert data["short_of_credit"] is False
    a, b = data["variants"]
    assert (a["label"], a["split"], a["bodies"]) == ("A", 50, 2)
    assert a["encodings"] == ["GSM-7", "UCS-2"]  # Zoë's name is not GSM-7
    assert b["encodings"] == ["UCS-2"] and Decimal(b["smart_saves"]) > 0 and a["smart_cost"] is None
    assert a["recipients"] + b["recipients"] == 40 and a["segments_min"] == a["segments_max"] == 1
    assert set(data["missing"]) == {"first_name"} and 0 < data["missing"]["first_name"] < b["recipients"]
    assert data["unicode_chars"] == {"B": ["“", "”", "—", "…"]} and "..." in data["smart_bodies"]["B"]
    sample = data["samples"][0]
    assert sample["contact_id"] == chosen.pk and sample["chosen"] is True and sample["phone"] == chosen.phone_number
    assert sample["variant"] in ("A", "B") and sample["encoding"] in ("GSM-7", "UCS-2") and sample["segments"] >= 1

    broken = ok(api.post("/v3/sms-campaigns/preview", {"body": "Hi {there", "list_id": rich["main"].pk},
                         format="json"))
    assert broken["problems"] == [{"field": "variants.0.body", "message": broken["problems"][0]["message"],
                                   "position": 3, "label": "A"}]
    assert broken["recipients"] is None and broken["cost"] is None and broken["variants"] == []
    assert not Campaign.objects.exists()


def test_the_preview_of_a_saved_draft_is_exact_and_takes_unsaved_changes(api, rich):
    created = draft(api, audience=rich["audience"])
    campaign = Campaign.objects.get(pk=created["sms_campaign_id"])
    chosen = rich["people"][5]
    expected = services.campaign_preview(campaign=campaign, chosen_contact_id=chosen.pk)
    data = ok(api.post("/v3/sms-campaigns/preview", {"sms_campaign_id": campaign.pk, "contact_id": chosen.pk},
                       format="json"))
    assert data["samples"][0]["body"] == expected.samples[0].body and data["samples"][0]["chosen"]
    assert data["cost"] == f"{expected.tally.cost:.4f}" and data["recipients"] == expected.tally.recipients
    changed = ok(api.post("/v3/sms-campaigns/preview", {"sms_campaign_id": campaign.pk, "list_id": rich["second"].pk},
                          format="json"))
    assert changed["recipients"] == 15 and changed["excluded"] == 0
    campaign.refresh_from_db()
    assert campaign.audience == {**created["audience"]} and Campaign.objects.count() == 1


# --- Isolation and capabilities -------------------------------------------------------------------------------


@pytest.mark.parametrize("method,suffix,payload", [
    ("get", "", None), ("put", "", {"name": "Mine now"}), ("delete", "", None), ("put", "/cancel", None),
    ("put", "/pause", None), ("put", "/resume", None), ("post", "/launch", None), ("post", "/duplicate", None),
    ("post", "/test", {"to": "+61412340077"}), ("get", "/report", None),
])
def test_another_workspaces_campaign_is_not_found_and_untouched(api, other, method, suffix, payload):
    theirs = other["campaign"]
    response = getattr(api, method)(f"/v3/sms-campaigns/{theirs.pk}{suffix}", payload, format="json")
    refused(response, 404, field="sms_campaign_id", code="NOT_FOUND")
    theirs.refresh_from_db()
    assert (theirs.name, theirs.status, theirs.launched_at) == ("Not yours", Campaign.Status.DRAFT, None)
    assert Campaign.objects.filter(account=other["account"]).count() == 1
    assert not Message.objects.exists()


def test_previewing_another_workspaces_campaign_is_not_found(api, other):
    refused(api.post("/v3/sms-campaigns/preview", {"sms_campaign_id": other["campaign"].pk}, format="json"), 404,
            field="sms_campaign_id")
    refused(api.get("/v3/sms-campaigns/999999"), 404, code="NOT_FOUND")
    assert ok(api.get("/v3/sms-campaigns"))["total"] == 0


def test_a_viewer_reads_but_cannot_compose_launch_or_send(rich, user_with_role, account):
    campaign = services.campaign_save(account=account, data={"name": "Seen", "body": "Hi", "list_id": rich["main"].pk})
    client = APIClient()
    client.force_login(user_with_role("viewer"))
    assert ok(client.get("/v3/sms-campaigns"))["total"] == 1
    assert ok(client.get(f"/v3/sms-campaigns/{campaign.pk}"))["name"] == "Seen"
    ok(client.get(f"/v3/sms-campaigns/{campaign.pk}/report"))
    ok(client.post("/v3/sms-campaigns/preview", {"sms_campaign_id": campaign.pk}, format="json"))
    for method, path, payload in [
        ("post", f"/v3/sms-campaigns/{campaign.pk}/launch", None),
        ("post", "/v3/sms-campaigns/send", {"list_id": rich["main"].pk, "name": "x", "body": "Hi"}),
        ("post", "/v3/sms-campaigns/price", {"list_id": rich["main"].pk, "name": "x", "body": "Hi"}),
        ("post", "/v3/sms-campaigns", {"name": "x"}),
        ("put", f"/v3/sms-campaigns/{campaign.pk}", {"name": "Changed"}),
        ("post", f"/v3/sms-campaigns/{campaign.pk}/test", {"to": "+61412340077"}),
        ("delete", f"/v3/sms-campaigns/{campaign.pk}", None),
    ]:
        refused(getattr(client, method)(path, payload, format="json"), 403, code="FORBIDDEN")
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) == ("Seen", Campaign.Status.DRAFT) and not Message.objects.exists()


def test_an_agent_may_send_sms_but_not_campaigns(rich, user_with_role):
    client = APIClient()
    client.force_login(user_with_role("agent"))
    refused(client.get("/v3/sms-campaigns"), 403, code="FORBIDDEN")
    refused(client.post("/v3/sms-campaigns/send", {"list_id": rich["main"].pk, "name": "x", "body": "Hi"},
                        format="json"), 403)
    assert not Campaign.objects.exists()


def test_a_subaccount_without_sms_access_gets_403(api_for, sub_account):
    sub_account.access_sms = False
    sub_account.save(update_fields=["access_sms"])
    refused(api_for(sub_account).get("/v3/sms-campaigns"), 403, code="FORBIDDEN")


def test_a_subaccounts_campaign_names_its_main_account_as_user(api_for, sub_account):
    data = ok(api_for(sub_account).post("/v3/sms-campaigns", {"name": "Child's", "body": "Hi"}, format="json"))
    model = campaign_of(data)
    assert model.user_id == sub_account.parent_id and model.subaccount_id == sub_account.pk
    assert model.list_id is None and model.list_name is None


def test_no_credentials_is_401(db):
    refused(APIClient().get("/v3/sms-campaigns"), 401, code="UNAUTHORIZED")


def test_the_schema_documents_the_campaign_endpoints_without_warnings(db, tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/v3/sms-campaigns:", "/v3/sms-campaigns/send:", "/v3/sms-campaigns/price:",
                 "/v3/sms-campaigns/preview:", "/v3/sms-campaigns/{sms_campaign_id}/cancel:",
                 "/v3/sms-campaigns/{sms_campaign_id}/report:"):
        assert path in text
