"""The one response shape of /v3: {"http_code", "response_code", "response_msg", "data"} (+ "error")."""

from django.http import JsonResponse
from rest_framework.response import Response

SUCCESS_MESSAGES = {
    "GET": "Here are your data.",
    "POST": "Created.",
    "PUT": "Updated.",
    "PATCH": "Updated.",
    "DELETE": "Deleted.",
}


def respond(data, message: str):
    """A DRF Response whose envelope says `message` instead of the method's default."""
    response = Response(data)
    response.response_msg = message
    return response


def success_body(*, status: int, data, message: str) -> dict:
    return {"http_code": status, "response_code": "SUCCESS", "response_msg": message, "data": data}


def error_body(*, status: int, code: str, description: str, fields: dict | None = None) -> dict:
    return {
        "http_code": status,
        "response_code": code,
        "response_msg": description,
        "data": None,
        "error": {"code": code, "description": description, "fields": fields or {}},
    }


def error_response(*, status: int, code: str, description: str, fields: dict | None = None) -> JsonResponse:
    """For errors raised outside DRF (Django's 404 and 500 handlers)."""
    return JsonResponse(error_body(status=status, code=code, description=description, fields=fields), status=status)
