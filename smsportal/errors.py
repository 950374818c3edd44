"""Domain errors raised by services; the API and the UI translate them for their audience."""


class DomainError(Exception):
    """A request the domain refuses. `code` is the API's response_code; `field` names the culprit."""

    code = "BAD_REQUEST"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404


MAX_ID = 2**63 - 1  # the largest id a row can have (BigAutoField)


def possible_ids(ids: list[int]) -> list[int]:
    """Those of `ids` that a row could have: SQLite refuses even to compare a larger number with an id column."""
    return [i for i in ids if 0 < i <= MAX_ID]


def one_or_not_found(queryset, value, *, field: str, message: str):
    """The row with id `value` in `queryset` (already scoped to a workspace), or NotFound: a malformed id and
    another workspace's id answer alike."""
    try:
        row = queryset.filter(pk=int(value)).first()
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise NotFound(message, field=field)
    return row


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class InsufficientCredit(DomainError):
    code = "INSUFFICIENT_CREDIT"
    http_status = 402
