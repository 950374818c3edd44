"""Writes for accounts: workspaces, subaccounts, members, API keys and the credit ledger.

Every service owns its transaction and raises a DomainError naming the offending field.
"""

import hashlib
import re
import secrets
import zoneinfo
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from smsportal.errors import DomainError, Forbidden, InsufficientCredit, NotFound

from .models import DEFAULT_RATES, Account, ApiKey, LedgerEntry, Member, Rate, RateCard, Role, User

API_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{3,64}$")
ACCESS_FLAGS = ("access_sms", "access_contacts", "access_reporting", "access_billing", "access_users", "access_settings")
MONEY_PLACES = Decimal("0.0001")
MAX_MONEY = Decimal("9999999999")


# --- Validation helpers ---------------------------------------------------------------------------


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _clean_money(value, *, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(f"{field} must be a number.", field=field) from None
    if not amount.is_finite() or amount <= 0:
        raise DomainError(f"{field} must be greater than 0.", field=field)
    if amount > MAX_MONEY:
        raise DomainError(f"{field} is too large.", field=field)
    if amount != amount.quantize(MONEY_PLACES):
        raise DomainError(f"{field} has more than 4 decimal places.", field=field)
    return amount.quantize(MONEY_PLACES)


def _clean_api_username(value: str, *, exclude_id: int | None = None) -> str:
    value = (value or "").strip()
    if not API_USERNAME_RE.match(value):
        raise DomainError(
            "api_username must be 3-64 characters of letters, digits and . _ @ + -", field="api_username"
        )
    taken = Account.objects.filter(api_username__iexact=value)
    if exclude_id:
        taken = taken.exclude(pk=exclude_id)
    if taken.exists():
        raise DomainError(f"api_username {value!r} is already taken.", field="api_username")
    return value


def _clean_email(value: str, *, field: str = "email", required: bool = False) -> str:
    value = (value or "").strip().lower()
    if not value:
        if required:
            raise DomainError(f"{field} is required.", field=field)
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise DomainError(f"{field} is not a valid email address.", field=field) from None
    return value


def _clean_phone(value: str, *, region: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise DomainError(f"phone_number is not a phone number: {exc}.", field="phone_number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise DomainError(f"phone_number {value!r} is not a valid number.", field="phone_number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _clean_region(value: str) -> str:
    value = (value or "").strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise DomainError(f"{value!r} is not an ISO country code with phone numbering.", field="country")
    return value


def _clean_timezone(value: str) -> str:
    value = (value or "").strip()
    if value not in zoneinfo.available_timezones():
        raise DomainError(f"{value!r} is not an IANA time zone.", field="timezone")
    return value


def _clean_password(value: str, *, field: str = "password", user: User | None = None) -> str:
    try:
        validate_password(value, user=user)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), field=field) from None
    return value


def _clean_api_rate_limit(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise DomainError("api_rate_limit must be a whole number from 1 to 1000.", field="api_rate_limit")
    return value


def _unique_api_username(seed: str) -> str:
    base = (slugify(seed) or "account")[:56]
    candidate, n = base, 1
    while Account.objects.filter(api_username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# --- API keys ---------------------------------------------------------------------------------------


def api_key_rotate(*, account: Account) -> str:
    """Revoke the account's keys and issue a new one. The plain key is returned once and never stored."""
    raw = "sp_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        ApiKey.objects.filter(account=account, revoked_at=None).update(revoked_at=timezone.now())
        ApiKey.objects.create(account=account, key_hash=api_key_digest(raw), prefix=raw[:10])
    return raw


# --- Accounts -------------------------------------------------------------------------------------


def account_create(
    *,
    name: str,
    email: str,
    password: str,
    api_username: str | None = None,
    credit: Decimal | str | int = 0,
    default_region: str = "US",
    timezone_name: str = "UTC",
    currency: str = "USD",
) -> tuple[Account, User, str]:
    """A top-level account with its first admin user. Returns (account, user, plain API key)."""
    name = (name or "").strip()
    if not name:
        raise DomainError("name is required.", field="name")
    email = _clean_email(email, required=True)
    if User.objects.filter(email__iexact=email).exists():
        raise DomainError(f"A user with email {email} already exists.", field="email")
    _clean_password(password, user=User(email=email))
    username = _clean_api_username(api_username) if api_username else _unique_api_username(name)
    region = _clean_region(default_region)
    tz = _clean_timezone(timezone_name)
    opening_credit = None if str(credit).strip() in ("", "0") else _clean_money(credit, field="credit")
    with transaction.atomic():
        account = Account.objects.create(
            name=name, api_username=username, email=email, default_region=region, timezone=tz, currency=currency
        )
        user = User.objects.create_user(email=email, password=password)
        Member.objects.create(account=account, user=user, role=Role.ADMIN)
        raw_key = api_key_rotate(account=account)
        if opening_credit is not None:
            credit_top_up(account=account, amount=opening_credit, memo="Opening credit")
    return account, user, raw_key


def account_update(*, account: Account, data: dict) -> Account:
    """Update an account's own profile and settings; unknown keys are ignored by the caller's serializer."""
    changes = {}
    if "name" in data:
        changes["name"] = (data["name"] or "").strip()
        if not changes["name"]:
            raise DomainError("name is required.", field="account_name")
    if "email" in data:
        changes["email"] = _clean_email(data["email"])
    if "first_name" in data:
        changes["first_name"] = (data["first_name"] or "").strip()[:60]
    if "last_name" in data:
        changes["last_name"] = (data["last_name"] or "").strip()[:60]
    if "default_region" in data:
        changes["default_region"] = _clean_region(data["default_region"])
    if "timezone" in data:
        changes["timezone"] = _clean_timezone(data["timezone"])
    if "phone_number" in data:
        changes["phone_number"] = _clean_phone(
            data["phone_number"], region=changes.get("default_region", account.default_region)
        )
    if "api_rate_limit" in data:
        changes["api_rate_limit"] = _clean_api_rate_limit(data["api_rate_limit"])
    for field, value in changes.items():
        setattr(account, field, value)
    if changes:
        account.save(update_fields=[*changes, "updated_at"])
    return account


def subaccount_create(
    *,
    parent: Account,
    api_username: str,
    email: str = "",
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    phone_number: str = "",
    notes: str = "",
    name: str = "",
    flags: dict[str, bool] | None = None,
    api_rate_limit: int | None = None,
) -> tuple[Account, str]:
    """A subaccount of `parent`, with its own API key; with a password, also a login for `email` as its admin."""
    if parent.parent_id is not None:
        raise Forbidden("A subaccount cannot have subaccounts of its own.")
    if not parent.is_active:
        raise Forbidden("A suspended account cannot create subaccounts.")
    username = _clean_api_username(api_username)
    email = _clean_email(email, required=bool(password))
    phone = _clean_phone(phone_number, region=parent.default_region)
    if password is not None:
        if User.objects.filter(email__iexact=email).exists():
            raise DomainError(f"A user with email {email} already exists; add them as a member instead.", field="email")
        _clean_password(password, user=User(email=email))
    flags = {f: bool(v) for f, v in (flags or {}).items() if f in ACCESS_FLAGS}
    display_name = (name or "").strip() or " ".join(p for p in (first_name, last_name) if p).strip() or username
    rate = parent.api_rate_limit if api_rate_limit is None else _clean_api_rate_limit(api_rate_limit)
    try:
        with transaction.atomic():
            account = Account.objects.create(
                parent=parent,
                name=display_name[:120],
                api_username=username,
                email=email,
                phone_number=phone,
                first_name=(first_name or "").strip()[:60],
                last_name=(last_name or "").strip()[:60],
                notes=notes or "",
                default_region=parent.default_region,
                timezone=parent.timezone,
                currency=parent.currency,
                api_rate_limit=rate,
                **flags,
            )
            if password is not None:
                user = User.objects.create_user(email=email, password=password)
                Member.objects.create(account=account, user=user, role=Role.ADMIN)
            raw_key = api_key_rotate(account=account)
    except IntegrityError:
        # Lost a race for the same username or email between the checks above and the insert.
        raise DomainError("api_username or email was taken a moment ago; choose another.", field="api_username") from None
    return account, raw_key


def subaccount_update(*, subaccount: Account, data: dict) -> Account:
    """Change a subaccount's contact details, access flags or notes (ClickSend's PUT /subaccounts/{id})."""
    changes = {}
    if "api_username" in data:
        changes["api_username"] = _clean_api_username(data["api_username"], exclude_id=subaccount.pk)
    if "email" in data:
        changes["email"] = _clean_email(data["email"])
    if "phone_number" in data:
        changes["phone_number"] = _clean_phone(data["phone_number"], region=subaccount.default_region)
    for field in ("first_name", "last_name"):
        if field in data:
            changes[field] = (data[field] or "").strip()[:60]
    if "name" in data:
        changes["name"] = (data["name"] or "").strip()[:120]
        if not changes["name"]:
            raise DomainError("name is required.", field="name")
    if "notes" in data:
        changes["notes"] = data["notes"] or ""
    if "api_rate_limit" in data:
        changes["api_rate_limit"] = _clean_api_rate_limit(data["api_rate_limit"])
    if "markup_percent" in data:
        changes["markup_percent"] = _clean_markup(subaccount, data["markup_percent"])
    for flag in ACCESS_FLAGS:
        if flag in data:
            changes[flag] = bool(data[flag])
    for field, value in changes.items():
        setattr(subaccount, field, value)
    if changes:
        try:
            with transaction.atomic():
                subaccount.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            raise DomainError("api_username is already taken.", field="api_username") from None
    return subaccount


def account_set_status(*, account: Account, status: str) -> Account:
    """Suspend or reactivate a subaccount. A suspended account's keys and members are refused."""
    if status not in (Account.Status.ACTIVE, Account.Status.SUSPENDED):
        raise DomainError("status must be active or suspended.", field="status")
    if account.status == Account.Status.CLOSED:
        raise NotFound("That account is closed.")
    Account.objects.filter(pk=account.pk).update(status=status, updated_at=timezone.now())
    account.status = status
    return account


def subaccount_close(*, subaccount: Account) -> None:
    """Close (ClickSend's DELETE) a subaccount: its credit goes back to the parent, keys and logins go."""
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=subaccount.pk)
        if locked.balance > 0:
            credit_transfer(source=locked, destination=locked.parent, amount=locked.balance, memo="Subaccount closed")
        ApiKey.objects.filter(account=locked, revoked_at=None).update(revoked_at=timezone.now())
        Member.objects.filter(account=locked).delete()
        # Free the username for reuse while keeping the row for history.
        Account.objects.filter(pk=locked.pk).update(
            status=Account.Status.CLOSED,
            api_username=f"{locked.api_username[:40]}~closed~{locked.pk}",
            updated_at=timezone.now(),
        )


# --- Members --------------------------------------------------------------------------------------


def member_add(*, account: Account, email: str, role: str, password: str | None = None) -> Member:
    """Give a person a role in the account; an unknown email needs a password to create the login."""
    if role not in Role.values:
        raise DomainError(f"role must be one of {', '.join(Role.values)}.", field="role")
    email = _clean_email(email, required=True)
    user = User.objects.filter(email__iexact=email).first()
    with transaction.atomic():
        if user is None:
            if not password:
                raise DomainError(f"No user has email {email}; give a password to create one.", field="password")
            _clean_password(password, user=User(email=email))
            user = User.objects.create_user(email=email, password=password)
        elif Member.objects.filter(account=account, user=user).exists():
            raise DomainError(f"{email} is already a member of this account.", field="email")
        return Member.objects.create(account=account, user=user, role=role)


def _ensure_another_admin(member: Member) -> None:
    if member.role == Role.ADMIN and member.account.parent_id is None:
        admins = Member.objects.filter(account_id=member.account_id, role=Role.ADMIN).exclude(pk=member.pk)
        if not admins.exists():
            raise DomainError("An account must keep at least one admin.", field="role")


def member_set_role(*, member: Member, role: str) -> Member:
    if role not in Role.values:
        raise DomainError(f"role must be one of {', '.join(Role.values)}.", field="role")
    if role != Role.ADMIN:
        _ensure_another_admin(member)
    Member.objects.filter(pk=member.pk).update(role=role)
    member.role = role
    return member


def member_remove(*, member: Member) -> None:
    _ensure_another_admin(member)
    member.delete()


# --- Credit ledger --------------------------------------------------------------------------------


def _ledger_apply(
    *,
    account_id: int,
    kind: str,
    amount: Decimal,
    counterparty: Account | None = None,
    reservation: LedgerEntry | None = None,
    covers: Decimal = Decimal(0),
    held: Decimal = Decimal(0),
    reference: str = "",
    memo: str = "",
    by: User | None = None,
) -> LedgerEntry:
    """Move the balance by `amount` (signed) and write the ledger row. Caller holds a transaction.

    The row lock serialises concurrent changes to one account, so the check below cannot be raced;
    the CHECK constraint on Account.balance is the last line of defence.
    """
    account = Account.objects.select_for_update().only("id", "balance").get(pk=account_id)
    new_balance = account.balance + amount
    if new_balance < 0:
        raise InsufficientCredit(
            f"Insufficient credit: balance {account.balance.normalize():f}, needed {(-amount).normalize():f}.",
            field="amount",
        )
    if amount:
        Account.objects.filter(pk=account_id).update(balance=new_balance)
    if reservation is not None and covers:
        LedgerEntry.objects.filter(pk=reservation.pk).update(held=F("held") - covers)
    return LedgerEntry.objects.create(
        account_id=account_id,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        counterparty=counterparty,
        reservation=reservation,
        covers=covers,
        held=held,
        reference=reference[:100],
        memo=memo[:200],
        created_by=by if by is not None and by.is_authenticated else None,
    )


def credit_top_up(*, account: Account, amount, memo: str = "", by: User | None = None) -> LedgerEntry:
    """Add credit to a top-level account (its own budget; subaccounts receive transfers instead)."""
    if account.parent_id is not None:
        raise Forbidden("Subaccounts receive credit by transfer from their parent.")
    amount = _clean_money(amount, field="amount")
    with transaction.atomic():
        return _ledger_apply(account_id=account.pk, kind=LedgerEntry.Kind.TOP_UP, amount=amount, memo=memo, by=by)


def credit_transfer(
    *, source: Account, destination: Account, amount, memo: str = "", by: User | None = None
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move credit between a parent and one of its subaccounts, either way."""
    if destination is None or not (source.parent_id == destination.pk or destination.parent_id == source.pk):
        raise Forbidden("Credit moves only between an account and its own subaccount.")
    amount = _clean_money(amount, field="amount")
    with transaction.atomic():
        # Lock both rows in id order so opposite transfers cannot deadlock.
        list(Account.objects.select_for_update().filter(pk__in=[source.pk, destination.pk]).order_by("pk"))
        out = _ledger_apply(
            account_id=source.pk, kind=LedgerEntry.Kind.TRANSFER_OUT, amount=-amount,
            counterparty=destination, memo=memo, by=by,
        )
        into = _ledger_apply(
            account_id=destination.pk, kind=LedgerEntry.Kind.TRANSFER_IN, amount=amount,
            counterparty=source, memo=memo, by=by,
        )
    return out, into


def credit_reserve(*, account_id: int, amount, reference: str = "") -> LedgerEntry:
    """Hold credit for a send. Raises InsufficientCredit rather than let the balance go below zero."""
    amount = _clean_money(amount, field="amount")
    with transaction.atomic():
        return _ledger_apply(account_id=account_id, kind=LedgerEntry.Kind.RESERVE, amount=-amount, held=amount,
                             reference=reference)


def _open_reservation(reservation_id: int) -> tuple[LedgerEntry, Decimal]:
    """The reservation, locked so its parts are resolved one at a time, and how much of it is still held."""
    reservation = (
        LedgerEntry.objects.select_for_update().filter(pk=reservation_id, kind=LedgerEntry.Kind.RESERVE).first()
    )
    if reservation is None:
        raise NotFound(f"No reservation {reservation_id}.", field="reservation_id")
    return reservation, reservation.held


def _finished_closure(reservation: LedgerEntry, *, kind: str) -> LedgerEntry:
    """For a reservation already fully resolved: the last entry of `kind` (a repeat call), or an error."""
    closure = reservation.closures.filter(kind=kind).order_by("-id").first()
    if closure is None:
        raise DomainError(f"Reservation {reservation.pk} was already closed otherwise.", field="reservation_id")
    return closure


def credit_settle(*, reservation_id: int, actual_amount=None) -> LedgerEntry:
    """Close what is left of a reservation as spent; if less was spent, the difference goes back. Idempotent."""
    with transaction.atomic():
        reservation, held = _open_reservation(reservation_id)
        if held == 0:
            return _finished_closure(reservation, kind=LedgerEntry.Kind.SETTLE)
        spent = held if actual_amount is None else Decimal(str(actual_amount)).quantize(MONEY_PLACES)
        if spent < 0 or spent > held:
            raise DomainError(f"actual_amount must be between 0 and the {held} held.", field="actual_amount")
        return _ledger_apply(
            account_id=reservation.account_id, kind=LedgerEntry.Kind.SETTLE, amount=held - spent, covers=held,
            reservation=reservation, reference=reservation.reference,
        )


def credit_refund(*, reservation_id: int) -> LedgerEntry:
    """Close what is left of a reservation as not spent: all of it goes back. Idempotent."""
    with transaction.atomic():
        reservation, held = _open_reservation(reservation_id)
        if held == 0:
            return _finished_closure(reservation, kind=LedgerEntry.Kind.REFUND)
        return _ledger_apply(
            account_id=reservation.account_id, kind=LedgerEntry.Kind.REFUND, amount=held, covers=held,
            reservation=reservation, reference=reservation.reference,
        )


def credit_release(*, reservation_id: int, spent=0, refunded=0, reference: str = "") -> list[LedgerEntry]:
    """Resolve part of a reservation: `spent` is settled (kept), `refunded` goes back to the balance.

    The dispatcher calls this once per batch with the sums of the messages that reached the carrier or
    failed; it is made once-only by the messages' guarded status moves in the same transaction.
    """
    spent, refunded = Decimal(str(spent)), Decimal(str(refunded))
    if spent < 0 or refunded < 0:
        raise DomainError("Amounts to release must be zero or more.", field="amount")
    # No savepoint: the dispatcher calls this inside its own transaction, once per batch, and an error here
    # must undo the whole batch's moves anyway.
    with transaction.atomic(savepoint=False):
        reservation, held = _open_reservation(reservation_id)
        if spent + refunded > held:
            raise DomainError(
                f"Reservation {reservation_id} holds {held}, less than the {spent + refunded} to release.",
                field="reservation_id",
            )
        entries = []
        reference = reference or reservation.reference
        if spent:
            entries.append(_ledger_apply(
                account_id=reservation.account_id, kind=LedgerEntry.Kind.SETTLE, amount=Decimal(0), covers=spent,
                reservation=reservation, reference=reference,
            ))
        if refunded:
            entries.append(_ledger_apply(
                account_id=reservation.account_id, kind=LedgerEntry.Kind.REFUND, amount=refunded, covers=refunded,
                reservation=reservation, reference=reference,
            ))
    return entries


# --- Rate cards -----------------------------------------------------------------------------------


def _main_account_for_rates(account: Account) -> Account:
    if account.parent_id is not None:
        raise Forbidden("A subaccount pays its main account's rates plus its markup; edit them there.")
    return account


def _clean_price(value, *, field: str) -> Decimal:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(f"{field} must be a number.", field=field) from None
    if not rate.is_finite() or rate < 0 or rate > 1000:
        raise DomainError(f"{field} must be from 0 to 1000.", field=field)
    if rate != rate.quantize(MONEY_PLACES):
        raise DomainError(f"{field} has more than 4 decimal places.", field=field)
    return rate.quantize(MONEY_PLACES)


def rate_card_ensure(*, account: Account) -> RateCard:
    """The main account's rate card, created from the default rates the first time it is edited."""
    account = _main_account_for_rates(account)
    with transaction.atomic():
        card, created = RateCard.objects.get_or_create(account=account)
        if created:
            Rate.objects.bulk_create(Rate(card=card, country=c, per_segment=r) for c, r in DEFAULT_RATES.items())
    return card


def rate_set(*, account: Account, country: str, per_segment) -> Rate:
    country = _clean_region(country)
    per_segment = _clean_price(per_segment, field="per_segment")
    with transaction.atomic():
        card = rate_card_ensure(account=account)
        rate, _ = Rate.objects.update_or_create(card=card, country=country, defaults={"per_segment": per_segment})
        RateCard.objects.filter(pk=card.pk).update(updated_at=timezone.now())
    return rate


def rate_remove(*, account: Account, country: str) -> None:
    """Without its rate a country falls back to the card's fallback rate, or is unroutable."""
    with transaction.atomic():
        card = rate_card_ensure(account=account)
        Rate.objects.filter(card=card, country=(country or "").upper()).delete()
        RateCard.objects.filter(pk=card.pk).update(updated_at=timezone.now())


def rate_card_set_fallback(*, account: Account, fallback_rate) -> RateCard:
    fallback = None if fallback_rate in (None, "") else _clean_price(fallback_rate, field="fallback_rate")
    with transaction.atomic():
        card = rate_card_ensure(account=account)
        card.fallback_rate = fallback
        card.save(update_fields=["fallback_rate", "updated_at"])
    return card


def _clean_markup(subaccount: Account, markup_percent) -> Decimal:
    if subaccount.parent_id is None:
        raise DomainError("Only a subaccount carries a markup on its main account's rates.", field="markup_percent")
    try:
        markup = Decimal(str(markup_percent))
    except (InvalidOperation, ValueError):
        raise DomainError("markup_percent must be a number.", field="markup_percent") from None
    if not markup.is_finite() or not 0 <= markup <= 1000 or markup != markup.quantize(Decimal("0.01")):
        raise DomainError("markup_percent must be from 0 to 1000 with at most 2 decimals.", field="markup_percent")
    return markup


def subaccount_set_markup(*, subaccount: Account, markup_percent) -> Account:
    return subaccount_update(subaccount=subaccount, data={"markup_percent": markup_percent})
