"""Gatekeeping for the browser UI: login, an active workspace, and one capability per view."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from smsportal.errors import NotFound

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
            try:
                # Pages show times in the workspace's zone, the zone its forms read times in.
                with timezone.override(access.account.zone):
                    return view(request, *args, **kwargs)
            except NotFound as exc:
                # Selectors refuse ids outside the workspace; the browser sees the site's 404 page.
                raise Http404(exc.message) from None

        wrapped.required_capability = capability
        return wrapped

    return decorator
