"""API keys over HTTP Basic (ClickSend's way) or Bearer, and the browser session; each yields an Access."""

from rest_framework import authentication, exceptions

from smsportal.accounts.permissions import Access
from smsportal.accounts.selectors import access_for_api_key
from smsportal.accounts.workspace import request_access


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


def _key_access(raw_key: str, api_username: str | None = None):
    access = access_for_api_key(raw_key=raw_key, api_username=api_username)
    if access is None:
        raise exceptions.AuthenticationFailed("Invalid API username or API key.")
    return ApiKeyPrincipal(access), access


class ApiKeyBasicAuthentication(authentication.BasicAuthentication):
    www_authenticate_realm = "smsportal"

    def authenticate_credentials(self, userid, password, request=None):
        return _key_access(password, api_username=userid)


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
        return _key_access(raw_key)

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
