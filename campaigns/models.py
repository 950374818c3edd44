import datetime
import secrets

from django.conf import settings
from django.db import models

from smsportal.accounts.models import Account


def _assign_key() -> int:
    return secrets.randbelow(2**31)


class Campaign(models.Model):
    """A message to an audience: composed as a draft, launched (scheduled or sent now), then reported on."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        SENDING = "sending"
        PAUSED = "paused"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    class ScheduleMode(models.TextChoices):
        NOW = "now", "Send now"
        AT = "at", "At a time in the workspace's time zone"
        LOCAL = "local", "At a local time in each recipient's time zone"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=100)
    sender = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    # {"lists": [ids], "segments": [ids], "exclude_lists": [ids], "exclude_segments": [ids]}
    audience = models.JSONField(default=dict, blank=True)
    schedule_mode = models.CharField(max_length=8, choices=ScheduleMode.choices, default=ScheduleMode.NOW)
    schedule_at = models.DateTimeField(null=True, blank=True)  # "at": the instant (UTC)
    local_send_at = models.CharField(max_length=16, blank=True)  # "local": wall-clock "YYYY-MM-DDTHH:MM"
    quiet_hours = models.BooleanField(default=True)
    quiet_start = models.TimeField(default=datetime.time(21, 0))
    quiet_end = models.TimeField(default=datetime.time(8, 0))
    rate_per_minute = models.PositiveIntegerField(null=True, blank=True)  # None: as fast as the gateways go
    custom_string = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=50, blank=True)
    # Seeds each recipient's variant and spintax choices (campaigns/assign.py): stable for the campaign's life.
    assign_key = models.PositiveIntegerField(default=_assign_key)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Launch and fan-out.
    launched_at = models.DateTimeField(null=True, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)  # when its first messages become due
    paused_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # completed or cancelled
    reservation_id = models.BigIntegerField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)  # the audience snapshot at launch, blocked ones included
    prepared = models.PositiveIntegerField(default=0)  # messages written so far
    reserved = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    rates = models.JSONField(default=dict, blank=True)  # per-segment rate by country as quoted at launch

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="campaign_account_recent"),
            models.Index(fields=["account", "status", "-id"], name="campaign_account_status"),
            models.Index(fields=["status"], name="campaign_active",
                         condition=models.Q(status__in=["scheduled", "sending"])),
        ]

    def __str__(self):
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.SCHEDULED, self.Status.SENDING, self.Status.PAUSED)

    @property
    def is_preparing(self) -> bool:
        return self.launched_at is not None and self.prepared < self.recipients


class CampaignVariant(models.Model):
    """One body of a campaign (A, B, …) and its share of the audience; a campaign has at least one."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=8)
    body = models.TextField()
    split = models.PositiveSmallIntegerField(default=100)  # percent; a campaign's splits sum to 100
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="variant_unique_label")]

    def __str__(self):
        return f"{self.campaign} {self.label}"


class CampaignRecipient(models.Model):
    """The audience as it was at launch, written in one INSERT … SELECT; messages are prepared from it in
    batches, and the rows are dropped once every message exists."""

    campaign_id = models.BigIntegerField()
    seq = models.PositiveIntegerField()
    contact_id = models.BigIntegerField()
    phone = models.CharField(max_length=32)
    country = models.CharField(max_length=2)
    reason = models.CharField(max_length=32, blank=True)  # why it will be blocked, if it will
    values = models.JSONField(default=dict)  # the merge fields its bodies use

    class Meta:
        indexes = [models.Index(fields=["campaign_id", "seq"], name="campaign_recipient_seq")]


class CampaignResponse(models.Model):
    """An inbound message from a recipient within the attribution window of their campaign message."""

    class Kind(models.TextChoices):
        REPLY = "reply"
        OPT_OUT = "opt_out"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="responses")
    message_id = models.BigIntegerField()
    variant_key = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["campaign", "kind"], name="campaign_response_kind")]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "message_id", "kind"], name="campaign_response_once"),
        ]


class CampaignSample(models.Model):
    """The campaign's counts by status at one moment, taken while it sends: its statuses-over-time chart."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["campaign", "at"], name="campaign_sample_at")]
