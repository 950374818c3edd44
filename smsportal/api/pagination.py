"""ClickSend's pagination: ?page=N&limit=M, its fields inside `data`, plus a `page` block."""

import math

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _positive_int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"{name} must be a whole number, got {raw!r}."]}) from None
    if value < 1:
        raise ValidationError({name: [f"{name} must be 1 or more."]})
    return value


class ClickSendPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = _positive_int(request, "page", 1)
        self.limit = min(_positive_int(request, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        self.total = queryset.count()
        self.last_page = max(1, math.ceil(self.total / self.limit))
        offset = (self.page - 1) * self.limit
        self.items = list(queryset[offset : offset + self.limit]) if offset < self.total else []
        return self.items

    def _page_url(self, page: int) -> str:
        url = self.request.build_absolute_uri()
        return replace_query_param(replace_query_param(url, "page", page), "limit", self.limit)

    def get_paginated_response(self, data):
        first = (self.page - 1) * self.limit + 1 if self.items else None
        return Response(
            {
                "total": self.total,
                "per_page": self.limit,
                "current_page": self.page,
                "last_page": self.last_page,
                "next_page_url": self._page_url(self.page + 1) if self.page < self.last_page else None,
                "prev_page_url": self._page_url(self.page - 1) if self.page > 1 else None,
                "from": first,
                "to": first + len(self.items) - 1 if self.items else None,
                "data": data,
                "page": {"count": self.last_page, "number": self.page},
            }
        )

    def get_paginated_response_schema(self, schema):
        nullable_int = {"type": "integer", "nullable": True}
        return {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "per_page": {"type": "integer"},
                "current_page": {"type": "integer"},
                "last_page": {"type": "integer"},
                "next_page_url": {"type": "string", "nullable": True},
                "prev_page_url": {"type": "string", "nullable": True},
                "from": nullable_int,
                "to": nullable_int,
                "data": schema,
                "page": {"type": "object", "properties": {"count": {"type": "integer"}, "number": {"type": "integer"}}},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        ]
