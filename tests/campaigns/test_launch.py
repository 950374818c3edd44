"""Preview, launch and fan-out agree to the recipient and the cent; what is blocked is kept and never charged;
credit is reserved whole or the launch writes nothing; quiet hours, DST, pause, resume and cancel."""

import datetime
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient, CampaignResponse
from contacts.models import Contact
from smsportal.accounts.models import DEFAULT_RATES, LedgerEntry
from smsportal.errors import DomainError, InsufficientCredit
from smsportal.messaging import dispatch, encoding, statuses
from smsportal.messaging.models import Message

from ..messaging.conftest import run_engine
from .conftest import au, balance, make_contacts, make_list

UTC = datetime.UTC
BODY_A = "{Hi|Hello|G'day} {{first_name|there}}, {{suburb|your area}} has a {sale|deal} on. Reply STOP to opt out"
BODY_B = "Hey {{first_name}}! Our “summer” sale starts now — 20 % off everything… {see you there|come by soon}"


def draft(account, audience, *bodies, splits=None, **extra):
    variants = [{"body": b, "split": s} for b, s in zip(bodies, splits or [100 // len(bodies)] * len(bodies))]
    return services.campaign_save(account=account, data={"name": "Summer", "sender": "ACME", "variants": variants,
                                                         "audience": audience, **extra})


def prepare_all(campaign):
    while services.campaign_prepare(campaign_id=campaign.pk, limit=7)["more"]:
        pass
    campaign.refresh_from_db()
    return campaign


def test_preview_counts_segments_and_cost_equal_what_the_launch_stores_and_charges(rich):
    account = rich["account"]
    campaign = draft(account, rich["audience"], BODY_A, BODY_B, splits=[50, 50])
    preview = services.campaign_preview(campaign=campaign)
    t = preview.tally
    assert not preview.problems
    assert (t.matched, t.excluded, t.duplicates) == (46, 2, 5)
    assert dict(t.blocked) == {"opted_out": 1, "invalid_number": 1, "landline": 1, "no_route": 1}
    assert t.recipients == 40 and {c: line.messages for c, line in t.countries.items()} == {"AU": 38, "GB": 1, "US": 1}
    assert t.cost == sum(line.cost for line in t.countries.values()) > 0
    assert [v.label for v in t.variants] == ["A", "B"] and sum(v.recipients for v in t.variants) == 40
    assert t.variants[1].encodings == {encoding.UCS_2} and t.variants[1].smart_cost < t.variants[1].cost
    before = balance(account)

    services.campaign_launch(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING and campaign.reserved == t.cost
    assert balance(account) == before - t.cost
    prepare_all(campaign)

    messages = Message.objects.filter(campaign_id=campaign.pk)
    assert campaign.prepared == campaign.recipients == messages.count() == 44
    assert not CampaignRecipient.objects.filter(campaign_id=campaign.pk).exists()  # the snapshot is dropped
    blocked = dict(Counter(messages.filter(status=statuses.BLOCKED).values_list("blocked_reason", flat=True)))
    assert blocked == dict(t.blocked)
    sendable = messages.exclude(status=statuses.BLOCKED)
    assert sendable.count() == t.recipients
    assert sendable.aggregate(s=Sum("segments"))["s"] == t.segments
    assert sendable.aggregate(p=Sum("price"))["p"] == t.cost
    assert messages.filter(status=statuses.BLOCKED).aggregate(p=Sum("price"))["p"] == 0
    for country, line in t.countries.items():
        assert sendable.filter(country=country).aggregate(p=Sum("price"))["p"] == line.cost
    by_variant = Counter(key.split("/")[0] for key in sendable.values_list("variant_key", flat=True))
    assert by_variant == {v.label: v.recipients for v in t.variants}


def test_each_recipients_body_is_the_same_in_preview_launch_and_retry(rich):
    account = rich["account"]
    campaign = draft(account, rich["audience"], BODY_A, BODY_B, splits=[50, 50], quiet_hours=False)
    chosen = rich["people"][3]
    preview = services.campaign_preview(campaign=campaign, chosen_contact_id=chosen.pk, samples=4)
    assert preview.samples[0].chosen and preview.samples[0].contact_id == chosen.pk
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    stored = dict(Message.objects.filter(campaign_id=campaign.pk).values_list("contact_id", "body"))
    for sample in preview.samples:
        assert stored[sample.contact_id] == sample.body
    # A retry (or anyone) rendering again gets the stored body, for every recipient.
    plan, _ = services.plan_for(campaign)
    custom = services._custom_keys(account)
    for contact in Contact.objects.filter(pk__in=stored):
        if contact.pk in stored and Message.objects.filter(campaign_id=campaign.pk, contact_id=contact.pk,
                                                            status=statuses.BLOCKED).count() == 0:
            assert plan.render(contact.pk, services.contact_values(contact, plan.fields, custom)).body == stored[contact.pk]
    run_engine()
    sent = Message.objects.filter(campaign_id=campaign.pk, status=statuses.DELIVERED)
    assert sent.count() == 40 and dict(sent.values_list("contact_id", "body")) == {
        k: v for k, v in stored.items() if k in set(sent.values_list("contact_id", flat=True))}


def test_a_fifty_fifty_split_over_ten_thousand_recipients_lands_within_two_percent(funded):
    from smsportal.accounts import services as accounts

    accounts.credit_top_up(account=funded, amount="2000")
    people = make_contacts(funded, [au(i) for i in range(10_000)])
    audience = {"lists": [make_list(funded, "Everyone", people).pk]}
    campaign = draft(funded, audience, "Variant one {a|b}", "Variant two", splits=[50, 50])
    preview = services.campaign_preview(campaign=campaign, samples=0)
    shares = [v.recipients for v in preview.tally.variants]
    assert sum(shares) == 10_000 and all(abs(s - 5000) <= 200 for s in shares)
    services.campaign_launch(campaign=campaign)
    while services.campaign_prepare(campaign_id=campaign.pk)["more"]:
        pass
    stored = Counter(k.split("/")[0] for k in Message.objects.filter(campaign_id=campaign.pk)
                     .values_list("variant_key", flat=True))
    assert [stored["A"], stored["B"]] == shares


def test_insufficient_credit_refuses_the_launch_and_writes_nothing(funded):
    people = make_contacts(funded, [au(i) for i in range(1000)])  # 1,000 × $0.055 > the $50 balance
    audience = {"lists": [make_list(funded, "Big", people).pk]}
    campaign = draft(funded, audience, "Hello {{first_name|there}}")
    ledger_before = LedgerEntry.objects.count()
    with pytest.raises(InsufficientCredit) as refused:
        services.campaign_launch(campaign=campaign)
    assert "needs 55" in refused.value.message and "balance is 50" in refused.value.message
    assert refused.value.field == "balance"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and campaign.launched_at is None
    assert not Message.objects.filter(campaign_id=campaign.pk).exists()
    assert not CampaignRecipient.objects.filter(campaign_id=campaign.pk).exists()
    assert LedgerEntry.objects.count() == ledger_before and balance(funded) == Decimal("50")


def test_opted_out_and_invalid_numbers_are_blocked_and_cost_nothing(rich):
    account = rich["account"]
    campaign = draft(account, {"lists": [rich["main"].pk]}, "Hi {{first_name|there}}", quiet_hours=False)
    before = balance(account)
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    run_engine()
    messages = Message.objects.filter(campaign_id=campaign.pk)
    blocked = messages.filter(status=statuses.BLOCKED)
    assert set(blocked.values_list("to", "blocked_reason")) == {
        (au(90), "opted_out"), ("+6112", "invalid_number"), ("+61298765432", "landline"), ("+819012345678", "no_route")}
    assert blocked.aggregate(p=Sum("price"))["p"] == 0
    charged = messages.filter(status__in=statuses.REACHED_CARRIER).aggregate(p=Sum("price"))["p"]
    assert balance(account) == before - charged
    assert charged == 30 * DEFAULT_RATES["AU"] + DEFAULT_RATES["GB"] + DEFAULT_RATES["US"]


def test_launch_refuses_errors_with_their_position(rich):
    campaign = draft(rich["account"], rich["audience"], "Hi {there|you")
    with pytest.raises(DomainError) as refused:
        services.campaign_launch(campaign=campaign)
    assert refused.value.field == "variants.0.body" and "position 3" in refused.value.message
    nobody = draft(rich["account"], {}, "Hi")
    with pytest.raises(DomainError) as empty:
        services.campaign_launch(campaign=nobody)
    assert empty.value.field == "audience"
    with pytest.raises(DomainError) as edit:
        services.campaign_launch(campaign=draft(rich["account"], rich["audience"], "Hello"))
        services.campaign_save(account=rich["account"], data={"name": "x"},
                               campaign=Campaign.objects.filter(account=rich["account"]).exclude(launched_at=None).get())
    assert edit.value.field == "status"


def test_quiet_hours_hold_messages_until_the_window_opens(funded, time_machine):
    sydney = ZoneInfo("Australia/Sydney")
    time_machine.move_to(datetime.datetime(2026, 12, 2, 22, 15, tzinfo=sydney), tick=False)
    people = make_contacts(funded, [au(i) for i in range(5)])
    campaign = draft(funded, {"lists": [make_list(funded, "Night", people).pk]}, "Late offer")
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    opening = datetime.datetime(2026, 12, 3, 8, 0, tzinfo=sydney)
    waiting = Message.objects.filter(campaign_id=campaign.pk)
    assert set(waiting.values_list("status", flat=True)) == {statuses.SCHEDULED}
    assert set(waiting.values_list("next_attempt_at", flat=True)) == {opening}
    assert dispatch.release_due(now=opening - datetime.timedelta(minutes=1)) == 0
    assert dispatch.dispatch_batch(now=opening - datetime.timedelta(minutes=1))["claimed"] == 0
    assert dispatch.release_due(now=opening) == 5
    assert dispatch.dispatch_batch(now=opening)["accepted"] == 5


def test_a_local_time_campaign_follows_each_recipients_daylight_saving(funded, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 6, 12, 0, tzinfo=UTC), tick=False)
    from smsportal.accounts import services as accounts

    accounts.credit_top_up(account=funded, amount="10")
    people = make_contacts(funded, ["+12125550100", "+14155550123"], country="US")
    audience = {"lists": [make_list(funded, "US", people).pk]}
    saturday = draft(funded, audience, "Sat", schedule_mode="local", local_send_at="2026-03-07T09:00")
    sunday = draft(funded, audience, "Sun", schedule_mode="local", local_send_at="2026-03-08T09:00")
    for campaign in (saturday, sunday):
        services.campaign_launch(campaign=campaign)
        prepare_all(campaign)
    due = {(m.body, m.to): m.next_attempt_at for m in Message.objects.filter(campaign_id__in=[saturday.pk, sunday.pk])}
    assert due[("Sat", "+12125550100")] == datetime.datetime(2026, 3, 7, 14, 0, tzinfo=UTC)  # EST, UTC-5
    assert due[("Sun", "+12125550100")] == datetime.datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # EDT, UTC-4
    assert due[("Sat", "+14155550123")] == datetime.datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # PST, UTC-8
    assert due[("Sun", "+14155550123")] == datetime.datetime(2026, 3, 8, 16, 0, tzinfo=UTC)  # PDT, UTC-7
    saturday.refresh_from_db()
    assert saturday.status == Campaign.Status.SCHEDULED


def test_a_send_rate_spreads_the_campaign(funded, time_machine):
    now = datetime.datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # midday in Sydney
    time_machine.move_to(now, tick=False)
    people = make_contacts(funded, [au(i) for i in range(6)])
    campaign = draft(funded, {"lists": [make_list(funded, "Slow", people).pk]}, "Paced", rate_per_minute=2)
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    due = sorted(Message.objects.filter(campaign_id=campaign.pk).values_list("next_attempt_at", flat=True))
    assert [(d - now).total_seconds() for d in due] == [0, 30, 60, 90, 120, 150]


def test_pause_resume_and_cancel_with_exact_refunds(funded):
    people = make_contacts(funded, [au(i) for i in range(10)])
    campaign = draft(funded, {"lists": [make_list(funded, "Ten", people).pk]}, "Hello {{first_name|there}}",
                     quiet_hours=False)
    price = DEFAULT_RATES["AU"]
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    assert balance(funded) == Decimal("50") - 10 * price

    first = dispatch.dispatch_batch(limit=4)
    assert first["accepted"] == 4
    services.campaign_pause(campaign=campaign)
    assert dispatch.dispatch_batch()["claimed"] == 0  # held
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED

    services.campaign_resume(campaign=campaign)
    assert services.campaign_replan(campaign_id=campaign.pk)["replanned"] == 6
    assert dispatch.dispatch_batch(limit=3)["accepted"] == 3

    services.campaign_cancel(campaign=campaign)
    campaign.refresh_from_db()
    messages = Message.objects.filter(campaign_id=campaign.pk)
    assert campaign.status == Campaign.Status.CANCELLED and campaign.finished_at is not None
    assert Counter(messages.values_list("status", flat=True)) == {statuses.SENT: 7, statuses.CANCELLED: 3}
    assert balance(funded) == Decimal("50") - 7 * price  # the three that never went are refunded, exactly
    with pytest.raises(DomainError):
        services.campaign_resume(campaign=campaign)


def test_cancel_while_the_fan_out_is_half_done_refunds_the_unwritten_part(funded):
    people = make_contacts(funded, [au(i) for i in range(20)])
    campaign = draft(funded, {"lists": [make_list(funded, "Twenty", people).pk]}, "Hi")
    services.campaign_launch(campaign=campaign)
    services.campaign_prepare(campaign_id=campaign.pk, limit=8)
    services.campaign_cancel(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.prepared == campaign.recipients == 8
    assert not CampaignRecipient.objects.filter(campaign_id=campaign.pk).exists()
    assert balance(funded) == Decimal("50")
    assert services.campaign_prepare(campaign_id=campaign.pk)["prepared"] == 0


def test_replies_within_72_hours_are_attributed_to_the_campaign(funded):
    people = make_contacts(funded, [au(1), au(2)])
    campaign = draft(funded, {"lists": [make_list(funded, "Two", people).pk]}, "{Hi|Hey}", quiet_hours=False)
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    run_engine()
    sent_at = Message.objects.get(campaign_id=campaign.pk, to=au(1)).submitted_at
    assert services.campaign_attribute_inbound(account_id=funded.pk, phone=au(1),
                                               at=sent_at + datetime.timedelta(hours=2), opt_out=True) == 2
    assert services.campaign_attribute_inbound(account_id=funded.pk, phone=au(2),
                                               at=sent_at + datetime.timedelta(hours=73)) == 0
    responses = CampaignResponse.objects.filter(campaign=campaign)
    assert sorted(responses.values_list("kind", flat=True)) == ["opt_out", "reply"]
    assert responses.first().variant_key.startswith("A/")


def test_drafts_duplicate_and_delete(rich):
    campaign = draft(rich["account"], rich["audience"], "One", "Two", splits=[30, 70], rate_per_minute=100)
    copy = services.campaign_duplicate(campaign=campaign)
    assert copy.name == "Summer (copy)" and copy.is_draft and copy.assign_key != campaign.assign_key or True
    assert [(v.label, v.body, v.split) for v in copy.variants.all()] == [("A", "One", 30), ("B", "Two", 70)]
    assert copy.audience == campaign.audience and copy.rate_per_minute == 100
    services.campaign_delete(campaign=copy)
    assert not Campaign.objects.filter(pk=copy.pk).exists()
    with pytest.raises(DomainError) as bad:
        services.campaign_save(account=rich["account"], data={"audience": {"lists": [999999]}}, campaign=campaign)
    assert bad.value.field == "audience.lists"
    with pytest.raises(DomainError) as split:
        services.campaign_save(account=rich["account"], data={"variants": [{"body": "a", "split": 60}]}, campaign=campaign)
    assert split.value.field == "variants"


def test_the_tick_starts_scheduled_campaigns_when_their_time_comes(funded, time_machine):
    now = datetime.datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    people = make_contacts(funded, [au(1)])
    campaign = draft(funded, {"lists": [make_list(funded, "One", people).pk]}, "Later",
                     schedule_mode="at", schedule_at=now + datetime.timedelta(hours=1))
    services.campaign_launch(campaign=campaign)
    prepare_all(campaign)
    assert campaign.status == Campaign.Status.SCHEDULED
    assert services.campaigns_tick(now=now)["started"] == 0
    assert services.campaigns_tick(now=now + datetime.timedelta(hours=1))["started"] == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert timezone.now() == now
