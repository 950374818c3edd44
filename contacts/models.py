from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from smsportal.accounts.models import Account


class LineType(models.TextChoices):
    """What `phonenumbers` can tell of a number; campaigns skip fixed lines by default."""

    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    VOIP = "voip"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


class OptOutSource(models.TextChoices):
    UI = "ui"
    API = "api"
    KEYWORD = "keyword"
    IMPORT = "import"


class Contact(models.Model):
    """One person per (workspace, E.164 number). ClickSend's field names, plus named custom fields."""

    # No index of its own: the unique (account, phone_number) and (account, -id) indexes lead with it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    phone_number = models.CharField(max_length=16, help_text="E.164")
    country = models.CharField(max_length=2, help_text="ISO country of the number")
    line_type = models.CharField(max_length=24, choices=LineType.choices, default=LineType.UNKNOWN)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    fax_number = models.CharField(max_length=32, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    address_line_1 = models.CharField(max_length=200, blank=True)
    address_line_2 = models.CharField(max_length=200, blank=True)
    address_city = models.CharField(max_length=100, blank=True)
    address_state = models.CharField(max_length=100, blank=True)
    address_postal_code = models.CharField(max_length=20, blank=True)
    address_country = models.CharField(max_length=2, blank=True)
    custom_1 = models.CharField(max_length=500, blank=True)
    custom_2 = models.CharField(max_length=500, blank=True)
    custom_3 = models.CharField(max_length=500, blank=True)
    custom_4 = models.CharField(max_length=500, blank=True)
    # Values of the workspace's named CustomFields, by key: text as str, number as str of a decimal, date ISO.
    fields = models.JSONField(default=dict, blank=True)
    # Mirrors the OptOut registry for this number, so filters and badges need no join.
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opt_out_source = models.CharField(max_length=16, choices=OptOutSource.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "phone_number"], name="contact_unique_number_per_account"),
        ]
        indexes = [
            models.Index(fields=["account", "-id"], name="contact_account_recent"),
            models.Index(fields=["account", "country", "-id"], name="contact_account_country"),
            models.Index(fields=["account", "created_at"], name="contact_account_created"),
            # Serves the name sort; name *prefix* search uses it too where the collation is C (see 0002).
            models.Index("account", Lower("last_name"), Lower("first_name"), "id", name="contact_account_name"),
            models.Index(
                fields=["account", "-id"], condition=Q(opted_out_at__isnull=False), name="contact_opted_out"
            ),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.phone_number})" if name else self.phone_number

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None


class ContactList(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contact_lists")
    name = models.CharField(max_length=100)
    # Kept by the services in the same transaction as the memberships: list pages never COUNT(*) a list.
    contact_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "name"], name="list_account_name")]

    def __str__(self):
        return self.name


class ListMembership(models.Model):
    # Each column is served by the composite index that leads with it; single-column ones would only slow imports.
    # No database FK constraints on this join table: checking 2M references cost a million-row import ~8 s at
    # COMMIT. Rows are only ever inserted by INSERT … SELECT from existing contacts and lists, and deletes go
    # through the ORM, which cascades itself (tests/contacts/test_services.py proves no orphans are left).
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.CASCADE, related_name="memberships", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="memberships", db_index=False, db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="membership_unique"),
        ]
        indexes = [models.Index(fields=["contact", "contact_list"], name="membership_by_contact")]


class CustomField(models.Model):
    """A named field the workspace adds to every contact."""

    class Type(models.TextChoices):
        TEXT = "text"
        NUMBER = "number"
        DATE = "date"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="custom_fields")
    key = models.SlugField(max_length=50, help_text="Used in {{merge}} fields and CSV headers")
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=8, choices=Type.choices, default=Type.TEXT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="custom_field_unique_key")]

    def __str__(self):
        return self.label


class OptOut(models.Model):
    """The workspace's do-not-text registry, by number: it outlives contacts, so a re-import cannot resurrect one."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="opt_outs")
    phone_number = models.CharField(max_length=16)
    source = models.CharField(max_length=16, choices=OptOutSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "phone_number"], name="opt_out_unique_number")]
        indexes = [models.Index(fields=["account", "created_at"], name="opt_out_recent")]  # opt-outs per period


class Segment(models.Model):
    """A saved dynamic audience: `rules` is evaluated at use, never materialised."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=100)
    rules = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "name"], name="segment_account_name")]

    def __str__(self):
        return self.name


class ImportJob(models.Model):
    """A CSV import: uploaded (pending), mapped, queued, running, then done or failed. See contacts.importing."""

    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="import_jobs")
    contact_list = models.ForeignKey(ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500, help_text="Stored upload, under DATA_DIR/imports")
    # {"phone_number": 0, "first_name": 2, ...}: contact field (or "fields.<key>") -> column index.
    mapping = models.JSONField(default=dict)
    default_country = models.CharField(max_length=2)
    has_header = models.BooleanField(default=True)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0, help_text="Rows repeating a number earlier in the file")
    invalid_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole import failed, if it did")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"], name="import_account_recent")]


class ImportRowError(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField(help_text="1-based line of the file where the record starts, header included")
    raw_value = models.CharField(max_length=500)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["row_number"]
        indexes = [models.Index(fields=["job", "row_number"], name="import_error_by_row")]
