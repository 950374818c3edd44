"""ClickSend v3 (or any ClickSend-compatible API, smsportal's own /v3 included): up to 1000 messages per request.

The HTTP answer covers the request; each message then carries its own status in `data.messages`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from .. import statuses
from .base import (
    ACCEPTED,
    PERMANENT,
    TEMPORARY,
    Gateway,
    InboundSms,
    OutboundSms,
    StatusReport,
    SubmitResult,
    WebhookRequest,
    classify_http,
    dig,
    post_or_result,
    retry_after_seconds,
)
from .http import positive, text, timeouts, webhook_records

DEFAULT_BASE_URL = "https://rest.clicksend.com"
# Per-message statuses that mean "not processed, try again later". Every other non-SUCCESS status is final:
# INSUFFICIENT_CREDIT included, as a top-up rarely lands within our retry window and the customer is refunded.
TEMPORARY_STATUSES = frozenset(
    {"RATE_LIMITED", "RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS", "QUEUE_FULL", "SYSTEM_BUSY"}
)
# Gateway status codes in receipts (REFERENCE.md): 302 is a temporary failure at the carrier, but final for us.
RECEIPT_MAP = {
    "200": statuses.SENT,
    "201": statuses.DELIVERED,
    "300": statuses.UNDELIVERED,
    "301": statuses.UNDELIVERED,
    "302": statuses.UNDELIVERED,
}


def _timestamp(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(float(value)), UTC) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class ClickSendGateway(Gateway):
    kind = "clicksend"
    label = "ClickSend"
    max_batch = 1000
    credential_fields = ("username", "api_key")
    config_fields = ("base_url", "default_sender", "connect_timeout", "read_timeout")
    required_fields = ("username", "api_key")

    @classmethod
    def validate(cls, *, config: dict, credentials: dict) -> dict[str, str]:
        problems = super().validate(config=config, credentials=credentials)
        base_url = str(config.get("base_url") or "")
        if base_url and (urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc):
            problems["base_url"] = "base_url must be an http(s) URL."
        for name in ("connect_timeout", "read_timeout"):
            if config.get(name) not in (None, "") and positive(config, name, -1.0) <= 0:
                problems[name] = f"{name} must be a positive number."
        return problems

    def send_batch(self, messages: list[OutboundSms]) -> list[SubmitResult]:
        results: list[SubmitResult] = []
        for start in range(0, len(messages), self.max_batch):
            results.extend(self._send_chunk(messages[start : start + self.max_batch]))
        return results

    def _send_chunk(self, messages: list[OutboundSms]) -> list[SubmitResult]:
        if not messages:
            return []
        default_sender = self.config.get("default_sender") or ""
        payload = {"messages": [self._wire(m, default_sender) for m in messages]}
        base_url = (self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        ids = [m.message_id for m in messages]
        response, failed = post_or_result(
            self.transport,
            ids,
            "POST",
            f"{base_url}/v3/sms/send",
            json=payload,
            auth=(self.credentials.get("username", ""), self.credentials.get("api_key", "")),
            timeout=timeouts(self.config),
        )
        if failed:
            return failed
        try:
            body = response.json()
        except ValueError:
            body = None
        raw = body if body is not None else response.text[:1000]
        outcome = classify_http(response.status_code)
        if outcome != ACCEPTED:
            envelope = body if isinstance(body, dict) else {}
            retry_after = retry_after_seconds(response) if outcome == TEMPORARY else None
            code = text(envelope.get("response_code")) or str(response.status_code)
            message = text(envelope.get("response_msg")) or response.reason or ""
            return [
                SubmitResult(i, outcome, error_code=code, error_text=message, retry_after=retry_after, raw=raw)
                for i in ids
            ]
        items = dig(body, "data.messages")
        if not isinstance(items, list):
            # The request went through but we cannot tell what happened to each message: a retry could send twice.
            return [self._bad_response(i, raw) for i in ids]
        return [self._result(m, item) for m, item in zip(messages, _match(messages, items), strict=True)]

    @staticmethod
    def _wire(message: OutboundSms, default_sender: str) -> dict:
        wire = {"source": "smsportal", "to": message.to, "body": message.body, "custom_string": message.idempotency_key}
        if message.sender or default_sender:
            wire["from"] = message.sender or default_sender  # else ClickSend picks its shared number
        return wire

    @staticmethod
    def _bad_response(message_id: int, raw) -> SubmitResult:
        return SubmitResult(
            message_id, PERMANENT, error_code="bad_response", error_text="Unreadable answer from ClickSend.", raw=raw
        )

    def _result(self, message: OutboundSms, item) -> SubmitResult:
        if not isinstance(item, dict):
            return self._bad_response(message.message_id, item)
        status = text(item.get("status")).upper()
        if status == "SUCCESS":
            if not item.get("message_id"):
                return self._bad_response(message.message_id, item)
            return SubmitResult(message.message_id, ACCEPTED, gateway_message_id=str(item["message_id"]), raw=item)
        outcome = TEMPORARY if status in TEMPORARY_STATUSES else PERMANENT
        return SubmitResult(
            message.message_id,
            outcome,
            error_code=status or "bad_response",
            error_text=status.replace("_", " ").capitalize() if status else "Message without a status.",
            raw=item,
        )

    def parse_status(self, request: WebhookRequest) -> list[StatusReport]:
        reports = []
        for record in webhook_records(request):
            message_id = text(record.get("message_id"))
            status = RECEIPT_MAP.get(text(record.get("status_code")).strip())
            if not message_id or status is None:
                continue  # a receipt we cannot place or a code that is not a final answer: nothing to store
            reports.append(
                StatusReport(
                    gateway_message_id=message_id,
                    status=status,
                    code=text(record.get("error_code")),
                    text=text(record.get("error_text")) or text(record.get("status_text")),
                    at=_timestamp(record.get("timestamp")),
                    raw=record,
                )
            )
        return reports

    def parse_inbound(self, request: WebhookRequest) -> list[InboundSms]:
        # original_message_id (the outbound this answers) stays in `raw` for threading.
        return [
            InboundSms(
                sender=text(record.get("from")),
                to=text(record.get("to")),
                body=text(record.get("body")),
                gateway_message_id=text(record.get("message_id")),
                at=_timestamp(record.get("timestamp")),
                raw=record,
            )
            for record in webhook_records(request)
            if record.get("from")
        ]


def _match(messages: list[OutboundSms], items: list) -> list:
    """Each message's answer: by custom_string, else by position when the counts agree, else None."""
    by_key = {item.get("custom_string"): item for item in items if isinstance(item, dict) and item.get("custom_string")}
    same_length = len(items) == len(messages)
    matched = []
    for index, message in enumerate(messages):
        item = by_key.get(message.idempotency_key)
        if item is None and same_length and not (isinstance(items[index], dict) and items[index].get("custom_string")):
            item = items[index]
        matched.append(item)
    return matched
