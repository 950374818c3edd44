from smsportal.accounts.workspace import request_access


def inbox(request):
    """The navigation's unread badge (one indexed count, only for those who may read the inbox)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    access = request_access(request)
    if access is None or not access.can("inbox.view"):
        return {}
    from .selectors import unread_total

    return {"inbox_unread": lambda: unread_total(access=access)}
