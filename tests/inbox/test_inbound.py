"""Inbound SMS from the webhook to a conversation: stored once, keywords applied, contacts linked, long messages
joined, replies credited to their campaign; agents reply, assign, close, read and note."""

import pytest
from django.utils import timezone

from campaigns import services as campaigns
from campaigns.models import CampaignResponse
from contacts.models import Contact, OptOut
from inbox import services
from inbox.models import Conversation, InboundMessage, InboundRaw
from smsportal.accounts.models import DEFAULT_RATES
from smsportal.errors import DomainError
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from tests.factories import MemberFactory

from ..campaigns.conftest import make_contacts, make_list
from ..messaging.conftest import balance, run_engine
from .conftest import OUR_NUMBER

pytestmark = pytest.mark.django_db
CUSTOMER = "+61412345678"


def test_a_duplicated_webhook_stores_one_message(receive):
    receive("Is the shop open today?", ids=["DUP-1"])
    counts = receive("Is the shop open today?", ids=["DUP-1"])
    assert counts == {"duplicate": 1}
    message = InboundMessage.objects.get()
    conversation = message.conversation
    assert (conversation.contact_number, conversation.our_number, conversation.unread) == (CUSTOMER, OUR_NUMBER, 1)
    assert conversation.last_text == "Is the shop open today?" and conversation.status == Conversation.Status.OPEN
    # The sender became a contact; the raw webhooks are all processed.
    assert Contact.objects.get(phone_number=CUSTOMER).pk == message.contact_id == conversation.contact_id
    assert not InboundRaw.objects.filter(processed_at=None).exists()


@pytest.mark.parametrize("body", ["STOP", "stop", "Stop", " Stop. ", "UNSUBSCRIBE", "optout", "Quit"])
def test_opt_out_words_opt_the_number_out(funded, receive, body):
    receive(body)
    assert OptOut.objects.filter(account=funded, phone_number=CUSTOMER).exists()
    assert Contact.objects.get(phone_number=CUSTOMER).opted_out_at is not None
    assert InboundMessage.objects.get().keyword == "opt_out"


@pytest.mark.parametrize("body", ["STOP please", "please stop", "stopping", "STOP STOP"])
def test_other_messages_with_stop_in_them_do_not(funded, receive, body):
    receive(body)
    assert not OptOut.objects.filter(account=funded).exists()
    assert InboundMessage.objects.get().keyword == ""


def test_start_opts_back_in_and_help_replies_once(funded, receive):
    receive("STOP")
    receive("start")
    assert not OptOut.objects.filter(account=funded, phone_number=CUSTOMER).exists()
    assert Contact.objects.get(phone_number=CUSTOMER).opted_out_at is None
    receive("HELP", ids=["HELP-1"])
    receive("HELP", ids=["HELP-1"])  # the same webhook again: no second reply
    help_replies = Message.objects.filter(to=CUSTOMER, body__contains="for help reply")
    assert help_replies.count() == 1 and help_replies.get().source == Message.Source.INBOX
    assert help_replies.get().sender == OUR_NUMBER  # replies come from the number they wrote to
    assert funded.name in help_replies.get().body


def test_a_campaign_after_stop_blocks_that_number_and_charges_nothing(funded, receive):
    people = make_contacts(funded, [CUSTOMER, "+61412345655"])
    receive("STOP")
    campaign = campaigns.campaign_save(account=funded, data={
        "name": "After stop", "body": "Sale!", "audience": {"lists": [make_list(funded, "Both", people).pk]},
        "quiet_hours": False})
    before = balance(funded)
    campaigns.campaign_launch(campaign=campaign)
    while campaigns.campaign_prepare(campaign_id=campaign.pk)["more"]:
        pass
    run_engine()
    stopped = Message.objects.get(campaign_id=campaign.pk, to=CUSTOMER)
    assert (stopped.status, stopped.blocked_reason, stopped.price) == (statuses.BLOCKED, "opted_out", 0)
    assert balance(funded) == before - DEFAULT_RATES["AU"]  # only the other one


def test_a_reply_is_credited_to_the_campaign_it_answers(funded, receive):
    people = make_contacts(funded, [CUSTOMER])
    campaign = campaigns.campaign_save(account=funded, data={
        "name": "Reply to me", "body": "{Want|Fancy} a coffee?", "audience": {"lists": [make_list(funded, "One", people).pk]},
        "quiet_hours": False})
    campaigns.campaign_launch(campaign=campaign)
    while campaigns.campaign_prepare(campaign_id=campaign.pk)["more"]:
        pass
    run_engine()
    sent = Message.objects.get(campaign_id=campaign.pk)
    receive("Yes please, a flat white")
    message = InboundMessage.objects.get()
    assert message.reply_to_message_id == sent.pk and message.campaign_id == campaign.pk
    response = CampaignResponse.objects.get(campaign=campaign)
    assert response.kind == "reply" and response.message_id == sent.pk and response.variant_key == sent.variant_key


def test_a_long_message_in_parts_is_joined_in_order(receive):
    receive("world!", ids=["P2"], part_ref="ref-9", part_number=2, part_count=2, apply=False)
    counts = receive("Hello ", ids=["P1"], part_ref="ref-9", part_number=1, part_count=2, apply=False)
    assert counts is None
    from inbox.services import inbound_apply

    inbound_apply()
    message = InboundMessage.objects.get()
    assert message.body == "Hello world!"


def test_a_part_whose_siblings_never_come_waits_then_goes_alone(receive):
    from datetime import timedelta

    from inbox.services import inbound_apply

    receive("Only the start of", ids=["Q1"], part_ref="ref-3", part_number=1, part_count=3, apply=False)
    assert inbound_apply() == {"waiting": 1}
    assert not InboundMessage.objects.exists()
    assert inbound_apply(now=timezone.now() + timedelta(seconds=61)) == {"stored": 1}
    assert InboundMessage.objects.get().body == "Only the start of"


def test_a_new_message_reopens_a_closed_conversation(receive):
    receive("First")
    conversation = Conversation.objects.get()
    services.conversation_close(conversation=conversation)
    receive("Second")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.unread == 2


def test_one_batch_of_many_senders_counts_each_conversation_once(receive):
    receive("One", "Two", "Three", apply=False)
    receive("Hello from another phone", sender="+61412000999", apply=False)
    receive("Not a phone number", sender="ACME", apply=False)
    assert services.inbound_apply() == {"stored": 5}
    mine = Conversation.objects.get(contact_number=CUSTOMER)
    assert (mine.unread, mine.last_text, mine.has_unread) == (3, "Three", True)
    other = Conversation.objects.get(contact_number="+61412000999")
    assert (other.unread, other.last_text) == (1, "Hello from another phone")
    # Each phone number became one contact; the name-like sender opened a conversation without one.
    assert sorted(Contact.objects.values_list("phone_number", flat=True)) == ["+61412000999", CUSTOMER]
    assert Conversation.objects.get(contact_number="ACME").contact_id is None
    assert set(InboundMessage.objects.filter(sender=CUSTOMER).values_list("contact_id", flat=True)) == {mine.contact_id}


def test_webhooks_queue_one_task_until_it_starts(monkeypatch):
    from django.core.cache import cache

    from inbox import tasks

    queued = []
    monkeypatch.setattr(tasks.inbound_task, "delay", lambda: queued.append("task"))
    cache.delete(tasks.KICKED)
    tasks.inbound_kick()
    tasks.inbound_kick()  # a second webhook while the first's task waits in the queue
    assert queued == ["task"]
    tasks.inbound_task()  # the task starts: a webhook from now on may not be read by it, so it queues another
    tasks.inbound_kick()
    assert queued == ["task", "task"]


def test_agents_reply_assign_read_and_note(funded, receive):
    member = MemberFactory(account=funded)
    receive("Can I change my booking?")
    conversation = Conversation.objects.get()
    result = services.conversation_reply(conversation=conversation, body="Of course — what time suits?", by=member.user)
    reply = Message.objects.get(pk=result.outcomes[0].message_id)
    assert (reply.to, reply.sender, reply.source) == (CUSTOMER, OUR_NUMBER, Message.Source.INBOX)
    conversation.refresh_from_db()
    assert conversation.unread == 0 and conversation.assigned_to == member.user and conversation.last_direction == "out"
    assert InboundMessage.objects.get().read_at is not None
    services.conversation_mark_read(conversation=conversation, read=False)
    conversation.refresh_from_db()
    assert conversation.has_unread and InboundMessage.objects.get().read_at is None
    note = services.note_add(conversation=conversation, body="VIP — offer a free upgrade", by=member.user)
    assert note.author == member.user
    with pytest.raises(DomainError):
        services.conversation_assign(conversation=conversation, user_id=MemberFactory().user_id)  # another workspace


def test_a_reply_to_an_opted_out_number_is_refused_with_a_reason(receive):
    receive("STOP")
    conversation = Conversation.objects.get()
    with pytest.raises(DomainError) as refused:
        services.conversation_reply(conversation=conversation, body="Sorry to see you go")
    assert "opted out" in refused.value.message and refused.value.field == "body"
    assert not Message.objects.filter(to=CUSTOMER).exclude(custom_string="keyword reply").exists()


def test_inbound_read_marks_messages_and_counts(funded, receive):
    receive("one", "two")
    receive("three", sender="+61412345699")
    assert services.inbound_mark_read(account=funded) == 3
    assert not Conversation.objects.filter(has_unread=True).exists()
    assert not InboundMessage.objects.filter(read_at=None).exists()


def test_stored_messages_are_pushed_to_inbound_webhooks_with_the_keyword_applied(funded, receive, settings):
    from smsportal.messaging import services_webhooks as hooks
    from smsportal.messaging.models import WebhookDelivery

    settings.WEBHOOK_ALLOW_PRIVATE = True
    hooks.webhook_rule_save(account=funded, kind="inbound", data={"url": "http://127.0.0.1:9/inbound"})
    sent = campaigns_free_send(funded)
    receive("Stop.", ids=["HOOK-1"])
    receive("Stop.", ids=["HOOK-1"])  # the duplicate is not pushed again
    receive("Stop sending me these")
    payloads = [d.payload for d in WebhookDelivery.objects.order_by("id")]
    assert [(p["body"], p["_keyword"]) for p in payloads] == [("Stop.", "stop"), ("Stop sending me these", "")]
    first = payloads[0]
    assert (first["from"], first["to"], first["original_message_id"], first["original_body"]) == (
        CUSTOMER, OUR_NUMBER, str(sent.pk), sent.body)
    assert first["message_id"] == str(InboundMessage.objects.get(gateway_message_id="HOOK-1").pk)


def campaigns_free_send(account):
    """One message we sent the customer before they wrote (what their message answers)."""
    from smsportal.messaging import services as messaging

    outcome = messaging.messages_send(account=account, requests=[
        messaging.SmsRequest(to=CUSTOMER, body="Your table is booked for 7pm.")]).outcomes[0]
    return Message.objects.get(pk=outcome.message_id)


def test_a_conversation_goes_only_to_someone_who_can_reply(funded, receive):
    receive("Hello?")
    conversation = Conversation.objects.get()
    viewer = MemberFactory(account=funded, role="viewer")
    with pytest.raises(DomainError, match="A viewer cannot reply in the inbox") as refused:
        services.conversation_assign(conversation=conversation, user_id=viewer.user_id)
    assert refused.value.field == "assigned_to"
    outsider = MemberFactory()  # a member of another workspace
    with pytest.raises(DomainError, match="a member of this workspace"):
        services.conversation_assign(conversation=conversation, user_id=outsider.user_id)
    agent = MemberFactory(account=funded, role="agent")
    services.conversation_assign(conversation=conversation, user_id=agent.user_id)
    conversation.refresh_from_db()
    assert conversation.assigned_to_id == agent.user_id
