"""A configurable JSON-over-HTTP gateway for upstreams without a plug-in of their own.

The request body is a JSON template whose string values may hold placeholders; delivery reports and inbound
messages are read with configurable field names (dotted paths into JSON, or form field names).
Also home to small helpers the other gateways share (timeouts, webhook body parsing).
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import statuses
from .base import (
    ACCEPTED,
    CONNECT_TIMEOUT,
    PERMANENT,
    READ_TIMEOUT,
    TEMPORARY,
    Gateway,
    InboundSms,
    OutboundSms,
    StatusReport,
    SubmitResult,
    WebhookRejected,
    WebhookRequest,
    classify_http,
    dig,
    post_or_result,
    retry_after_seconds,
)
from .transport import MAX_THREADS, run_concurrently

PLACEHOLDERS = ("to", "from", "body", "idempotency_key", "message_id", "status_url")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
REPORTED = (statuses.SENT, statuses.DELIVERED, statuses.UNDELIVERED, statuses.FAILED)
DEFAULT_TEMPLATE = (
    '{"to": "{{to}}", "from": "{{from}}", "body": "{{body}}", "reference": "{{idempotency_key}}",'
    ' "status_url": "{{status_url}}"}'
)
DEFAULTS = {"method": "POST", "auth_header": "Authorization"}  # and each *_field defaults to its last word
MAX_CONCURRENCY = MAX_THREADS


class TemplateError(ValueError):
    pass


def positive(config: dict, key: str, default: float, cast=float):
    try:
        value = cast(config.get(key) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def timeouts(config: dict) -> tuple[float, float]:
    return positive(config, "connect_timeout", CONNECT_TIMEOUT), positive(config, "read_timeout", READ_TIMEOUT)


def webhook_records(request: WebhookRequest) -> list[dict]:
    """The webhook's records: a JSON object or a list of objects, else the form fields as one record."""
    body = request.body.strip()
    if "json" in request.headers.get("content-type", "") or body[:1] in (b"{", b"["):
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookRejected("Webhook body is not valid JSON.", status=400) from None
        records = data if isinstance(data, list) else [data]
        if not all(isinstance(r, dict) for r in records):
            raise WebhookRejected("Webhook JSON must be an object or a list of objects.", status=400)
        return records
    form = dict(request.form) or dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return [form] if form else []


def field(record: dict, name: str) -> Any:
    """A record's field: by exact name (form keys may hold dots), else by dotted path."""
    return record[name] if name in record else dig(record, name)


def text(value: Any) -> str:
    return "" if value is None else str(value)


def compile_template(node: Any) -> Callable[[dict[str, Any]], Any]:
    """A function filling the template's placeholders from values; a string that is exactly one placeholder
    takes the value's type. Compiled once per gateway, not walked with regular expressions per message."""
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            name = whole.group(1)
            return lambda values: values.get(name, "")
        pieces = PLACEHOLDER.split(node)  # literal, name, literal, name, …, literal
        if len(pieces) == 1:
            return lambda values: node
        literals, names = pieces[0::2], pieces[1::2]
        tail = literals[1:]

        def fill(values):
            out = [literals[0]]
            for name, literal in zip(names, tail, strict=True):
                out.append(text(values.get(name, "")))
                out.append(literal)
            return "".join(out)

        return fill
    if isinstance(node, list):
        items = [compile_template(item) for item in node]
        return lambda values: [item(values) for item in items]
    if isinstance(node, dict):
        pairs = [(key, compile_template(item)) for key, item in node.items()]
        return lambda values: {key: item(values) for key, item in pairs}
    return lambda values: node


def render(node: Any, values: dict[str, Any]) -> Any:
    return compile_template(node)(values)


def _json_setting(value: Any, default: Any) -> Any:
    if value in (None, ""):
        return default
    return json.loads(value) if isinstance(value, str) else value


def _status_map(config: dict) -> dict[str, str]:
    """dlr_status_map with lower-cased keys; ValueError when it is not an object of our status names."""
    status_map = _json_setting(config.get("dlr_status_map"), {})
    if not isinstance(status_map, dict) or any(v not in (*REPORTED, "") for v in status_map.values()):
        raise ValueError("bad dlr_status_map")
    return {str(k).lower(): v for k, v in status_map.items()}


def _results(ids: list[int], outcome: str, **fields) -> list[SubmitResult]:
    return [SubmitResult(message_id, outcome, **fields) for message_id in ids]


class HttpGateway(Gateway):
    kind = "http"
    label = "HTTP (JSON)"
    max_batch = 200
    credential_fields = ("auth_value",)
    # fmt: off
    config_fields = ("url", "method", "auth_header", "body_template", "response_id_path", "batch_size", "concurrency",
                     "default_sender", "connect_timeout", "read_timeout", "dlr_id_field", "dlr_status_field",
                     "dlr_status_map", "dlr_code_field", "inbound_from_field", "inbound_to_field", "inbound_body_field",
                     "inbound_id_field", "inbound_part_ref_field", "inbound_part_number_field",
                     "inbound_part_count_field", "dedupes_idempotency_key")
    # fmt: on
    required_fields = ("url",)

    @property
    def resubmit_safe(self) -> bool:
        """Only if the operator says their upstream dedupes on the idempotency key the template sends."""
        return str(self.config.get("dedupes_idempotency_key", "")).lower() in ("1", "true", "yes", "on")

    @classmethod
    def validate(cls, *, config: dict, credentials: dict) -> dict[str, str]:
        problems = super().validate(config=config, credentials=credentials)
        url = urlsplit(str(config.get("url") or ""))
        if config.get("url") and (url.scheme not in ("http", "https") or not url.netloc):
            problems["url"] = "url must be an http:// or https:// URL."
        if str(config.get("method") or "POST").upper() not in ("POST", "PUT", "PATCH"):
            problems["method"] = "method must be POST, PUT or PATCH."
        limits = {
            "connect_timeout": 600,
            "read_timeout": 600,
            "concurrency": MAX_CONCURRENCY,
            "batch_size": cls.max_batch,
        }
        for name, top in limits.items():
            if config.get(name) not in (None, "") and not 0 < positive(config, name, -1) <= top:
                problems[name] = f"{name} must be a number from 1 to {top}."
        try:
            cls._parse_template(config)
        except ValueError as exc:
            problems["body_template"] = str(exc)
        try:
            _status_map(config)
        except ValueError:
            problems["dlr_status_map"] = f"dlr_status_map must be a JSON object of status → {', '.join(REPORTED)}."
        if config.get("auth_header") and not credentials.get("auth_value"):
            problems["auth_value"] = "auth_value is required with auth_header."
        return problems

    @classmethod
    def _parse_template(cls, config: dict) -> tuple[dict, dict | None]:
        """(the template, its per-message element when batching); ValueError says what is wrong."""
        try:
            template = _json_setting(config.get("body_template") or DEFAULT_TEMPLATE, None)
        except ValueError:
            raise TemplateError("body_template is not valid JSON.") from None
        if not isinstance(template, dict):
            raise TemplateError("body_template must be a JSON object.")
        element = None
        if positive(config, "batch_size", 1, int) > 1:
            element = template.get("messages")
            if not (isinstance(element, list) and len(element) == 1 and isinstance(element[0], dict)):
                raise TemplateError('With batch_size > 1, body_template needs "messages": [ {one message} ].')
            if "*" not in str(config.get("response_id_path") or ""):
                raise TemplateError(
                    'With batch_size > 1, response_id_path must hold "*" for the index, e.g. messages.*.id.'
                )
            element = element[0]
        names = set(PLACEHOLDER.findall(json.dumps(template if element is None else element)))
        if unknown := set(PLACEHOLDER.findall(json.dumps(template))) - set(PLACEHOLDERS):
            raise TemplateError(f"Unknown placeholder(s): {', '.join(sorted(unknown))}.")
        if not {"to", "body"} <= names:
            raise TemplateError("body_template must place {{to}} and {{body}}.")
        return template, element

    def setting(self, name: str) -> Any:
        default = name.rsplit("_", 2)[-2] if name.endswith("_field") else DEFAULTS.get(name, "")
        return self.config.get(name) or default

    def _get(self, record: dict, name: str) -> str:
        return text(field(record, self.setting(name)))

    @cached_property
    def _fillers(self) -> tuple[Callable, Callable | None]:
        """(the request body's filler, the per-message element's when batching)."""
        template, element = self._parse_template(self.config)
        if element is None:
            return compile_template(template), None
        return compile_template({k: v for k, v in template.items() if k != "messages"}), compile_template(element)

    def send_batch(self, messages: list[OutboundSms]) -> list[SubmitResult]:
        try:
            fill, fill_element = self._fillers
        except ValueError as exc:
            return _results([m.message_id for m in messages], PERMANENT, error_code="bad_config", error_text=str(exc))
        size = positive(self.config, "batch_size", 1, int) if fill_element is not None else 1
        units = [messages[i : i + size] for i in range(0, len(messages), size)]
        concurrency = positive(self.config, "concurrency", 16, int)
        done = run_concurrently(lambda unit: self._send_unit(unit, fill, fill_element), units, concurrency)
        return [r for unit_results in done for r in unit_results]

    @cached_property
    def _request(self) -> dict[str, Any]:
        """What every request of this connection shares, read from its settings once."""
        auth_value = self.credentials.get("auth_value")
        return {
            "method": str(self.setting("method")).upper(),
            "url": self.config.get("url", ""),
            "headers": {self.setting("auth_header"): auth_value} if auth_value else None,
            "timeout": timeouts(self.config),
            "default_sender": self.setting("default_sender"),
        }

    def _values(self, m: OutboundSms) -> dict[str, Any]:
        return {
            "to": m.to,
            "from": m.sender or self._request["default_sender"],
            "body": m.body,
            "idempotency_key": m.idempotency_key,
            "message_id": m.message_id,
            "status_url": self.status_webhook_url,
        }

    def _send_unit(self, unit: list[OutboundSms], fill: Callable, fill_element: Callable | None) -> list[SubmitResult]:
        if fill_element is None:
            body = fill(self._values(unit[0]))
        else:  # placeholders outside "messages" only know the batch-wide status_url
            body = fill({"status_url": self.status_webhook_url})
            body["messages"] = [fill_element(self._values(m)) for m in unit]
        ids = [m.message_id for m in unit]
        request = self._request
        response, failed = post_or_result(
            self.transport, ids, request["method"], request["url"], json=body, headers=request["headers"],
            timeout=request["timeout"],
        )
        if failed:
            return failed
        outcome = classify_http(response.status_code)
        if outcome != ACCEPTED:
            retry_after = retry_after_seconds(response) if outcome == TEMPORARY else None
            error = response.text[:500] or response.reason or ""
            return _results(
                ids, outcome, error_code=str(response.status_code), error_text=error, retry_after=retry_after
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        # An explicitly empty path means the upstream returns no id: any 2xx is an acceptance.
        path = self.config.get("response_id_path")
        path = "id" if path is None else str(path)
        if not path:
            return _results(ids, ACCEPTED, raw=payload)
        results = []
        for index, message_id in enumerate(ids):
            found = dig(payload, path.replace("*", str(index)))
            raw = dig(payload, path.split("*")[0] + str(index)) if "*" in path else payload
            if found in (None, "") or isinstance(found, (dict, list)):
                # Accepted or not, we cannot tell: treated as final, since a retry could send the message twice.
                error = f"No id at {path!r} in the upstream's answer."
                raw = raw if payload is not None else response.text[:1000]
                results.append(
                    SubmitResult(message_id, PERMANENT, error_code="bad_response", error_text=error, raw=raw)
                )
            else:
                results.append(SubmitResult(message_id, ACCEPTED, gateway_message_id=text(found), raw=raw))
        return results

    def _status(self, upstream: str) -> str:
        """Our status for an upstream one, matched case-insensitively; our own names need no mapping."""
        try:
            status_map = _status_map(self.config)
        except ValueError:
            status_map = {}  # validate() reports it; meanwhile only our own status names match
        value = upstream.strip().lower()
        return status_map.get(value, value if value in REPORTED else "")

    def parse_status(self, request: WebhookRequest) -> list[StatusReport]:
        reports = []
        for record in webhook_records(request):
            gateway_id, status = self._get(record, "dlr_id_field"), self._status(self._get(record, "dlr_status_field"))
            if gateway_id and status:  # an unmapped status is an intermediate one: nothing to store
                code = self._get(record, "dlr_code_field")
                reports.append(StatusReport(gateway_message_id=gateway_id, status=status, code=code, raw=record))
        return reports

    def parse_inbound(self, request: WebhookRequest) -> list[InboundSms]:
        return [
            InboundSms(
                sender=self._get(record, "inbound_from_field"),
                to=self._get(record, "inbound_to_field"),
                body=self._get(record, "inbound_body_field"),
                gateway_message_id=self._get(record, "inbound_id_field"),
                raw=record,
                **self._part(record),
            )
            for record in webhook_records(request)
            if self._get(record, "inbound_from_field")
        ]

    def _part(self, record: dict) -> dict:
        """The part of a long message this record is, where the upstream says (configured field names)."""
        if not self.config.get("inbound_part_ref_field"):
            return {}
        ref = text(field(record, self.config["inbound_part_ref_field"]))
        try:
            number = int(text(field(record, self.config.get("inbound_part_number_field") or "part")))
            count = int(text(field(record, self.config.get("inbound_part_count_field") or "parts")))
        except ValueError:
            return {}
        if not ref or not 1 <= number <= count <= 255:
            return {}
        return {"part_ref": ref, "part_number": number, "part_count": count}
