from django.conf import settings
from django.db import models
from django.db.models import Q

from smsportal.accounts.models import Account


class InboundRaw(models.Model):
    """An inbound SMS as a gateway's webhook handed it over: written in the request (one INSERT shared by
    concurrent webhooks), acknowledged, then turned into a message of a conversation by a worker."""

    gateway_id = models.BigIntegerField()
    account_id = models.BigIntegerField()  # the connection's workspace when it arrived
    gateway_message_id = models.CharField(max_length=100, blank=True)
    sender = models.CharField(max_length=64)
    to = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # when the gateway says it was sent
    raw = models.JSONField(null=True, blank=True)
    # A part of a long message, when the gateway hands parts over one by one.
    part_ref = models.CharField(max_length=64, blank=True)
    part_number = models.PositiveSmallIntegerField(null=True, blank=True)
    part_count = models.PositiveSmallIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="inbound_raw_pending", condition=Q(processed_at__isnull=True)),
            models.Index(fields=["account_id", "part_ref"], name="inbound_raw_parts",
                         condition=~Q(part_ref="")),
        ]


class InboxSettings(models.Model):
    """A workspace's inbox behaviour: the keyword replies, and whether an unknown number becomes a contact."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="inbox_settings")
    help_reply = models.CharField(
        max_length=480, blank=True,
        default="{company}: for help reply to this message or call us. Reply STOP to opt out.",
    )
    opt_out_reply = models.CharField(max_length=480, blank=True,
                                     default="You have been unsubscribed and will receive no more messages.")
    opt_in_reply = models.CharField(max_length=480, blank=True,
                                    default="You are subscribed again. Reply STOP to opt out.")
    create_contacts = models.BooleanField(default=True)


class Conversation(models.Model):
    """All messages between one of the workspace's numbers and one phone."""

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="conversations", db_index=False)
    contact_number = models.CharField(max_length=32)  # E.164, or as the gateway gave it
    our_number = models.CharField(max_length=64, blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    unread = models.PositiveIntegerField(default=0)
    has_unread = models.BooleanField(default=False)  # unread > 0, kept beside it for the list's index
    last_message_at = models.DateTimeField()
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_text = models.CharField(max_length=200, blank=True)
    last_direction = models.CharField(max_length=3, default="in")  # in | out
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "contact_number", "our_number"], name="conversation_unique"),
        ]
        indexes = [
            # The list: unread first, then most recent, per tab.
            models.Index("account", "status", models.F("has_unread").desc(), models.F("last_message_at").desc(),
                         "id", name="conversation_list"),
            models.Index("account", "assigned_to", "status", models.F("has_unread").desc(),
                         models.F("last_message_at").desc(), "id", name="conversation_assigned"),
            models.Index(fields=["account", "contact_number"], name="conversation_number"),
            models.Index(fields=["account", "contact_id"], name="conversation_contact"),
        ]

    def __str__(self):
        return f"{self.contact_number} ↔ {self.our_number}"


class InboundMessage(models.Model):
    """One SMS a phone sent to the workspace."""

    class Keyword(models.TextChoices):
        NONE = ""
        OPT_OUT = "opt_out"
        OPT_IN = "opt_in"
        HELP = "help"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="inbound_messages", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="inbound")
    gateway_id = models.BigIntegerField(null=True, blank=True)
    gateway_message_id = models.CharField(max_length=100, blank=True)
    sender = models.CharField(max_length=64)
    to = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    keyword = models.CharField(max_length=8, choices=Keyword.choices, blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    # The last message we sent this number before it wrote: what it answers (ClickSend's original_message_id).
    reply_to_message_id = models.BigIntegerField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["gateway_id", "gateway_message_id"], name="inbound_once",
                                    condition=~Q(gateway_message_id="")),
        ]
        indexes = [
            models.Index(fields=["account", "-id"], name="inbound_recent"),
            models.Index(fields=["account", "id"], name="inbound_unread", condition=Q(read_at__isnull=True)),
            models.Index(fields=["account", "received_at"], name="inbound_received"),  # replies per period
        ]


# `_keyword` on the wire (GET /v3/sms/inbound and the inbound webhook alike): the keyword applied, not a word.
KEYWORD_WIRE = {
    InboundMessage.Keyword.NONE: "",
    InboundMessage.Keyword.OPT_OUT: "stop",  # STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT
    InboundMessage.Keyword.OPT_IN: "start",  # START, YES, UNSTOP
    InboundMessage.Keyword.HELP: "help",  # HELP, INFO
}


class ConversationNote(models.Model):
    """An internal note in a thread: agents see it, the customer never does."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class Template(models.Model):
    """A canned reply (ClickSend's SMS template)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_templates")
    name = models.CharField(max_length=100)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "name"], name="template_account_name")]

    def __str__(self):
        return self.name
