import secrets

from django.db import models
from django.db.models import Q

from smsportal.accounts.models import Account, LedgerEntry

from . import encoding, statuses


def _webhook_secret() -> str:
    return secrets.token_urlsafe(24)


class GatewayConnection(models.Model):
    """One upstream a workspace sends through. Routing tries enabled connections by `priority`, lowest first."""

    class Kind(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox"
        TWILIO = "twilio", "Twilio"
        CLICKSEND = "clicksend", "ClickSend"
        HTTP = "http", "HTTP (JSON)"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="gateway_connections")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    credentials = models.JSONField(default=dict, blank=True)  # never shown back in full
    countries = models.JSONField(default=list, blank=True)  # ISO codes it serves; empty: every country
    priority = models.PositiveIntegerField(default=100)
    cap_segments_per_second = models.PositiveIntegerField(null=True, blank=True)  # None: no cap
    enabled = models.BooleanField(default=True)
    webhook_secret = models.CharField(max_length=64, default=_webhook_secret, unique=True)
    # Failover: temporary failures in a row, and when routing may try the connection again after too many.
    failure_streak = models.PositiveIntegerField(default=0)
    skipped_until = models.DateTimeField(null=True, blank=True)
    # The database-backed throughput limiter's theoretical arrival time (Unix seconds), when Redis is absent.
    throttle_tat = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return f"{self.name} ({self.kind})"

    def serves(self, country: str) -> bool:
        return not self.countries or country in self.countries


class Message(models.Model):
    """One outbound SMS to one number, from acceptance to its final delivery report."""

    class Encoding(models.TextChoices):
        GSM_7 = encoding.GSM_7
        UCS_2 = encoding.UCS_2

    class Source(models.TextChoices):
        API = "api"
        UI = "ui"
        CAMPAIGN = "campaign"
        INBOX = "inbox"

    STATUS_CHOICES = [(s, s.capitalize()) for s in statuses.ALL]

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="messages", db_index=False)
    # Plain ids, not foreign keys: contacts and campaigns may be deleted while their messages stay on the record.
    contact_id = models.BigIntegerField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    variant_key = models.CharField(max_length=64, blank=True)
    to = models.CharField(max_length=32, help_text="E.164, or the text given when it was not a number")
    country = models.CharField(max_length=2, blank=True)
    sender = models.CharField(max_length=32, blank=True)
    body = models.TextField()
    encoding = models.CharField(max_length=5, choices=Encoding.choices)
    segments = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    reservation = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=12, choices=STATUS_CHOICES)
    blocked_reason = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_text = models.CharField(max_length=500, blank=True)
    gateway = models.ForeignKey(
        GatewayConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    gateway_message_id = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=40, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    custom_string = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.API)
    receipt_read = models.BooleanField(default=False)
    schedule_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)  # the gateway accepted it
    final_at = models.DateTimeField(null=True, blank=True)  # delivered, undelivered, failed, cancelled or blocked
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # History, newest first, optionally by status; and the same by time for date filters.
            models.Index(fields=["account", "-id"], name="message_history"),
            models.Index(fields=["account", "status", "-id"], name="message_history_status"),
            models.Index(fields=["account", "to", "-id"], name="message_history_number"),
            models.Index(fields=["account", "created_at"], name="message_history_date"),
            # The error table's text for a code: messages with an error only.
            models.Index(fields=["error_code", "account"], name="message_error", condition=~Q(error_code="")),
            models.Index(fields=["campaign_id", "status"], name="message_campaign", condition=Q(campaign_id__isnull=False)),
            # DLR matching.
            models.Index(
                fields=["gateway", "gateway_message_id"], name="message_gateway_ref", condition=~Q(gateway_message_id="")
            ),
            # The dispatcher's work: due retries and releases, without scanning finished messages.
            # (time, id): the claim's ORDER BY next_attempt_at, id walks it in order even when a campaign left a
            # million messages due at the same instant (on next_attempt_at alone that was a 0.4 s sort per claim).
            models.Index(
                fields=["next_attempt_at", "id"], name="message_due",
                condition=Q(status__in=[statuses.QUEUED, statuses.SCHEDULED]),
            ),
            models.Index(fields=["updated_at"], name="message_in_flight", condition=Q(status=statuses.SENDING)),
        ]

    def __str__(self):
        return f"{self.to} {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in statuses.FINAL or self.status == statuses.DELIVERED


class MessageEvent(models.Model):
    """One status change of a message, with what caused it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events", db_constraint=False)
    status = models.CharField(max_length=12, choices=Message.STATUS_CHOICES)
    via = models.CharField(max_length=10)  # statuses.DISPATCH / REPORT / USER
    code = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    raw = models.JSONField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["message", "id"], name="message_event_timeline")]


class DeliveryReport(models.Model):
    """A status report as a gateway sent it, stored by the webhook at once and applied later in batches.

    A report whose message is not matched yet (the gateway answered the webhook before our send was recorded)
    stays pending and is tried again on later runs.
    """

    gateway = models.ForeignKey(GatewayConnection, on_delete=models.CASCADE, related_name="+", db_index=False)
    gateway_message_id = models.CharField(max_length=100)
    status = models.CharField(max_length=12)
    code = models.CharField(max_length=64, blank=True)
    text = models.CharField(max_length=500, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField()
    available_at = models.DateTimeField()  # the sandbox's delayed reports wait until then
    applied_at = models.DateTimeField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True)  # applied / ignored (no move) / unmatched (given up)
    tries = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["available_at", "id"], name="dlr_pending", condition=Q(applied_at__isnull=True)),
            models.Index(fields=["gateway", "gateway_message_id"], name="dlr_gateway_ref"),
        ]


class MessageStat(models.Model):
    """Outbound messages counted by (account, hour created, campaign, variant, country, gateway, status, error
    code), kept by database triggers on messaging_message so every write path (ORM, bulk_create, raw SQL) keeps them
    exact.

    Append-then-squash (RapidPro's squashable counts): each write to messages appends signed delta rows here and
    `stats.stats_squash` later folds a dims group's rows into one. A group's value is the SUM over all its rows,
    squashed or not. 0 and '' stand for "none" so dims compare with "="; there is no unique constraint on purpose.

    On SQLite, a migration that rebuilds messaging_message (most field changes do: new table, copy, drop, rename)
    drops the triggers with the old table; such a migration must create them again (migration 0003 has their SQL).
    The stats tests fail if it does not.
    """

    account_id = models.BigIntegerField()  # a plain id: stats never block deleting anything
    bucket = models.DateTimeField()  # created_at truncated to the hour, UTC
    campaign_id = models.BigIntegerField(default=0)
    variant_key = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=2, blank=True)
    gateway_id = models.BigIntegerField(default=0)
    status = models.CharField(max_length=12)
    error_code = models.CharField(max_length=64, blank=True, default="")  # the gateway's, for the error table
    messages = models.BigIntegerField()  # negative in a delta row that moved messages out of these dims
    segments = models.BigIntegerField()
    cost = models.DecimalField(max_digits=16, decimal_places=4)
    squashed = models.BooleanField(default=False)

    DIMS = ("account_id", "bucket", "campaign_id", "variant_key", "country", "gateway_id", "status", "error_code")

    class Meta:
        indexes = [
            models.Index(fields=["account_id", "bucket"], name="message_stat_account"),
            models.Index(fields=["campaign_id", "status"], name="message_stat_campaign", condition=~Q(campaign_id=0)),
            # The squasher's work: the delta rows only.
            models.Index(fields=["squashed"], name="message_stat_unsquashed", condition=Q(squashed=False)),
        ]

    def __str__(self):
        return f"{self.account_id} {self.bucket:%Y-%m-%d %H}h {self.status}: {self.messages}"


class MessageStatusStat(models.Model):
    """MessageStat folded to (account, hour, status): what the dashboard's figures, the usage table and
    /v3/statistics read, ten times fewer rows than the full dims. The squasher adds each delta it folds into
    MessageStat here in the same transaction, so a reader sums these rows and MessageStat's unsquashed deltas and
    sees every message once (`selectors.message_stats` does)."""

    account_id = models.BigIntegerField()
    bucket = models.DateTimeField()
    status = models.CharField(max_length=12)
    messages = models.BigIntegerField()
    segments = models.BigIntegerField()
    cost = models.DecimalField(max_digits=16, decimal_places=4)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account_id", "bucket", "status"], name="message_status_stat")]

    def __str__(self):
        return f"{self.account_id} {self.bucket:%Y-%m-%d %H}h {self.status}: {self.messages}"


# --- Outbound webhooks ("automations") ------------------------------------------------------------------------


class WebhookRule(models.Model):
    """A URL a workspace wants its delivery receipts or inbound messages POSTed to: one of ClickSend's SMS automation
    rules with the action URL. ClickSend's other fields are kept so /v3/automations answers them back; for inbound
    rules `dedicated_number` and `message_search_type`/`_term` narrow which messages fire it."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Delivery receipts"
        INBOUND = "inbound", "Inbound messages"

    class SearchType(models.IntegerChoices):
        ANY = 0, "Any message"
        STARTS_WITH = 1, "Starts with"
        CONTAINS = 2, "Contains"
        NOT_CONTAINS = 3, "Does not contain"  # ClickSend's 3
        EXACTLY = 4, "Is exactly"  # smsportal's own

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_rules", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=100)  # ClickSend's rule_name
    url = models.CharField(max_length=2000)  # ClickSend's action_address
    enabled = models.BooleanField(default=True)
    match_type = models.PositiveSmallIntegerField(default=0)  # receipts: ClickSend's 0, every report
    dedicated_number = models.CharField(max_length=32, default="*")  # inbound: the number written to; * for any
    message_search_type = models.PositiveSmallIntegerField(choices=SearchType.choices, default=SearchType.ANY)
    message_search_term = models.CharField(max_length=200, blank=True)
    body = models.CharField(max_length=1600, blank=True)  # ClickSend's field, kept and answered back; unused here
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "kind", "id"], name="webhook_rule_account")]

    def __str__(self):
        return f"{self.name} ({self.kind} → {self.url})"


class WebhookDelivery(models.Model):
    """One event POSTed (or to be POSTed) to one rule's URL, with its attempts. Pending rows are the delivery
    queue: `next_attempt_at` is when the next attempt is due, and while a worker holds the row it is the worker's
    lease (a worker that dies leaves the row to come due again)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    class Event(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        INBOUND = "inbound", "Inbound"
        PING = "ping", "Test ping"

    rule = models.ForeignKey(WebhookRule, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.CharField(max_length=8, choices=Event.choices)
    url = models.CharField(max_length=2000)  # where the last attempt went (the rule's URL at the time)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_response = models.CharField(max_length=500, blank=True)  # the start of the receiver's answer
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], name="webhook_delivery_due",
                         condition=Q(status="pending")),
            models.Index(fields=["account", "-id"], name="webhook_delivery_log"),
            models.Index(fields=["account", "status", "-id"], name="webhook_delivery_log_status"),
            models.Index(fields=["rule", "-id"], name="webhook_delivery_rule"),
        ]

    def __str__(self):
        return f"{self.event} #{self.pk} {self.status}"


def _signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSecret(models.Model):
    """The key a workspace's outbound webhooks are signed with (HMAC-SHA256), made on first use; rotatable."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="+")
    secret = models.CharField(max_length=64, default=_signing_secret)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"webhook secret of account {self.account_id}"
