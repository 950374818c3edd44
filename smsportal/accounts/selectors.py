"""Reads for accounts. Everything a caller gets back is already scoped to what its Access may see."""

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from smsportal.errors import NotFound

from .models import Account, ApiKey, LedgerEntry, Member, RateCard, Role, User
from .permissions import Access
from .services import api_key_digest


def _suspended(account: Account) -> bool:
    return not account.is_active or (account.parent is not None and not account.parent.is_active)


def access_for_user(*, user: User, account_id: int) -> Access | None:
    """The user's access to one account, or None. Parent admins enter every subaccount, suspended or not."""
    if not user.is_authenticated:
        return None
    account = Account.objects.select_related("parent").exclude(status=Account.Status.CLOSED).filter(pk=account_id).first()
    if account is None:
        return None
    member = Member.objects.filter(account=account, user=user).only("role").first()
    if member is not None and not _suspended(account):
        return Access(account=account, role=member.role, user=user, via="member")
    if (
        account.parent_id
        and account.parent.is_active
        and Member.objects.filter(account_id=account.parent_id, user=user, role=Role.ADMIN).exists()
    ):
        return Access(account=account, role=Role.ADMIN, user=user, via="parent_admin")
    return None


def access_for_api_key(*, raw_key: str, api_username: str | None = None) -> Access | None:
    """The account an API key opens, or None. Basic auth also names the account; Bearer does not."""
    keys = ApiKey.objects.select_related("account__parent").filter(key_hash=api_key_digest(raw_key), revoked_at=None)
    if api_username is not None:
        keys = keys.filter(account__api_username=api_username)
    key = keys.first()
    if key is None or key.account.status == Account.Status.CLOSED:
        return None
    return Access(account=key.account, role=Role.ADMIN, via="api_key")


def access_is_suspended(access: Access) -> bool:
    return _suspended(access.account)


@dataclass(frozen=True)
class Workspace:
    account: Account
    role: str
    via: str


def workspaces_for_user(*, user: User) -> list[Workspace]:
    """Every account the user can switch into: their memberships, then the subaccounts they administer."""
    memberships = list(
        Member.objects.filter(user=user)
        .exclude(account__status=Account.Status.CLOSED)
        .select_related("account__parent")
        .order_by("account__parent_id", "account__name")
    )
    seen: set[int] = set()
    result: list[Workspace] = []
    admin_of: list[int] = []
    for m in memberships:
        if _suspended(m.account):
            continue
        result.append(Workspace(m.account, m.role, "member"))
        seen.add(m.account_id)
        if m.role == Role.ADMIN and m.account.parent_id is None:
            admin_of.append(m.account_id)
    for child in Account.objects.filter(parent_id__in=admin_of).exclude(status=Account.Status.CLOSED).select_related("parent"):
        if child.id not in seen:
            result.append(Workspace(child, Role.ADMIN, "parent_admin"))
    return result


def subaccount_list(*, access: Access) -> QuerySet[Account]:
    return Account.objects.filter(parent=access.account).exclude(status=Account.Status.CLOSED).order_by("id")


def subaccount_get(*, access: Access, subaccount_id) -> Account:
    try:
        subaccount_id = int(subaccount_id)
    except (TypeError, ValueError):
        raise NotFound(f"No subaccount with id {subaccount_id}.", field="subaccount_id") from None
    account = subaccount_list(access=access).filter(pk=subaccount_id).first()
    if account is None:
        raise NotFound(f"No subaccount with id {subaccount_id}.", field="subaccount_id")
    return account


def member_list(*, account: Account) -> QuerySet[Member]:
    return Member.objects.filter(account=account).select_related("user").order_by("user__email")


def member_get(*, account: Account, member_id) -> Member:
    member = member_list(account=account).filter(pk=member_id).first()
    if member is None:
        raise NotFound(f"No member with id {member_id}.", field="member_id")
    return member


def ledger_list(*, account: Account) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account).select_related("counterparty", "created_by").order_by("-id")


def api_key_active(*, account: Account) -> ApiKey | None:
    return ApiKey.objects.filter(account=account, revoked_at=None).order_by("-id").first()


def subaccount_overview(*, access: Access) -> QuerySet[Account]:
    """The subaccount list page's rows: each subaccount with its member count, in one query."""
    return subaccount_list(access=access).annotate(member_count=Count("members"))


def rate_card_edited(*, account: Account) -> bool:
    """Whether the main account behind `account` has its own card yet (else it prices with the defaults)."""
    return RateCard.objects.filter(account_id=account.parent_id or account.pk).exists()
