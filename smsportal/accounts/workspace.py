"""Which workspace a browser session is working in."""

from .permissions import Access
from .selectors import access_for_user, workspaces_for_user

SESSION_KEY = "workspace_id"
_CACHE_ATTR = "_smsportal_access"


def request_access(request) -> Access | None:
    """The logged-in user's access to the session's workspace (their first one if none is chosen)."""
    if hasattr(request, _CACHE_ATTR):
        return getattr(request, _CACHE_ATTR)
    access = None
    user = request.user
    if user.is_authenticated:
        account_id = request.session.get(SESSION_KEY)
        if account_id is not None:
            access = access_for_user(user=user, account_id=account_id)
        if access is None:
            for workspace in workspaces_for_user(user=user):
                access = access_for_user(user=user, account_id=workspace.account.pk)
                if access is not None:
                    request.session[SESSION_KEY] = workspace.account.pk
                    break
    setattr(request, _CACHE_ATTR, access)
    return access


def switch_workspace(request, account_id) -> Access | None:
    """Point the session at another workspace if the user may enter it."""
    try:
        access = access_for_user(user=request.user, account_id=int(account_id))
    except (TypeError, ValueError):
        access = None
    if access is not None:
        request.session[SESSION_KEY] = access.account.pk
        setattr(request, _CACHE_ATTR, access)
    return access
