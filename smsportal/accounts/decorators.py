"""Gatekeeping for the browser UI: login, an active workspace, and one capability per view."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from .workspace import request_access


def forbidden(request, *, reason: str, capability: str | None = None):
    """The 403 page, explaining why rather than just refusing."""
    return render(request, "403.html", {"reason": reason, "capability": capability}, status=403)


def require_capability(capability: str):
    """Let the view run only for a logged-in user whose current workspace grants `capability`.

    Sets `request.access` so the view never has to look the workspace up again.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            access = request_access(request)
            if access is None:
                return forbidden(request, reason="no_workspace")
            request.access = access
            if not access.can(capability):
                return forbidden(request, reason="capability", capability=capability)
            return view(request, *args, **kwargs)

        wrapped.required_capability = capability
        return wrapped

    return decorator
