"""The gateway plug-in interface. Gateways take and return these dataclasses, never models.

A gateway instance is built per connection (its config and credentials) and reused by the dispatcher for
a whole batch; its HTTP goes through the process's keep-alive `Transport`. It never touches the database: the dispatcher turns
its results into status moves, and the webhook views turn its parsed events into stored reports.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from .transport import Response, Transport, TransportError, shared_transport

# Outcomes of one submission.
ACCEPTED = "accepted"  # the gateway took it: the message is `sent` and charged
TEMPORARY = "temporary"  # 429, 5xx, timeout, connection error: retry later with backoff
PERMANENT = "permanent"  # any other refusal: `failed` now, refunded

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 15


@dataclass(frozen=True)
class OutboundSms:
    message_id: int
    idempotency_key: str  # sent upstream wherever the API has a place for it; stable across retries
    to: str  # E.164
    sender: str  # may be empty: the gateway's default sender
    body: str
    segments: int = 1
    attempt: int = 1  # 1 for the first submission, 2 for the first retry, …


@dataclass
class SubmitResult:
    message_id: int
    outcome: str  # ACCEPTED | TEMPORARY | PERMANENT
    gateway_message_id: str = ""
    error_code: str = ""  # the upstream's code (HTTP status or its own), shown on the message
    error_text: str = ""
    retry_after: float | None = None  # seconds, when the upstream said (Retry-After)
    raw: Any = None  # the upstream's answer for this message (JSON-able), kept on the event


@dataclass(frozen=True)
class WebhookRequest:
    """An incoming webhook, detached from Django so gateways stay testable without it."""

    url: str  # the public URL the upstream called (PUBLIC_BASE_URL + path + query): what Twilio signs
    method: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    form: dict[str, str] = field(default_factory=dict)  # form-encoded fields (first value of each)
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        import json

        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class StatusReport:
    gateway_message_id: str
    status: str  # one of statuses.SENT / DELIVERED / UNDELIVERED / FAILED
    code: str = ""
    text: str = ""
    at: datetime | None = None  # when the upstream says it happened
    raw: Any = None


@dataclass(frozen=True)
class InboundSms:
    sender: str  # the phone that wrote to us, as the upstream sent it
    to: str  # our number
    body: str
    gateway_message_id: str = ""
    at: datetime | None = None
    raw: Any = None
    # One part of a long message, when the upstream hands parts over separately (the inbox joins them).
    part_ref: str = ""
    part_number: int | None = None
    part_count: int | None = None


class WebhookRejected(Exception):
    """A webhook failed verification or could not be parsed; the view answers 403 or 400 and stores nothing."""

    def __init__(self, message: str, *, status: int = 403):
        super().__init__(message)
        self.status = status


class Gateway:
    kind: ClassVar[str]
    label: ClassVar[str]
    max_batch: ClassVar[int] = 100  # messages per send_batch call
    # Credential keys masked when a connection is shown; config keys are shown as they are.
    credential_fields: ClassVar[tuple[str, ...]] = ()
    config_fields: ClassVar[tuple[str, ...]] = ()
    required_fields: ClassVar[tuple[str, ...]] = ()
    # May a submission whose outcome we never learned (the worker died mid-batch) be sent again? Only when
    # the upstream dedupes on our idempotency key; otherwise such messages fail rather than risk a double text.
    resubmit_safe: ClassVar[bool] = False

    def __init__(
        self,
        *,
        config: dict | None = None,
        credentials: dict | None = None,
        status_webhook_url: str = "",
        inbound_webhook_url: str = "",
        webhook_secret: str = "",
        transport: Transport | None = None,
    ):
        self.config = dict(config or {})
        self.credentials = dict(credentials or {})
        self.status_webhook_url = status_webhook_url
        self.inbound_webhook_url = inbound_webhook_url
        self.webhook_secret = webhook_secret
        self.transport = transport or shared_transport()

    @classmethod
    def validate(cls, *, config: dict, credentials: dict) -> dict[str, str]:
        """Problems with a connection's settings as {field: message}; empty when it can be used."""
        merged = {**config, **credentials}
        return {name: f"{name} is required." for name in cls.required_fields if not str(merged.get(name) or "").strip()}

    def send_batch(self, messages: list[OutboundSms]) -> list[SubmitResult]:
        """Submit up to `max_batch` messages; one result per message, in order. Never raises for upstream trouble."""
        raise NotImplementedError

    def verify(self, request: WebhookRequest) -> None:
        """Raise WebhookRejected unless the webhook really comes from this connection's upstream.

        The default checks the per-connection secret carried in the URL (`?secret=` or the path's token,
        already matched by the view); gateways with a signature scheme (Twilio) override it.
        """
        if not self.webhook_secret or not hmac.compare_digest(request.query.get("secret", ""), self.webhook_secret):
            raise WebhookRejected("Bad or missing webhook secret.")

    def parse_status(self, request: WebhookRequest) -> list[StatusReport]:
        raise WebhookRejected(f"{self.kind} sends no delivery reports.", status=400)

    def parse_inbound(self, request: WebhookRequest) -> list[InboundSms]:
        raise WebhookRejected(f"{self.kind} sends no inbound messages.", status=400)

    def webhook_ack(self) -> tuple[str, str]:
        """The body and content type to acknowledge a webhook with."""
        return "OK", "text/plain"

    def reports_after_submit(self, messages: list[OutboundSms], results: list[SubmitResult]) -> list[tuple[StatusReport, float]]:
        """Reports the gateway itself will produce later, with their delay in seconds (only the sandbox has any)."""
        return []


def classify_http(status_code: int) -> str:
    """429 and 5xx are worth retrying; any other refusal is final."""
    if status_code == 429 or status_code >= 500:
        return TEMPORARY
    if 200 <= status_code < 300:
        return ACCEPTED
    return PERMANENT


def retry_after_seconds(response: Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


_ERROR_TEXT = {
    "timeout": "Upstream timed out",
    "connection_error": "Could not reach the upstream",
    "request_error": "Upstream request failed",
}


def post_or_result(transport: Transport, message_ids: list[int], method: str, url: str, **kwargs):
    """Do one upstream request; on a network failure return TEMPORARY results instead of raising.

    Returns (response, None) or (None, [SubmitResult, ...]).
    """
    kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
    try:
        return transport.request(method, url, **kwargs), None
    except TransportError as exc:
        code, text = exc.code, f"{_ERROR_TEXT[exc.code]}: {exc}"
    return None, [SubmitResult(message_id=i, outcome=TEMPORARY, error_code=code, error_text=text) for i in message_ids]


def dig(data: Any, path: str) -> Any:
    """`data` at a dotted path (`messages.0.id`); None when any step is missing."""
    current = data
    for step in (p for p in path.split(".") if p):
        if isinstance(current, list):
            try:
                current = current[int(step)]
            except (ValueError, IndexError):
                return None
        elif isinstance(current, dict):
            current = current.get(step)
        else:
            return None
        if current is None:
            return None
    return current
