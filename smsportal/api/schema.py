"""Teach drf-spectacular our authentication classes so /v3/schema/ documents them."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BasicKeyScheme(OpenApiAuthenticationExtension):
    target_class = "smsportal.api.authentication.ApiKeyBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "api_username as user, api_key as password"}


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "smsportal.api.authentication.ApiKeyBearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "the api_key as the token"}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "smsportal.api.authentication.WorkspaceSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "smsportal_session"}


def strip_optional_trailing_slash(endpoints, **kwargs):
    """Routes accept an optional trailing slash; document ClickSend's form, without it."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]
