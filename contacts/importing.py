"""CSV contact import: upload → mapping → preview → a background run → a summary and an error CSV.

The file is streamed at every step (never loaded whole). Rows are parsed with `csv` in the main process and
normalised (E.164, text limits, typed custom fields) in chunks — in a pool of worker processes for big files,
since `normalize_number` is the bottleneck. Valid rows go to a TEMP staging table (COPY on PostgreSQL,
batched inserts on SQLite); one transaction then upserts the distinct numbers, adds list memberships, writes
the counts and marks the job done. A run that dies before that transaction leaves no contacts behind, and a
re-run starts from a clean slate, so `import_run` is idempotent (what makes the task's `acks_late` safe).

Row numbers: `row_number` is the 1-based physical line of the file where the record starts, the header
counting as line 1 — a quoted cell with a newline makes the next record start further down, and blank lines
still count. It is the line a spreadsheet or text editor shows, so users can find a failed row.

Counts: every non-blank data record is exactly one of created, updated (the number already was a contact of
the workspace: its non-empty mapped cells are written, empty cells never erase data), duplicate (a valid row
whose number a previous valid row of the file already had: the first occurrence wins) or invalid (listed in
the error CSV with the raw value and the reason). Blank lines are skipped and counted nowhere.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import re
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import billiard
import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from smsportal.errors import DomainError

from .models import Contact, ContactList, CustomField, ImportJob, ImportRowError
from .phones import InvalidNumber, normalize_number
from .services import TEXT_FIELDS, clean_custom_value, list_recount

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000  # rows per unit of work; also how often processed_rows advances
PARALLEL_MIN_ROWS = 20_000  # smaller files are normalised in-process (a pool costs more than it saves)
SAMPLE_BYTES = 64 * 1024
_READ_BYTES = 1024 * 1024
_STAGE = "contacts_import_stage"
_MAX_LENGTHS = {f: Contact._meta.get_field(f).max_length for f in TEXT_FIELDS}
_ERR_RAW_MAX = ImportRowError._meta.get_field("raw_value").max_length
_ERR_REASON_MAX = ImportRowError._meta.get_field("reason").max_length
_ADVISORY_KEY = 73_501  # pg_try_advisory_lock(_ADVISORY_KEY, job_id): one run of a job at a time

# --- Header guessing ----------------------------------------------------------------------------------

_ALIASES = {
    "phone_number": ["phone", "mobile", "number", "cell", "msisdn", "phone number", "mobile number", "mobile phone",
                     "cell phone", "cellphone", "telephone", "tel", "phone no", "mobile no", "contact number"],
    "first_name": ["first name", "firstname", "given name", "forename", "first"],
    "last_name": ["last name", "lastname", "surname", "family name", "last"],
    "email": ["email", "e mail", "email address", "mail"],
    "organization_name": ["company", "organisation", "organization", "organisation name", "company name",
                          "business", "business name"],
    "fax_number": ["fax", "fax number"],
    "address_line_1": ["address", "address line 1", "address 1", "address1", "street", "street address"],
    "address_line_2": ["address line 2", "address 2", "address2"],
    "address_city": ["city", "town", "suburb"],
    "address_state": ["state", "province", "county"],
    "address_postal_code": ["postcode", "post code", "zip", "zip code", "zipcode", "postal code"],
    "address_country": ["country", "country code"],
    **{f"custom_{n}": [f"custom {n}", f"custom{n}", f"custom field {n}"] for n in range(1, 5)},
}
MAPPABLE_FIELDS = ("phone_number", *TEXT_FIELDS)


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


_ALIAS_TO_FIELD = {}
for _field in MAPPABLE_FIELDS:
    for _alias in [_header_key(_field), *_ALIASES.get(_field, [])]:
        _ALIAS_TO_FIELD.setdefault(_header_key(_alias), _field)


def _field_for_name(name: str, custom: dict[str, str]) -> str | None:
    key = _header_key(name)
    if key.startswith("fields ") and key[7:].replace(" ", "_") in custom.values():
        return f"fields.{key[7:].replace(' ', '_')}"
    if key in _ALIAS_TO_FIELD:
        return _ALIAS_TO_FIELD[key]
    if key in custom:
        return f"fields.{custom[key]}"
    return None


def _custom_names(account) -> dict[str, str]:
    """Normalised header text (key or label) -> custom field key."""
    names = {}
    for key, label in CustomField.objects.filter(account=account).values_list("key", "label"):
        names.setdefault(_header_key(key), key)
        names.setdefault(_header_key(label), key)
    return names


def guess_mapping(headers: list[str], custom: dict[str, str] | None = None) -> dict[str, int]:
    """{field: column index} from header names; each field takes the first column that names it."""
    mapping: dict[str, int] = {}
    for index, header in enumerate(headers):
        field = _field_for_name(header, custom or {})
        if field and field not in mapping:
            mapping[field] = index
    return mapping


def mapping_from_field_order(field_order: list[str]) -> dict[str, int]:
    """ClickSend's `field_order` (field names in column order) as a mapping. Empty names skip a column."""
    if isinstance(field_order, str):
        try:
            field_order = json.loads(field_order)
        except ValueError:
            field_order = [name.strip() for name in field_order.split(",")]
    if not isinstance(field_order, (list, tuple)):
        raise DomainError("field_order must be a list of field names in column order.", field="field_order")
    mapping: dict[str, int] = {}
    for index, name in enumerate(field_order):
        name = str(name or "").strip()
        if not name or _header_key(name) in ("skip", "ignore", "none"):
            continue
        if name.startswith("fields."):
            field = name
        else:
            field = _ALIAS_TO_FIELD.get(_header_key(name))
        if field is None:
            raise DomainError(f"field_order: unknown field {name!r}.", field="field_order")
        if field in mapping:
            raise DomainError(f"field_order names {field} twice.", field="field_order")
        mapping[field] = index
    return mapping


# --- Upload: store, sniff -----------------------------------------------------------------------------


def _iter_bytes(file):
    if isinstance(file, (bytes, bytearray)):
        yield bytes(file)
        return
    if hasattr(file, "chunks"):
        if hasattr(file, "seek"):
            file.seek(0)
        yield from file.chunks()
        return
    while True:
        block = file.read(_READ_BYTES)
        if not block:
            return
        yield block.encode() if isinstance(block, str) else block


def _imports_dir(account_id) -> Path:
    path = Path(settings.DATA_DIR) / "imports" / str(account_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store(file, path: Path) -> tuple[bytes, int, bool]:
    """Write the upload to `path`; returns (its first bytes, its newline count, whether it is valid UTF-8)."""
    head = bytearray()
    lines = 0
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = True
    with open(path, "wb") as out:
        for block in _iter_bytes(file):
            if len(head) < SAMPLE_BYTES:
                head += block[: SAMPLE_BYTES - len(head)]
                _refuse_binary(bytes(head))
            if b"\x00" in block:
                raise DomainError("This is a binary file, not a CSV: save it as CSV (comma or semicolon separated).",
                                  field="file")
            if utf8_ok:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    utf8_ok = False
            lines += block.count(b"\n")
            out.write(block)
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    return bytes(head), lines, utf8_ok


def _refuse_binary(head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise DomainError("This is an Excel workbook or another zip file: save the sheet as CSV and upload that.",
                          field="file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DomainError("This file is UTF-16 text: save it as \"CSV UTF-8\" and upload it again.", field="file")
    controls = sum(1 for b in head[:8192] if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > max(8, len(head[:8192]) // 100):
        raise DomainError("This is a binary file, not a CSV: save it as CSV (comma or semicolon separated).",
                          field="file")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_READ_BYTES):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sample_rows(text: str, delimiter: str, limit: int = 50) -> list[list[str]]:
    rows = []
    try:
        for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(c.strip() for c in cells):
                rows.append(cells)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _sniff_delimiter(text: str) -> str:
    """The candidate that splits the sample into the most rows of one consistent width (>1 column)."""
    best, best_score = ",", (0, 0)
    for delimiter in (",", ";", "\t", "|"):
        widths = [len(r) for r in _sample_rows(text, delimiter)]
        if not widths:
            continue
        width = max(set(widths), key=widths.count)
        if width < 2:
            continue
        score = (widths.count(width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_like_phone(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 6 and not re.search(r"[A-Za-z]{2,}", cell) and "@" not in cell


def _sniff_header(rows: list[list[str]]) -> bool:
    """Row 1 is a header unless one of its cells looks like a phone number."""
    return bool(rows) and not any(_looks_like_phone(c) for c in rows[0])


def _guess_phone_column(rows: list[list[str]]) -> int | None:
    width = max((len(r) for r in rows), default=0)
    scores = [sum(1 for r in rows if i < len(r) and _looks_like_phone(r[i])) for i in range(width)]
    if not scores or max(scores) == 0:
        return None
    return scores.index(max(scores))


def import_upload(*, account, file, file_name: str, created_by=None) -> ImportJob:
    """Store an uploaded CSV under DATA_DIR/imports/<account>/<job>.csv and guess how to read it. Status pending."""
    folder = _imports_dir(account.pk)
    tmp = folder / f"upload-{uuid.uuid4().hex}.part"
    try:
        head, newlines, utf8_ok = _store(file, tmp)
        if not head.strip(b" \t\r\n\xef\xbb\xbf"):
            raise DomainError("The file is empty.", field="file")
        if utf8_ok:
            encoding = "utf-8-sig"
        elif _decodes(tmp, "cp1252"):
            encoding = "cp1252"
        else:
            raise DomainError(
                "The file is neither UTF-8 nor Latin-1/Windows-1252 text: save it as \"CSV UTF-8\" and upload it again.",
                field="file",
            )
        text = head.decode(encoding, errors="ignore")
        if len(head) >= SAMPLE_BYTES and "\n" in text:
            text = text[: text.rindex("\n") + 1]  # drop the cut-off last line
        delimiter = _sniff_delimiter(text)
        rows = _sample_rows(text, delimiter)
        if not rows:
            raise DomainError("The file is empty.", field="file")
        has_header = _sniff_header(rows)
        if has_header:
            mapping = guess_mapping(rows[0], _custom_names(account))
        else:
            phone = _guess_phone_column(rows)
            mapping = {} if phone is None else {"phone_number": phone}
        with transaction.atomic():
            job = ImportJob.objects.create(
                account=account, created_by=created_by, file_name=os.path.basename(file_name or "contacts.csv")[:255],
                file_path="", mapping=mapping, default_country=account.default_region, has_header=has_header,
                encoding=encoding, delimiter=delimiter,
                # An estimate for the progress bar (lines, less the header); the run sets the exact figure.
                total_rows=max(newlines + (0 if head.endswith(b"\n") else 1) - (1 if has_header else 0), 0),
            )
            path = folder / f"{job.pk}.csv"
            os.replace(tmp, path)
            job.file_path = str(path)
            job.save(update_fields=["file_path"])
        return job
    finally:
        tmp.unlink(missing_ok=True)


# --- Reading records and normalising rows ----------------------------------------------------------------


def _records(job: ImportJob):
    """(row_number, cells) for every non-blank record, header included; row_number = line where it starts."""
    try:
        fh = open(job.file_path, encoding=job.encoding or "utf-8-sig", newline="")
    except FileNotFoundError:
        raise DomainError("The uploaded file is no longer there: upload it again.", field="file") from None
    with fh:
        reader = csv.reader(fh, delimiter=job.delimiter or ",")
        line = 0
        while True:
            start = line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DomainError(f"Line {start}: the file cannot be read as CSV ({exc}).", field="file") from None
            line = reader.line_num
            if cells and (cells[0].strip() or "".join(cells).strip()):
                yield start, cells


def _data_records(job: ImportJob):
    records = _records(job)
    if job.has_header:
        next(records, None)
    return records


def _headers(job: ImportJob, width: int) -> list[str]:
    first = next(_records(job), (0, []))[1] if job.has_header else []
    return [first[i] if i < len(first) else f"Column {i + 1}" for i in range(max(width, len(first)))]


@dataclass(frozen=True)
class _Spec:
    """How to turn a record into a staged row. Plain data, so worker processes get it once."""

    phone: int
    region: str
    text: tuple  # ((TEXT_FIELDS index, column index, label), ...)
    custom: tuple  # ((key, type, column index, label), ...)
    country_column: int | None


def _spec(job: ImportJob, headers: list[str]) -> _Spec:
    def label(index):
        return headers[index] if index < len(headers) and headers[index].strip() else f"column {index + 1}"

    mapping = job.mapping or {}
    types = dict(CustomField.objects.filter(account_id=job.account_id).values_list("key", "type"))
    text = tuple((TEXT_FIELDS.index(f), i, label(i)) for f, i in mapping.items() if f in TEXT_FIELDS)
    custom = tuple(
        (f[7:], types.get(f[7:], CustomField.Type.TEXT), i, label(i)) for f, i in mapping.items() if f.startswith("fields.")
    )
    return _Spec(
        phone=mapping.get("phone_number", -1), region=job.default_country, text=text, custom=custom,
        country_column=mapping.get("address_country"),
    )


_SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_EMPTY_TEXT = ("",) * len(TEXT_FIELDS)
_COUNTRY_POS = TEXT_FIELDS.index("address_country")


def _row(spec: _Spec, cells: list[str]):
    """("ok", e164, country, line_type, texts, fields) or ("invalid", raw_value, reason)."""
    width = len(cells)
    raw = cells[spec.phone] if 0 <= spec.phone < width else ""
    region = spec.region
    if spec.country_column is not None and spec.country_column < width:
        # A row's own (address) country reads its national number; the job's default covers the rest.
        own = cells[spec.country_column].strip().upper()
        if own in _SUPPORTED_REGIONS:
            region = own
    try:
        number = normalize_number(raw.strip(), region)
    except InvalidNumber as exc:
        return ("invalid", raw, str(exc))
    texts = _EMPTY_TEXT
    if spec.text:
        texts = list(_EMPTY_TEXT)
        for pos, index, label in spec.text:
            if index >= width:
                continue
            value = cells[index].strip()
            if len(value) > _MAX_LENGTHS[TEXT_FIELDS[pos]]:
                return ("invalid", value, f"{label}: longer than {_MAX_LENGTHS[TEXT_FIELDS[pos]]} characters")
            if pos == _COUNTRY_POS:
                value = value.upper()
            texts[pos] = value
    fields = {}
    for key, type_, index, label in spec.custom:
        if index >= width or not cells[index].strip():
            continue
        try:
            fields[key] = clean_custom_value(CustomField(key=key, type=type_), cells[index])
        except DomainError as exc:
            return ("invalid", cells[index], f"{label}: {exc.message}")
    return ("ok", number.e164, number.country, number.line_type, texts, fields)


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _process_chunk(spec: _Spec, as_copy: bool, chunk: list) -> tuple:
    """Normalise a chunk of records: (staged rows as COPY text or tuples, [(row, raw, reason)], valid count)."""
    lines, rows, errors = [], [], []
    for row_number, cells in chunk:
        result = _row(spec, cells)
        if result[0] == "invalid":
            errors.append((row_number, result[1][:_ERR_RAW_MAX], result[2][:_ERR_REASON_MAX]))
            continue
        _, e164, country, line_type, texts, fields = result
        fields_json = json.dumps(fields, ensure_ascii=False) if fields else "{}"
        if as_copy:
            lines.append("\t".join((
                str(row_number), e164, country, line_type, *[_copy_text(t) for t in texts], _copy_text(fields_json),
            )))
        else:
            rows.append((row_number, e164, country, line_type, *texts, fields_json))
    valid = len(lines) if as_copy else len(rows)
    payload = ("\n".join(lines) + "\n").encode() if lines else (b"" if as_copy else rows)
    return payload, errors, valid


_worker_spec: tuple | None = None


def _worker_init(spec: _Spec, as_copy: bool) -> None:
    global _worker_spec
    _worker_spec = (spec, as_copy)


def _worker_chunk(chunk: list) -> tuple:
    return _process_chunk(_worker_spec[0], _worker_spec[1], chunk)


def _chunks(records, size: int):
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _processed(job: ImportJob, spec: _Spec, as_copy: bool):
    """Results of `_process_chunk` in file order; a pool of processes for big files, with bounded work in flight."""
    records = _data_records(job)
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or (job.total_rows or 0) < PARALLEL_MIN_ROWS:
        for chunk in _chunks(records, CHUNK_ROWS):
            yield len(chunk), _process_chunk(spec, as_copy, chunk)
        return
    # billiard, Celery's multiprocessing: the stdlib refuses to start a pool inside a Celery (daemonic) worker.
    pool = billiard.get_context("fork").Pool(workers, initializer=_worker_init, initargs=(spec, as_copy))
    try:
        pending = deque()
        for chunk in _chunks(records, CHUNK_ROWS):
            pending.append((len(chunk), pool.apply_async(_worker_chunk, (chunk,))))
            while len(pending) > workers * 2:
                size, result = pending.popleft()
                yield size, result.get()
        while pending:
            size, result = pending.popleft()
            yield size, result.get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# --- Mapping screen ------------------------------------------------------------------------------------


def _sample(job: ImportJob, limit: int):
    rows = []
    for record in _data_records(job):
        rows.append(record)
        if len(rows) >= limit:
            break
    return rows


def import_preview(*, job: ImportJob, limit: int = 10) -> dict:
    """The header and the first data rows, each validated exactly as the import will."""
    rows = _sample(job, limit)
    width = max((len(cells) for _, cells in rows), default=0)
    headers = _headers(job, width)
    spec = _spec(job, headers) if "phone_number" in (job.mapping or {}) else None
    out = []
    for row_number, cells in rows:
        phone, error = None, "no column is mapped to phone_number"
        if spec is not None:
            result = _row(spec, cells)
            phone, error = (result[1], None) if result[0] == "ok" else (None, result[2])
        out.append({"row_number": row_number, "values": cells, "phone_number": phone, "error": error})
    return {"headers": headers, "rows": out}


def _column_count(job: ImportJob) -> int:
    widths = [len(cells) for _, cells in _sample(job, 100)]
    if job.has_header:
        first = next(_records(job), (0, []))[1]
        widths.append(len(first))
    return max(widths, default=0)


def import_configure(
    *, job: ImportJob, mapping: dict, default_country: str, contact_list: ContactList | None = None,
    has_header: bool | None = None,
) -> ImportJob:
    """Set the column mapping, the region for national numbers and the target list of a job not yet run."""
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.FAILED):
        raise DomainError(f"This import is {job.status}: it can no longer be changed.", field="status")
    if has_header is not None:
        job.has_header = bool(has_header)
    if not isinstance(mapping, dict):
        raise DomainError("mapping must be an object of field names to column numbers.", field="mapping")
    region = str(default_country or "").strip().upper()
    if region not in _SUPPORTED_REGIONS:
        raise DomainError(f"{default_country!r} is not a country code like AU or GB.", field="default_country")
    if contact_list is not None and contact_list.account_id != job.account_id:
        raise DomainError("No such list in this workspace.", field="contact_list")
    custom_keys = set(CustomField.objects.filter(account_id=job.account_id).values_list("key", flat=True))
    width = _column_count(job)
    cleaned, used = {}, {}
    for field, index in mapping.items():
        if index is None or index == "":
            continue
        if field not in MAPPABLE_FIELDS and not (field.startswith("fields.") and field[7:] in custom_keys):
            raise DomainError(f"Unknown field {field!r}.", field=f"mapping.{field}")
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise DomainError(f"{field}: {index!r} is not a column number.", field=f"mapping.{field}") from None
        if not 0 <= index < width:
            raise DomainError(f"{field}: the file has no column {index + 1}.", field=f"mapping.{field}")
        if index in used:
            raise DomainError(f"Column {index + 1} is mapped to both {used[index]} and {field}.", field=f"mapping.{field}")
        used[index] = field
        cleaned[field] = index
    if "phone_number" not in cleaned:
        raise DomainError("Choose the column that holds the phone numbers.", field="mapping.phone_number")
    job.mapping = cleaned
    job.default_country = region
    job.contact_list = contact_list
    # Guarded: the mapping page's live preview configures the job too, and its request can land just after "Start
    # import" queued it (leaving the field fires the preview as the button is clicked); it must not undo the start's
    # settings, such as the list it just created.
    editable = (ImportJob.Status.PENDING, ImportJob.Status.FAILED)
    if not ImportJob.objects.filter(pk=job.pk, status__in=editable).update(
        mapping=cleaned, default_country=region, contact_list=contact_list, has_header=job.has_header,
    ):
        raise DomainError("This import has started: it can no longer be changed.", field="status")
    return job


def import_start(*, job: ImportJob) -> ImportJob:
    """Queue the run (after commit). Starting a queued job again is a no-op."""
    from .tasks import contact_import_run

    if job.status == ImportJob.Status.QUEUED:
        return job
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.FAILED):
        raise DomainError(f"This import is {job.status}: it cannot be started again.", field="status")
    if "phone_number" not in (job.mapping or {}):
        raise DomainError("Choose the column that holds the phone numbers.", field="mapping.phone_number")
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ImportJob.Status.QUEUED, error=""
        )
        if updated:
            transaction.on_commit(lambda: contact_import_run.delay(job.pk))
    job.refresh_from_db()
    return job


# --- The run -------------------------------------------------------------------------------------------

_STAGE_COLUMNS = ("row_number", "phone_number", "country", "line_type", *TEXT_FIELDS, "fields")


def _create_stage(cursor, postgres: bool) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    texts = ", ".join(f"{f} text NOT NULL" for f in TEXT_FIELDS)
    cursor.execute(
        f"CREATE TEMP TABLE {_STAGE} (row_number integer NOT NULL, phone_number text NOT NULL, "
        f"country text NOT NULL, line_type text NOT NULL, {texts}, fields {'jsonb' if postgres else 'text'} NOT NULL)"
    )


def _drop_stage() -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    except Exception:  # the connection may be gone; a TEMP table dies with it anyway
        log.debug("could not drop the import staging table", exc_info=True)


def _stage(cursor, postgres: bool, payload) -> None:
    if postgres:
        if payload:
            with cursor.cursor.copy(f"COPY {_STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as copy:
                copy.write(payload)
    elif payload:
        marks = ", ".join(["%s"] * len(_STAGE_COLUMNS))
        cursor.executemany(f"INSERT INTO {_STAGE} ({', '.join(_STAGE_COLUMNS)}) VALUES ({marks})", payload)


def _merge_sql(postgres: bool, with_list: bool) -> str:
    contact = Contact._meta.db_table
    columns = ", ".join(("phone_number", "country", "line_type", *TEXT_FIELDS, "fields"))
    picked = ", ".join(f"s.{c}" for c in ("phone_number", "country", "line_type", *TEXT_FIELDS, "fields"))
    keep = ", ".join(f"{f} = COALESCE(NULLIF(excluded.{f}, ''), {contact}.{f})" for f in TEXT_FIELDS)
    merge_fields = f"{contact}.fields || excluded.fields" if postgres else f"json_patch({contact}.fields, excluded.fields)"
    optout = "contacts_optout"
    if postgres:
        source = f"(SELECT DISTINCT ON (phone_number) * FROM {_STAGE} ORDER BY phone_number, row_number) AS s"
    else:
        source = f"{_STAGE} AS s"
    insert = (
        f"INSERT INTO {contact} (account_id, {columns}, opted_out_at, opt_out_source, created_at, updated_at) "
        f"SELECT %(account)s, {picked}, o.created_at, COALESCE(o.source, ''), %(now)s, %(now)s FROM {source} "
        f"LEFT JOIN {optout} o ON o.account_id = %(account)s AND o.phone_number = s.phone_number "
        + ("WHERE true " if postgres else
           f"WHERE s.rowid IN (SELECT MIN(rowid) FROM {_STAGE} GROUP BY phone_number) ")
        + f"ON CONFLICT (account_id, phone_number) DO UPDATE SET {keep}, fields = {merge_fields}, "
        "updated_at = excluded.updated_at"
    )
    if not postgres:
        return insert
    member = (
        ", member AS (INSERT INTO contacts_listmembership (contact_list_id, contact_id, created_at) "
        "SELECT %(list)s, id, %(now)s FROM up ON CONFLICT (contact_list_id, contact_id) DO NOTHING)"
    ) if with_list else ""
    return (
        f"WITH up AS ({insert} RETURNING id, (xmax = 0) AS inserted){member} "
        "SELECT COUNT(*) FILTER (WHERE inserted), COUNT(*) FILTER (WHERE NOT inserted) FROM up"
    )


def _merge(cursor, job: ImportJob, postgres: bool, now) -> tuple[int, int]:
    """Upsert the staged rows' distinct numbers and add them to the target list: (created, updated)."""
    params = {"account": job.account_id, "now": connection.ops.adapt_datetimefield_value(now),
              "list": job.contact_list_id}
    with_list = job.contact_list_id is not None
    if postgres:
        cursor.execute("SET LOCAL work_mem = '256MB'")  # the DISTINCT ON sort of up to millions of staged rows
        cursor.execute(_merge_sql(True, with_list), params)
        created, updated = cursor.fetchone()
        return created, updated
    cursor.execute(f"CREATE INDEX {_STAGE}_number ON {_STAGE} (phone_number)")
    cursor.execute(f"SELECT COUNT(DISTINCT phone_number) FROM {_STAGE}")
    distinct = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT COUNT(*) FROM {Contact._meta.db_table} WHERE account_id = %(account)s "
        f"AND phone_number IN (SELECT phone_number FROM {_STAGE})", params,
    )
    existing = cursor.fetchone()[0]
    cursor.execute(_merge_sql(False, with_list), params)
    if with_list:
        cursor.execute(
            "INSERT INTO contacts_listmembership (contact_list_id, contact_id, created_at) "
            f"SELECT %(list)s, c.id, %(now)s FROM {Contact._meta.db_table} c WHERE c.account_id = %(account)s "
            f"AND c.phone_number IN (SELECT phone_number FROM {_STAGE}) "
            "ON CONFLICT (contact_list_id, contact_id) DO NOTHING", params,
        )
    return distinct - existing, existing


def _claim(job_id) -> ImportJob | None:
    """Move the job to running with fresh counters, or None if there is nothing to do (done, or unknown)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == ImportJob.Status.DONE:
            return job
        job.status = ImportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.finished_at = None
        job.error = ""
        job.processed_rows = job.created_count = job.updated_count = job.duplicate_count = job.invalid_count = 0
        job.save()
        job.row_errors.all().delete()
    return job


def import_run(*, job_id) -> ImportJob:
    """Run an import to the end (the Celery task calls this). Idempotent: a done job is returned as is; any
    other state starts over from the file, and nothing is written to contacts until the final transaction."""
    postgres = connection.vendor == "postgresql"
    locked = False
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_ADVISORY_KEY, int(job_id)])
            locked = cursor.fetchone()[0]
        if not locked:  # another worker is running this job right now
            return ImportJob.objects.get(pk=job_id)
    try:
        job = _claim(job_id)
        if job is None:
            raise ImportJob.DoesNotExist(f"No import job {job_id}")
        if job.status == ImportJob.Status.DONE:
            return job
        try:
            _run(job, postgres)
        except DomainError as exc:
            _fail(job, exc.message)
        except Exception as exc:
            log.exception("contact import %s failed", job.pk)
            _fail(job, f"The import stopped unexpectedly ({exc.__class__.__name__}: {exc}). Run it again; "
                       "nothing was half-imported.")
        finally:
            _drop_stage()
        job.refresh_from_db()
        if postgres and job.status == ImportJob.Status.DONE and job.created_count > 50_000:
            with connection.cursor() as cursor:  # fresh statistics, so the contacts pages plan well at once
                cursor.execute(f"ANALYZE {Contact._meta.db_table}")
        return job
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_ADVISORY_KEY, int(job_id)])


def _fail(job: ImportJob, message: str) -> None:
    with transaction.atomic():
        ImportRowError.objects.filter(job=job).delete()
        ImportJob.objects.filter(pk=job.pk, started_at=job.started_at).update(
            status=ImportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )


def _run(job: ImportJob, postgres: bool) -> None:
    if "phone_number" not in (job.mapping or {}):
        raise DomainError("No column is mapped to phone_number.")
    first = next(_records(job), None)
    headers = _headers(job, len(first[1]) if first else 0)
    spec = _spec(job, headers)
    with transaction.atomic(), connection.cursor() as cursor:
        _create_stage(cursor, postgres)
    processed = invalid = valid = 0
    for size, (payload, errors, ok) in _processed(job, spec, postgres):
        processed += size
        invalid += len(errors)
        valid += ok
        with transaction.atomic():
            with connection.cursor() as cursor:
                _stage(cursor, postgres, payload)
            if errors:
                ImportRowError.objects.bulk_create(
                    [ImportRowError(job=job, row_number=r, raw_value=raw, reason=why) for r, raw, why in errors],
                    batch_size=2000,
                )
            ImportJob.objects.filter(pk=job.pk).update(processed_rows=processed, invalid_count=invalid)
    now = timezone.now()
    with transaction.atomic():
        current = ImportJob.objects.select_for_update().get(pk=job.pk)
        if current.status != ImportJob.Status.RUNNING or current.started_at != job.started_at:
            raise DomainError("Another run of this import took over.")
        with connection.cursor() as cursor:
            created, updated = _merge(cursor, job, postgres, now)
        if job.contact_list_id:
            list_recount(list_ids=[job.contact_list_id])
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, total_rows=processed, processed_rows=processed, created_count=created,
            updated_count=updated, duplicate_count=valid - created - updated, invalid_count=invalid,
            finished_at=timezone.now(), error="",
        )


# --- Results -----------------------------------------------------------------------------------------------


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def import_errors_csv(*, job: ImportJob):
    """The job's row errors as CSV lines (row_number, raw_value, reason), for a streamed download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(["row_number", "raw_value", "reason"])
    errors = ImportRowError.objects.filter(job=job).order_by("row_number").values_list("row_number", "raw_value", "reason")
    for row_number, raw, reason in errors.iterator(chunk_size=2000):
        yield line([row_number, _cell(raw), _cell(reason)])
