"""CSV of the message log, streamed: the UI's export and /v3/sms/history/export write the same file."""

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from contacts.exporting import BOM, escape_cell
from smsportal.accounts.permissions import Access

from .selectors import MessageFilter, messages_filtered

CHUNK_SIZE = 2000
COLUMNS = (
    "message_id", "created_at", "to", "country", "from", "body", "encoding", "segments", "price", "status",
    "status_reason", "error_code", "error_text", "attempts", "submitted_at", "final_at", "gateway_message_id",
    "campaign_id", "variant_key", "custom_string", "source",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _when(value) -> str:
    return value.isoformat() if value else ""


def export_stream(messages) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield BOM
    yield writer.writerow(COLUMNS)
    for m in messages:
        yield writer.writerow([
            m.pk, _when(m.created_at), escape_cell(m.to), m.country, escape_cell(m.sender), escape_cell(m.body),
            m.encoding, m.segments, f"{m.price:.4f}", m.status, m.blocked_reason, escape_cell(m.error_code),
            escape_cell(m.error_text), m.attempts, _when(m.submitted_at), _when(m.final_at),
            escape_cell(m.gateway_message_id), m.campaign_id or "", escape_cell(m.variant_key),
            escape_cell(m.custom_string), m.source,
        ])


def export_response(*, access: Access, flt: MessageFilter, name: str = "") -> StreamingHttpResponse:
    """The messages `flt` selects in the caller's workspace, newest first, as a CSV download (`name` starts
    the file's name; by default "messages-<workspace>")."""
    messages = messages_filtered(access=access, flt=flt).iterator(chunk_size=CHUNK_SIZE)
    response = StreamingHttpResponse(export_stream(messages), content_type="text/csv; charset=utf-8")
    name = name or "messages-" + (slugify(access.account.name) or f"workspace-{access.account.pk}")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate().isoformat()}.csv"'
    response["Cache-Control"] = "no-store"
    return response
