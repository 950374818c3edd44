"""The CSV import pages through the test client: upload → mapping → preview → start → run → result and errors."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts import services
from contacts.importing import import_run, import_upload
from contacts.models import Contact, ContactList, ImportJob, ListMembership
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db

CSV = (
    "Phone,First name,Last name\n"
    "0412 345 678,Ann,Smith\n"       # national AU number
    "+44 7400 123456,Cat,Jones\n"    # international
    "12,Bad,Row\n"                    # invalid
    "0412345678,Ann,Again\n"          # duplicate of row 2
)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def csv_file(text=CSV, name="people.csv", encoding="utf-8"):
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def upload_job(account, text=CSV):
    return import_upload(account=account, file=csv_file(text), file_name="people.csv")


def mapping_post(job, **extra):
    data = {
        "col_0": "phone_number", "col_1": "first_name", "col_2": "last_name",
        "default_country": "AU", "contact_list": "", "new_list_name": "", "has_header": "on",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def test_the_whole_flow_gives_exact_counts_and_an_error_csv(admin_client, account, django_capture_on_commit_callbacks):
    vip = services.list_create(account=account, name="VIP")

    # Upload: straight to the mapping screen of the new job.
    response = admin_client.post(reverse("contacts:import"), {"file": csv_file()})
    job = ImportJob.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:import-mapping", args=[job.pk])

    # Mapping: every column with its header and first values, the guessed field pre-selected.
    response = admin_client.get(response["Location"])
    assert response.status_code == 200
    html = response.content.decode()
    assert "people.csv" in html
    assert re.search(r'<option value="phone_number" selected>', html)
    assert re.search(r'<option value="first_name" selected>', html)
    assert '<option value="AU" selected>Australia (AU)</option>' in html
    assert f'<option value="{vip.pk}">VIP</option>' in html
    assert "0412 345 678" in html and "Cat" in html
    # The preview flags the invalid row with its reason; the others show the E.164 number.
    assert response.context["preview_invalid"] == 1
    assert "+61412345678" in html and "+447400123456" in html

    # Preview again after a change (htmx): the mapping is saved on the draft and the fragment re-rendered.
    response = admin_client.post(
        reverse("contacts:import-preview", args=[job.pk]), mapping_post(job, default_country="GB"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response.templates[0].name == "contacts/import/_preview.html"
    job.refresh_from_db()
    assert job.default_country == "GB"
    assert response.context["preview_invalid"] == 3  # both 0412 numbers are no GB numbers

    # Start: queued after commit, then the worker's run (called directly: no Celery here).
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("contacts:import-mapping", args=[job.pk]), mapping_post(job, contact_list=str(vip.pk))
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:import-job", args=[job.pk])
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED and job.default_country == "AU" and job.contact_list == vip

    response = admin_client.get(reverse("contacts:import-job", args=[job.pk]))
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert "Waiting for a worker" in response.content.decode()

    import_run(job_id=job.pk)

    # The progress fragment stops polling and shows the summary.
    response = admin_client.get(reverse("contacts:import-job", args=[job.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.templates[0].name == "contacts/import/_progress.html"
    assert "hx-trigger" not in html
    counts = {
        name: re.search(rf'data-testid="count-{name}">([\d,]+)<', html).group(1)
        for name in ("created", "updated", "duplicates", "invalid")
    }
    assert counts == {"created": "2", "updated": "0", "duplicates": "1", "invalid": "1"}
    assert reverse("contacts:import-errors", args=[job.pk]) in html
    assert [(e.row_number, e.raw_value) for e in response.context["error_rows"]] == [(4, "12")]  # shown, with why
    assert 'data-testid="import-errors"' in html
    assert "Open VIP" in html
    numbers = Contact.objects.filter(account=account).values_list("phone_number", flat=True)
    assert sorted(numbers) == ["+447400123456", "+61412345678"]
    assert ListMembership.objects.filter(contact_list=vip).count() == 2

    # The error CSV: one row, with the line number, the raw value and the reason.
    response = admin_client.get(reverse("contacts:import-errors", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="import-{job.pk}-errors.csv"' in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "row_number,raw_value,reason"
    assert len(lines) == 2 and lines[1].startswith("4,12,")

    # The mapping of a started job can no longer be changed: back to its result.
    response = admin_client.get(reverse("contacts:import-mapping", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("contacts:import-job", args=[job.pk])

    # And it is in the history with its counts.
    response = admin_client.get(reverse("contacts:import-history"))
    assert response.status_code == 200
    assert "people.csv" in response.content.decode()
    assert list(response.context["page"].object_list) == [job]


def test_starting_into_a_new_list_creates_it(admin_client, account, django_capture_on_commit_callbacks):
    job = upload_job(account)
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            reverse("contacts:import-mapping", args=[job.pk]),
            mapping_post(job, contact_list="new", new_list_name="Spring fair"),
        )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.contact_list.name == "Spring fair" and job.contact_list.account == account
    import_run(job_id=job.pk)
    assert ContactList.objects.get(pk=job.contact_list.pk).contact_count == 2


def test_a_new_list_needs_a_name(admin_client, account):
    job = upload_job(account)
    response = admin_client.post(reverse("contacts:import-mapping", args=[job.pk]), mapping_post(job, contact_list="new"))
    assert response.status_code == 400
    assert response.context["form"].errors["new_list_name"] == ["Name the new list, or choose an existing one."]
    assert not ContactList.objects.filter(account=account).exists()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING


def test_the_phone_column_is_required_and_a_field_is_mapped_once(admin_client, account):
    job = upload_job(account)
    response = admin_client.post(
        reverse("contacts:import-mapping", args=[job.pk]), mapping_post(job, col_0="", col_1="first_name")
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["Choose the column that holds the phone numbers."]

    response = admin_client.post(
        reverse("contacts:import-mapping", args=[job.pk]), mapping_post(job, col_2="first_name")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["col_2"] == ["Column 2 is already mapped to this field."]

    response = admin_client.post(
        reverse("contacts:import-preview", args=[job.pk]), mapping_post(job, col_0=""), HTTP_HX_REQUEST="true"
    )
    assert "Choose the column that holds the phone numbers." in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING and job.mapping["phone_number"] == 0


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "The submitted file is empty."),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "This is an Excel workbook or another zip file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary file"),
    ],
)
def test_a_bad_file_is_refused_on_the_file_field(admin_client, account, content, message):
    upload = SimpleUploadedFile("contacts.csv", content, content_type="text/csv")
    response = admin_client.post(reverse("contacts:import"), {"file": upload})
    assert response.status_code == 400
    errors = response.context["form"].errors["file"]
    assert any(message in error for error in errors), errors
    assert 'class="field field-file field-invalid"' in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_upload_page_states_the_size_limit(admin_client):
    response = admin_client.get(reverse("contacts:import"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "200 MB" in html and 'accept=".csv,.txt' in html and 'enctype="multipart/form-data"' in html


def test_a_file_over_the_limit_is_refused(admin_client, monkeypatch):
    monkeypatch.setattr("contacts.forms_import.MAX_UPLOAD_BYTES", 10)
    response = admin_client.post(reverse("contacts:import"), {"file": csv_file()})
    assert response.status_code == 400
    assert "larger than 200 MB" in response.context["form"].errors["file"][0]


def test_a_failed_import_says_why_and_can_be_retried(admin_client, account):
    job = upload_job(account)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error="The disk was full.")
    response = admin_client.get(reverse("contacts:import-job", args=[job.pk]))
    html = response.content.decode()
    assert "The disk was full." in html and "hx-trigger" not in html
    assert reverse("contacts:import-mapping", args=[job.pk]) in html
    assert admin_client.get(reverse("contacts:import-mapping", args=[job.pk])).status_code == 200


def test_another_workspaces_job_is_not_found(admin_client, account):
    other = upload_job(AccountFactory(default_region="AU"))
    for name in ("contacts:import-mapping", "contacts:import-job", "contacts:import-errors"):
        assert admin_client.get(reverse(name, args=[other.pk])).status_code == 404, name
    assert admin_client.post(reverse("contacts:import-preview", args=[other.pk]), mapping_post(other)).status_code == 404
    assert admin_client.post(reverse("contacts:import-mapping", args=[other.pk]), mapping_post(other)).status_code == 404
    assert list(admin_client.get(reverse("contacts:import-history")).context["page"].object_list) == []
    other.refresh_from_db()
    assert other.status == ImportJob.Status.PENDING


def test_a_list_of_another_workspace_cannot_be_the_target(admin_client, account):
    job = upload_job(account)
    stranger = services.list_create(account=AccountFactory(), name="Theirs")
    response = admin_client.post(
        reverse("contacts:import-mapping", args=[job.pk]), mapping_post(job, contact_list=str(stranger.pk))
    )
    assert response.status_code == 400
    assert "contact_list" in response.context["form"].errors


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_roles_without_contacts_edit_cannot_import(client, account, role):
    client.force_login(MemberFactory(account=account, role=role).user)
    job = upload_job(account)
    assert client.get(reverse("contacts:import")).status_code == 403
    assert client.post(reverse("contacts:import"), {"file": csv_file()}).status_code == 403
    assert client.get(reverse("contacts:import-mapping", args=[job.pk])).status_code == 403
    assert client.post(reverse("contacts:import-mapping", args=[job.pk]), mapping_post(job)).status_code == 403
    assert client.post(reverse("contacts:import-preview", args=[job.pk]), mapping_post(job)).status_code == 403
    # They may follow an import and read its history.
    assert client.get(reverse("contacts:import-history")).status_code == 200
    assert client.get(reverse("contacts:import-job", args=[job.pk])).status_code == 200
    assert ImportJob.objects.filter(account=account).count() == 1


def test_a_marketer_can_import(client, account):
    client.force_login(MemberFactory(account=account, role="marketer").user)
    response = client.post(reverse("contacts:import"), {"file": csv_file()})
    assert response.status_code == 302


def test_history_lists_recent_jobs_newest_first(admin_client, account):
    first, second = upload_job(account), upload_job(account)
    response = admin_client.get(reverse("contacts:import-history"))
    assert [job.pk for job in response.context["page"].object_list] == [second.pk, first.pk]
    assert "Pending" in response.content.decode()
