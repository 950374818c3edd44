from rest_framework import exceptions, permissions

from smsportal.accounts.permissions import Access
from smsportal.accounts.selectors import access_is_suspended


def required_capability(request, view) -> str | None:
    """Views declare `capabilities`, keyed by viewset action or HTTP method."""
    capabilities = getattr(view, "capabilities", {})
    action = getattr(view, "action", None)
    return capabilities.get(action) or capabilities.get(request.method)


class HasCapability(permissions.BasePermission):
    """Every endpoint names the capability it needs; none named means nobody may call it."""

    def has_permission(self, request, view):
        access = request.auth if isinstance(request.auth, Access) else None
        if access is None:
            if not (request.user and request.user.is_authenticated):
                raise exceptions.NotAuthenticated("Authentication required: use HTTP Basic api_username:api_key.")
            raise exceptions.PermissionDenied("You are not a member of any active account.")
        if access.via != "parent_admin" and access_is_suspended(access):
            raise exceptions.PermissionDenied("This account is suspended.")
        if request.method == "OPTIONS" or getattr(view, request.method.lower(), None) is None:
            return True  # OPTIONS describes the endpoint; an unsupported method gets its 405 from DRF
        capability = required_capability(request, view)
        if capability is None or not access.can(capability):
            raise exceptions.PermissionDenied(
                f"Your {'API key' if access.via == 'api_key' else access.role + ' role'} "
                f"may not {request.method} {request.path}."
            )
        return True


class Public(permissions.BasePermission):
    def has_permission(self, request, view):
        return True
