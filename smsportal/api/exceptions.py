"""One exception handler: every error of the API, DRF's, Django's or the domain's, becomes the envelope."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from smsportal.errors import DomainError

from .envelope import error_body

logger = logging.getLogger(__name__)

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDIT",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "BAD_REQUEST",
    415: "BAD_REQUEST",
    429: "OVER_LIMIT",
}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field.sub": ["message", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.update(_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix: [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix: [str(detail)]}


def _describe(fields: dict[str, list[str]]) -> str:
    parts = [f"{name}: {' '.join(messages)}" if name else " ".join(messages) for name, messages in fields.items()]
    return "; ".join(parts) or "Bad request."


def envelope_exception_handler(exc, context):
    headers = {}
    fields: dict[str, list[str]] = {}
    if isinstance(exc, DomainError):
        status_code, code, description = exc.http_status, exc.code, exc.message
        if exc.field:
            fields = {exc.field: [exc.message]}
    elif isinstance(exc, Http404):
        status_code, code, description = 404, "NOT_FOUND", str(exc) or "Not found."
    elif isinstance(exc, DjangoPermissionDenied):
        status_code, code, description = 403, "FORBIDDEN", str(exc) or "Forbidden."
    elif isinstance(exc, RequestDataTooBig):  # the client's doing, not ours: say so, and log nothing
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        status_code, code = 413, "BAD_REQUEST"
        description = f"The request body is larger than the {limit} bytes this server accepts."
    elif isinstance(exc, SuspiciousOperation):  # too many fields or files, a malformed multipart body
        status_code, code, description = 400, "BAD_REQUEST", str(exc) or "Bad request."
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        status_code, code, description = 400, "BAD_REQUEST", _describe(fields)
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        code = _CODES.get(status_code, "BAD_REQUEST" if status_code < 500 else "INTERNAL_ERROR")
        description = str(exc.detail)
        if isinstance(exc, exceptions.ParseError):
            description = f"Malformed request body: {exc.detail}"
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
            description = f"Too many requests: retry after {int(exc.wait)} s."
            if isinstance(exc, exceptions.Throttled) and str(exc.detail) != str(exceptions.Throttled.default_detail):
                description = f"{exc.detail} Retry after {int(exc.wait)} s."  # our own reason, said
    else:
        logger.exception("Unhandled API error", exc_info=exc)
        status_code, code, description = 500, "INTERNAL_ERROR", "Something went wrong on our side; it has been logged."
    response = Response(
        error_body(status=status_code, code=code, description=description, fields=fields),
        status=status_code,
        headers=headers,
    )
    response.enveloped = True
    return response

