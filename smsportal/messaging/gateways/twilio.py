"""Twilio Programmable Messaging: one form-encoded request per message, sent concurrently.

Webhooks are signed with X-Twilio-Signature (HMAC over the public URL plus the sorted form fields); the
algorithm is implemented here so the module does not depend on the `twilio` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

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
    WebhookRejected,
    WebhookRequest,
    classify_http,
    post_or_result,
    retry_after_seconds,
)
from .http import positive, timeouts
from .transport import run_concurrently

DEFAULT_BASE_URL = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Intermediate statuses (queued, accepted, scheduled, sending) and ones that are not about delivery
# (receiving, received, read, canceled) are not mapped: they change nothing, so parse_status returns [].
STATUS_MAP = {
    "sent": statuses.SENT,
    "delivered": statuses.DELIVERED,
    "undelivered": statuses.UNDELIVERED,
    "failed": statuses.FAILED,
}
_ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def compute_signature(key: str, url: str, params: dict[str, str], algorithm: str = "HMAC_SHA1") -> str:
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(key.encode(), payload.encode("utf-8"), _ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, with the default port added and with any port removed: Twilio signs either form."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    default_port = 443 if parts.scheme == "https" else 80
    return list(
        dict.fromkeys(
            [
                url,
                parts._replace(netloc=f"{host}:{parts.port or default_port}").geturl(),
                parts._replace(netloc=host).geturl(),
            ]
        )
    )


def form_fields(request: WebhookRequest) -> dict[str, str]:
    if request.form:
        return dict(request.form)
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


class TwilioGateway(Gateway):
    kind = "twilio"
    label = "Twilio"
    max_batch = 100
    credential_fields = ("account_sid", "auth_token", "signing_key")
    config_fields = (
        "base_url",
        "messaging_service_sid",
        "default_sender",
        "concurrency",
        "connect_timeout",
        "read_timeout",
    )
    required_fields = ("account_sid", "auth_token")

    @classmethod
    def validate(cls, *, config: dict, credentials: dict) -> dict[str, str]:
        problems = super().validate(config=config, credentials=credentials)
        base_url = str(config.get("base_url") or "")
        if base_url and urlsplit(base_url).scheme not in ("http", "https"):
            problems["base_url"] = "base_url must be an http(s) URL."
        for name in ("concurrency", "connect_timeout", "read_timeout"):
            if config.get(name) not in (None, "") and positive(config, name, -1.0) <= 0:
                problems[name] = f"{name} must be a positive number."
        return problems

    def send_batch(self, messages: list[OutboundSms]) -> list[SubmitResult]:
        return run_concurrently(self._send_one, messages, positive(self.config, "concurrency", 8, int))

    def _send_one(self, message: OutboundSms) -> SubmitResult:
        data = {"To": message.to, "Body": message.body}
        service_sid = self.config.get("messaging_service_sid") or ""
        if message.sender or not service_sid:
            data["From"] = message.sender or self.config.get("default_sender") or ""
        else:
            data["MessagingServiceSid"] = service_sid
        if "From" in data and not data["From"]:
            # Twilio would answer 21603; saying so locally saves a request.
            return SubmitResult(
                message.message_id, PERMANENT, error_code="no_sender", error_text="No sender configured."
            )
        if self.status_webhook_url:
            data["StatusCallback"] = self.status_webhook_url
        base_url = (self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        sid = self.credentials.get("account_sid", "")
        response, failed = post_or_result(
            self.transport,
            [message.message_id],
            "POST",
            f"{base_url}/2010-04-01/Accounts/{sid}/Messages.json",
            data=data,
            auth=(sid, self.credentials.get("auth_token", "")),
            headers={"I-Twilio-Idempotency-Token": message.idempotency_key, "Accept": "application/json"},
            timeout=timeouts(self.config),
        )
        if failed:
            return failed[0]
        try:
            payload = response.json()
        except ValueError:
            payload = None
        outcome = classify_http(response.status_code)
        if outcome == ACCEPTED:
            sid = payload.get("sid") if isinstance(payload, dict) else None
            if isinstance(sid, str) and sid:
                return SubmitResult(message.message_id, ACCEPTED, gateway_message_id=sid, raw=payload)
            # A 2xx we cannot read may still mean "accepted": never retry it, a retry could send twice.
            return SubmitResult(
                message.message_id,
                PERMANENT,
                error_code="bad_response",
                error_text=f"Unreadable success response from Twilio (HTTP {response.status_code}).",
                raw=payload if payload is not None else response.text[:1000],
            )
        error = payload if isinstance(payload, dict) else {}
        return SubmitResult(
            message.message_id,
            outcome,
            error_code=str(error.get("code") or response.status_code),
            error_text=str(error.get("message") or response.reason or "")[:500],
            retry_after=retry_after_seconds(response) if outcome == TEMPORARY else None,
            raw=payload if payload is not None else response.text[:1000],
        )

    def verify(self, request: WebhookRequest) -> None:
        signature = request.headers.get("x-twilio-signature", "")
        # Webhooks signed with a SharedKey name it (and the algorithm) in this header; else the Auth Token, SHA-1.
        settings_header = request.headers.get("x-twilio-webhooks-signature-settings", "")
        algorithm = "HMAC_SHA1"
        for part in settings_header.split(","):
            name, _, value = part.partition("=")
            if name.strip() == "algorithm" and value.strip():
                algorithm = value.strip().upper()
        key = (self.credentials.get("signing_key") if settings_header else "") or self.credentials.get("auth_token", "")
        if not signature or not key:
            raise WebhookRejected("Missing X-Twilio-Signature.")
        if algorithm not in _ALGORITHMS:
            raise WebhookRejected(f"Unsupported signature algorithm {algorithm}.")
        params = form_fields(request) if request.method.upper() == "POST" else {}
        for url in _url_variants(request.url):
            if hmac.compare_digest(compute_signature(key, url, params, algorithm), signature):
                return
        raise WebhookRejected("Bad X-Twilio-Signature.")

    def parse_status(self, request: WebhookRequest) -> list[StatusReport]:
        form = form_fields(request)
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        upstream = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if not sid or not upstream:
            raise WebhookRejected("Status callback without MessageSid or MessageStatus.", status=400)
        status = STATUS_MAP.get(upstream)
        if status is None:
            return []
        return [
            StatusReport(
                gateway_message_id=sid,
                status=status,
                code=form.get("ErrorCode", ""),
                text=form.get("ErrorMessage", ""),
                at=_dlr_done_date(form.get("RawDlrDoneDate", "")),
                raw=form,
            )
        ]

    def parse_inbound(self, request: WebhookRequest) -> list[InboundSms]:
        form = form_fields(request)
        if not form.get("From"):
            raise WebhookRejected("Inbound webhook without From.", status=400)
        return [
            InboundSms(
                sender=form["From"],
                to=form.get("To", ""),
                body=form.get("Body", ""),
                gateway_message_id=form.get("MessageSid") or form.get("SmsSid") or "",
                raw=form,
            )
        ]

    def webhook_ack(self) -> tuple[str, str]:
        return EMPTY_TWIML, "text/xml"


def _dlr_done_date(value: str) -> datetime | None:
    """RawDlrDoneDate is the carrier's YYMMDDhhmm, taken as UTC."""
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC) if value else None
    except ValueError:
        return None
