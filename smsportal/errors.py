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


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class InsufficientCredit(DomainError):
    code = "INSUFFICIENT_CREDIT"
    http_status = 402
