"""Who may do what: roles grant capabilities, a subaccount's access flags can take them away.

Pure module: the UI decorators and the API permission class both ask `Access.can()`.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Account, User

# Capability -> the subaccount access flag that must be on for it (None: no flag applies).
CAPABILITY_FLAGS: dict[str, str | None] = {
    "dashboard.view": None,
    "account.view": None,
    "account.manage": "access_settings",
    "api_keys.manage": "access_settings",
    "subaccounts.manage": "access_users",
    "members.manage": "access_users",
    "billing.view": "access_billing",
    "billing.manage": "access_billing",
    "contacts.view": "access_contacts",
    "contacts.edit": "access_contacts",
    "campaigns.view": "access_sms",
    "campaigns.edit": "access_sms",
    "sms.send": "access_sms",
    "inbox.view": "access_sms",
    "inbox.reply": "access_sms",
    "reports.view": "access_reporting",
}

_VIEW = {"dashboard.view", "account.view", "contacts.view", "campaigns.view", "inbox.view", "reports.view"}
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "admin": frozenset(CAPABILITY_FLAGS),
    "marketer": frozenset(_VIEW | {"contacts.edit", "campaigns.edit", "sms.send", "inbox.reply", "billing.view"}),
    "agent": frozenset({"dashboard.view", "account.view", "contacts.view", "inbox.view", "inbox.reply", "sms.send"}),
    "viewer": frozenset(_VIEW),
}


@dataclass(frozen=True)
class Access:
    """The caller's standing in one account: who (a user or the account's API key), which role, and how."""

    account: "Account"
    role: str
    user: "User | None" = None
    via: str = "member"  # "member", "parent_admin" (a parent account's admin) or "api_key"

    def can(self, capability: str) -> bool:
        if capability not in CAPABILITY_FLAGS:
            raise KeyError(f"unknown capability {capability!r}")
        if capability not in ROLE_CAPABILITIES[self.role]:
            return False
        flag = CAPABILITY_FLAGS[capability]
        # The flags are set by the parent for the subaccount's own people and key, not for the parent's admins.
        if flag and self.via != "parent_admin" and not getattr(self.account, flag):
            return False
        return True


class Capabilities:
    """`Access.can()` for templates, which cannot pass arguments: `{{ capabilities.api_keys_manage }}`."""

    def __init__(self, access: Access | None):
        self._access = access

    def __getitem__(self, name: str) -> bool:
        noun, _, verb = name.rpartition("_")
        return self._access is not None and self._access.can(f"{noun}.{verb}")
