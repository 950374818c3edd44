import zoneinfo
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in to the browser UI with email and password."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self):
        return self.email


class Account(models.Model):
    """A workspace. A subaccount is an Account with a parent; subaccounts do not nest."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        CLOSED = "closed"  # deleted through the API; rows stay for the ledger and message history

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    name = models.CharField(max_length=120)
    api_username = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    phone_number = models.CharField(max_length=20, blank=True)
    first_name = models.CharField(max_length=60, blank=True)
    last_name = models.CharField(max_length=60, blank=True)
    notes = models.TextField(blank=True)
    default_region = models.CharField(max_length=2, default="US", help_text="ISO country for national numbers")
    timezone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    access_sms = models.BooleanField(default=True)
    access_contacts = models.BooleanField(default=True)
    access_reporting = models.BooleanField(default=True)
    access_billing = models.BooleanField(default=True)
    access_users = models.BooleanField(default=True)
    access_settings = models.BooleanField(default=True)
    api_rate_limit = models.PositiveIntegerField(default=15, help_text="API requests per second")
    # A subaccount pays its parent's rates plus this; set by the parent.
    markup_percent = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    # Kept in step with the ledger inside the same transaction; the CHECK makes overdraft impossible.
    balance = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_not_negative"),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="account_not_own_parent"),
            models.UniqueConstraint(Lower("api_username"), name="account_api_username_unique_ci"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_main(self) -> bool:
        return self.parent_id is None

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The workspace's time zone (UTC if its name is unknown to this machine's tz database)."""
        try:
            return zoneinfo.ZoneInfo(self.timezone or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")


class Role(models.TextChoices):
    ADMIN = "admin"
    MARKETER = "marketer"
    AGENT = "agent"
    VIEWER = "viewer"


class Member(models.Model):
    """A user's role in one account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="member_unique_per_account")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.user} as {self.role} of {self.account}"


class ApiKey(models.Model):
    """An API key. Only its SHA-256 is stored: keys are 256-bit random, so a slow hash adds nothing."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a key")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "revoked_at"])]

    def __str__(self):
        return f"{self.prefix}… ({'revoked' if self.revoked_at else 'active'})"


class LedgerEntry(models.Model):
    """One change of an account's balance. `amount` is signed; `balance_after` is the balance it left."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up"
        TRANSFER_IN = "transfer_in"
        TRANSFER_OUT = "transfer_out"
        RESERVE = "reserve"
        SETTLE = "settle"
        REFUND = "refund"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    balance_after = models.DecimalField(max_digits=14, decimal_places=4)
    counterparty = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Other side of a transfer"
    )
    # A settle or refund resolves `covers` of the reserve it points at: spent (settle) or given back (refund).
    # A reservation for many messages is resolved in parts as they reach the carrier or fail; the parts never
    # exceed what was held (checked under the reservation's row lock).
    reservation = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="closures"
    )
    covers = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    # On a reserve: what it still holds, kept up to date by its closures (a 1,000,000-message send is resolved
    # in thousands of parts; summing them all on each part would make resolving quadratic).
    held = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    reference = models.CharField(max_length=100, blank=True)
    memo = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"])]

    def __str__(self):
        return f"{self.kind} {self.amount} on {self.account_id}"


class RateCard(models.Model):
    """A main account's prices per SMS segment by destination country; its subaccounts use it with their markup."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="rate_card")
    # Price for countries without their own rate; empty means such messages are blocked as unroutable.
    fallback_rate = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Rate card of {self.account}"


class Rate(models.Model):
    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rates")
    country = models.CharField(max_length=2)
    per_segment = models.DecimalField(max_digits=10, decimal_places=4)

    class Meta:
        ordering = ["country"]
        constraints = [
            models.UniqueConstraint(fields=["card", "country"], name="rate_unique_country_per_card"),
            models.CheckConstraint(condition=Q(per_segment__gte=0), name="rate_not_negative"),
        ]

    def __str__(self):
        return f"{self.country} {self.per_segment}"


# The card a new main account starts with: per-segment list prices of the kind aggregators quote, in USD.
DEFAULT_RATES = {
    "US": Decimal("0.0100"),
    "CA": Decimal("0.0100"),
    "GB": Decimal("0.0450"),
    "IE": Decimal("0.0750"),
    "AU": Decimal("0.0550"),
    "NZ": Decimal("0.0900"),
    "DE": Decimal("0.0950"),
    "FR": Decimal("0.0850"),
    "ES": Decimal("0.0800"),
    "IT": Decimal("0.0850"),
    "NL": Decimal("0.1000"),
    "IN": Decimal("0.0060"),
    "SG": Decimal("0.0500"),
    "ZA": Decimal("0.0300"),
}
