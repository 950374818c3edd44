"""Teach drf-spectacular our authentication classes and our envelope, so /v3/schema/ documents the wire."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.settings import api_settings


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


class ClickSendAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, told how our views answer.

    Lists: the views paginate by hand with the one pagination class (ClickSendPagination); drf-spectacular looks
    for a `pagination_class` on the view, which they lack, and would document their lists as bare arrays without
    page and limit."""

    def _get_paginator(self):
        return api_settings.DEFAULT_PAGINATION_CLASS()

    def _get_response_bodies(self, direction="response"):
        """ClickSend answers every success with 200 and the envelope, a create's and a delete's too; where a view
        names a single response, drf-spectacular would document a 201 for a create and a bodiless 204 for a
        delete."""
        bodies = super()._get_response_bodies(direction)
        serializers = self.get_response_serializers()
        if not isinstance(serializers, dict) and set(bodies) in ({"201"}, {"204"}):
            return {"200": self._get_response_for_code(serializers, "200", direction=direction)}
        return bodies


def strip_optional_trailing_slash(endpoints, **kwargs):
    """Routes accept an optional trailing slash; document ClickSend's form, without it."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]


ENVELOPE_PROPERTIES = {
    "http_code": {"type": "integer", "description": "The HTTP status, repeated.", "example": 200},
    "response_code": {"type": "string", "description": "SUCCESS, or the error's code.", "example": "SUCCESS"},
    "response_msg": {"type": "string", "description": "What happened, in words."},
}
ERROR_ENVELOPE = {
    "type": "object",
    "description": "Every error of /v3: the envelope with `data` null and the error's code, words and culprits.",
    "properties": {
        **ENVELOPE_PROPERTIES,
        "data": {"nullable": True, "description": "Always null on an error."},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "example": "BAD_REQUEST"},
                "description": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "The offending fields (dotted paths for nested ones) and what is wrong with each.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "description", "fields"],
        },
    },
    "required": ["http_code", "response_code", "response_msg", "data", "error"],
}
ERRORS = {
    "400": "The request is malformed or refused; `error.fields` names the culprits.",
    "401": "No valid credentials.",
    "402": "Not enough credit.",
    "403": "The account, role or key may not do this.",
    "404": "No such object in this account.",
    "415": "The body is not JSON, a form or multipart.",
    "429": "Too many requests: wait for Retry-After seconds.",
}


def _enveloped(schema: dict) -> dict:
    return {
        "type": "object",
        "properties": {**ENVELOPE_PROPERTIES, "data": schema},
        "required": ["http_code", "response_code", "response_msg", "data"],
    }


def _error(status: str, description: str = "") -> dict:
    return {
        "description": description or ERRORS.get(status, ""),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def envelope_responses(result, generator, request, public):
    """Document what goes on the wire: EnvelopeJSONRenderer wraps each JSON answer (views and serializers describe
    only its `data`) and the exception handler answers errors with the error envelope. An error status a view
    declares (with extend_schema's responses) gets the error envelope too; those any endpoint can give are added:
    401 and 429 where credentials are asked for, 403 everywhere, 404 where the path names an object, 400 where the
    request carries something to refuse or changes state, and 415 where it has a body."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.startswith("2"):
                    media = (response.get("content") or {}).get("application/json")
                    if media is not None:
                        media["schema"] = _enveloped(media.get("schema", {}))
                else:
                    responses[status] = _error(status, response.get("description", ""))
            parameters = operation.get("parameters", [])
            expected = {"403"}
            if operation.get("security"):
                expected |= {"401", "429"}
            if any(p.get("in") == "path" for p in parameters):
                expected.add("404")
            if method != "get" or "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
                expected.add("400")
            if "requestBody" in operation:
                expected.add("415")
            for status in sorted(expected - set(responses)):
                responses[status] = _error(status)
    return result
