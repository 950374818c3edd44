"""API keys over HTTP Basic (ClickSend's way) or Bearer, and the browser session; each yields an Access."""

from django.conf import settings
from rest_framework import authentication, exceptions

from smsportal.accounts.permissions import Access
from smsportal.accounts.selectors import access_for_api_key
from smsportal.accounts.workspace import request_access

from .ratelimit import limiter

FAILURE_WINDOW = 600.0  # seconds over which an address's failed API keys are counted


class ApiKeyPrincipal:
    """`request.user` for a request made with an API key: the account itself, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, access: Access):
        self.access = access

    def __str__(self):
        return f"api:{self.access.account.api_username}"


def _key_access(raw_key: str, request, api_username: str | None = None):
    """The key's account; an address that got too many keys wrong lately is refused before its key is even
    looked at, so guessing keys from it stops (a right key from it waits too: the attacker may share it)."""
    failures = f"api-key-failures:{getattr(request, 'META', {}).get('REMOTE_ADDR', '')}"
    limit = settings.API_KEY_FAILURE_LIMIT
    if limiter().count(failures, window=FAILURE_WINDOW) >= limit:
        raise exceptions.Throttled(wait=FAILURE_WINDOW, detail=(
            f"Too many wrong API keys from your address: more than {limit} in {FAILURE_WINDOW / 60:.0f} minutes."))
    access = access_for_api_key(raw_key=raw_key, api_username=api_username)
    if access is None:
        limiter().hit(failures, limit=limit + 1, window=FAILURE_WINDOW)
        raise exceptions.AuthenticationFailed("Invalid API username or API key.")
    return ApiKeyPrincipal(access), access


class ApiKeyBasicAuthentication(authentication.BasicAuthentication):
    www_authenticate_realm = "smsportal"

    def authenticate_credentials(self, userid, password, request=None):
        return _key_access(password, request, api_username=userid)


class ApiKeyBearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Bearer header: expected 'Bearer <api_key>'.")
        try:
            raw_key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid Bearer header: the key is not text.") from None
        return _key_access(raw_key, request)

    def authenticate_header(self, request):
        return 'Bearer realm="smsportal"'


class WorkspaceSessionAuthentication(authentication.SessionAuthentication):
    """The browser's session (CSRF enforced), working in the workspace chosen in the UI."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, request_access(request._request)
