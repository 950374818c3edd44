"""Uploads limited in size and type, and request bodies limited in size.

The only file uploads are contact imports: the UI's CSV form (contacts/forms_import.py) and /v3/lists/{id}/import's
multipart `file`. A file that is not CSV text — an image, a workbook, an archive, a PDF, UTF-16, or text with a NUL
anywhere in it — is refused with a message on the `file` field, and nothing is written: no import job, no contact,
no stored file. Both paths refuse a file over 200 MB. Every other body is bounded by DATA_UPLOAD_MAX_MEMORY_SIZE
(and Django's field and file counts): past it the API answers 413 in its envelope, naming the limit, not a 500.
A gateway's webhook, which anyone can post to, is bounded tighter by WEBHOOK_MAX_BODY (413 before its proof is read).
"""

import json
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from contacts import forms_import
from contacts.models import Contact, ImportJob
from tests.conftest import KeyClient

from .conftest import snapshot

CSV = b"phone,first_name\n+61412345678,Ann\n+61412345679,Bob\n"

NOT_CSV = {
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary file"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256)) * 4, "binary file"),
    "xlsx": (b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + b"[Content_Types].xml" + bytes(range(256)), "Excel workbook"),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"Workbook", "binary file"),
    "gzip": (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(256)) * 4, "binary file"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 300 >>\nstream\n" + bytes(range(256)) * 2, "binary file"),
    "elf": (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + bytes(range(256)), "binary file"),
    "utf-16": ("phone,first_name\n+61412345678,Ann\n".encode("utf-16"), "UTF-16"),
    "nul in a line": (b"phone,first_name\n+61412345678,A\x00nn\n", "binary file"),
    # Past the first 64 KB the importer sniffs: the NUL is still found as the file is stored.
    "nul past the sample": (CSV + b"+61412000000,Padding\n" * 4000 + b"+61412345670,\x00\n", "binary file"),
}


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def stored_files(account) -> list[Path]:
    folder = Path(settings.DATA_DIR) / "imports" / str(account.pk)
    return sorted(folder.iterdir()) if folder.exists() else []


def ui_client(workspace) -> Client:
    return workspace.browser()


def api_client(workspace) -> KeyClient:
    return KeyClient(workspace.account, workspace.raw_key)


def upload(content: bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def assert_nothing_imported(workspace, before):
    assert snapshot(workspace.account) == before
    assert stored_files(workspace.account) == []


@pytest.mark.parametrize("kind", NOT_CSV)
def test_the_import_form_refuses_what_is_not_csv_on_the_file_field(family, kind):
    b = family["b"]
    content, message = NOT_CSV[kind]
    before = snapshot(b.account)
    r = ui_client(b).post("/contacts/import/", {"file": upload(content, f"contacts.{kind.split()[0]}")})
    assert r.status_code == 400
    errors = r.context["form"].errors
    assert list(errors) == ["file"] and message in errors["file"][0], errors
    assert 'class="field field-file field-invalid"' in r.content.decode()  # shown on the field, not at the top
    assert_nothing_imported(b, before)


@pytest.mark.parametrize("kind", NOT_CSV)
def test_the_import_api_refuses_what_is_not_csv_naming_file(family, kind):
    b = family["b"]
    content, message = NOT_CSV[kind]
    before = snapshot(b.account)
    r = api_client(b).post(f"/v3/lists/{b.ids['list_id']}/import", {"file": upload(content)}, format="multipart")
    body = r.json()
    assert r.status_code == 400 and body["http_code"] == 400 and body["response_code"] == "BAD_REQUEST"
    assert list(body["error"]["fields"]) == ["file"] and message in body["error"]["fields"]["file"][0], body
    assert_nothing_imported(b, before)


def test_the_same_upload_as_csv_is_taken(family):
    """The control: a CSV through the same form and the same endpoint gets a job each."""
    b = family["b"]
    r = ui_client(b).post("/contacts/import/", {"file": upload(CSV)})
    assert r.status_code == 302
    job = ImportJob.objects.filter(account=b.account).latest("pk")
    assert r["Location"] == f"/contacts/import/{job.pk}/"
    r = api_client(b).post(f"/v3/lists/{b.ids['list_id']}/import", {"file": upload(CSV)}, format="multipart")
    assert r.status_code == 200, r.json()
    assert len(stored_files(b.account)) == 2


def test_the_form_refuses_a_file_over_the_limit(family, monkeypatch):
    """The limit, lowered so the test need not send 200 MB: the form reads it when it checks."""
    b = family["b"]
    monkeypatch.setattr(forms_import, "MAX_UPLOAD_BYTES", len(CSV) - 1)
    before = snapshot(b.account)
    r = ui_client(b).post("/contacts/import/", {"file": upload(CSV)})
    assert r.status_code == 400
    assert "larger than 200 MB" in r.context["form"].errors["file"][0]
    assert_nothing_imported(b, before)


def test_the_api_refuses_a_file_over_the_limit_naming_file(family, monkeypatch):
    b = family["b"]
    monkeypatch.setattr(forms_import, "MAX_UPLOAD_BYTES", len(CSV) - 1)
    before = snapshot(b.account)
    r = api_client(b).post(f"/v3/lists/{b.ids['list_id']}/import", {"file": upload(CSV)}, format="multipart")
    body = r.json()
    assert r.status_code == 400 and "larger than 200 MB" in body["error"]["fields"]["file"][0], body
    assert_nothing_imported(b, before)
    monkeypatch.setattr(forms_import, "MAX_UPLOAD_BYTES", len(CSV))  # exactly at the limit: taken
    r = api_client(b).post(f"/v3/lists/{b.ids['list_id']}/import", {"file": upload(CSV)}, format="multipart")
    assert r.status_code == 200, r.json()


def test_the_file_upload_is_the_only_one():
    """If another view starts taking files, it needs the same limits (and a test here)."""
    from django.forms import FileField as FormFileField
    from rest_framework.serializers import FileField as ApiFileField

    import contacts.api.serializers
    import contacts.forms_import

    form_fields = [(name, f) for name, f in contacts.forms_import.UploadForm.base_fields.items()
                   if isinstance(f, FormFileField)]
    api_fields = [(name, f) for name, f in contacts.api.serializers.ImportRequestSerializer().fields.items()
                  if isinstance(f, ApiFileField)]
    assert [name for name, _ in form_fields] == ["file"] and [name for name, _ in api_fields] == ["file"]
    base = Path(settings.BASE_DIR)
    ours = [Path(c.path) for c in apps.get_app_configs() if Path(c.path).is_relative_to(base)
            and ".venv" not in Path(c.path).parts]
    sources = {p for folder in ours for p in folder.rglob("*.py")}
    takers = sorted(str(p.relative_to(base)) for p in sources
                    if "request.FILES" in p.read_text() or "FileField(" in p.read_text())
    assert takers == ["contacts/api/serializers.py", "contacts/forms_import.py", "contacts/views_import.py"], takers


# --- Request bodies -------------------------------------------------------------------------------------------


def test_an_api_body_over_the_limit_is_413_in_the_envelope(family, settings):
    b = family["b"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = snapshot(b.account)
    for content_type, body in [
        ("application/json", json.dumps({"list_name": "x" * 20_000})),
        ("application/x-www-form-urlencoded", "list_name=" + "x" * 20_000),
    ]:
        r = api_client(b).post("/v3/lists", body, content_type=content_type)
        data = r.json()
        assert r.status_code == 413 and data["http_code"] == 413, (content_type, data)
        assert data["response_code"] == "BAD_REQUEST" and "10000 bytes" in data["error"]["description"], data
    assert snapshot(b.account) == before


def test_too_many_form_fields_is_400_in_the_envelope(family, settings):
    b = family["b"]
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    body = "&".join(f"f{i}=1" for i in range(60))
    r = api_client(b).post("/v3/lists", body, content_type="application/x-www-form-urlencoded")
    data = r.json()
    assert r.status_code == 400 and data["response_code"] == "BAD_REQUEST", data


def test_a_form_body_over_the_limit_is_refused_in_the_ui(family, settings):
    b = family["b"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = snapshot(b.account)
    r = ui_client(b).post("/contacts/lists/new/", {"name": "x" * 20_000})
    assert r.status_code == 400
    assert snapshot(b.account) == before


def test_a_webhook_body_over_its_own_limit_is_413_before_its_proof_is_checked(client, family, settings):
    from smsportal.messaging import webhooks
    from smsportal.messaging.models import DeliveryReport, GatewayConnection

    settings.WEBHOOK_MAX_BODY = 10_000  # far below DATA_UPLOAD_MAX_MEMORY_SIZE: webhooks have their own bound
    webhooks._connections.clear()
    connection = GatewayConnection.objects.create(account=family["b"].account, name="HTTP", kind="http",
                                                  config={"url": "http://127.0.0.1:9/send"})
    records = [{"id": f"GW-{i}", "status": "delivered"} for i in range(1000)]
    hook = f"/hooks/gateways/{connection.pk}/status"
    for query in (f"?secret={connection.webhook_secret}", "?secret=wrong", ""):
        r = client.post(hook + query, records, content_type="application/json")
        assert r.status_code == 413 and "10,000 bytes" in r.content.decode(), (query, r.content)
    assert not DeliveryReport.objects.filter(gateway=connection).exists()
    # A batch under the bound is taken.
    r = client.post(f"{hook}?secret={connection.webhook_secret}", records[:100], content_type="application/json")
    assert r.status_code == 200 and DeliveryReport.objects.filter(gateway=connection).count() == 100
    # A length nobody can read is a 400 naming it, not a 500 from reading the body.
    r = client.post(f"{hook}?secret={connection.webhook_secret}", records[:1], content_type="application/json",
                    CONTENT_LENGTH="not a number")
    assert r.status_code == 400 and b"Content-Length" in r.content
    assert DeliveryReport.objects.filter(gateway=connection).count() == 100
    webhooks._connections.clear()


def test_the_largest_valid_send_fits_the_body_limit(family):
    """/v3/sms/send takes 1000 messages of up to 1600 characters; ClickSend's SDK writes JSON with \\u escapes,
    six bytes a character outside ASCII. The largest such request must fit (priced here: the same parsing)."""
    b = family["b"]
    body = "Привет! " * 200  # 1600 characters of Cyrillic: UCS-2, 24 segments
    messages = [{"to": f"+614120{i:05d}", "body": body, "source": "sdk"} for i in range(1000)]
    raw = json.dumps({"messages": messages})  # ensure_ascii, as the SDK sends it
    assert len(raw) > 2.5 * 1024 * 1024  # more than Django's default limit
    assert len(raw) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    # The worst case, 1600 characters outside the BMP each, fits too (measured, not sent: it prices the same).
    worst = json.dumps({"messages": [{**m, "body": "😀" * 1600} for m in messages]})
    assert len(worst) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    r = api_client(b).post("/v3/sms/price", raw, content_type="application/json")
    data = r.json()
    assert r.status_code == 200 and data["data"]["total_count"] == 1000, data["response_msg"]
    assert not Contact.objects.filter(account=b.account, phone_number="+61412000001").exists()
