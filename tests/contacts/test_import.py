"""CSV import: every tricky input with the exact counts and error rows it must give, on SQLite and PostgreSQL."""

import io

import pytest

from contacts import importing
from contacts.importing import (
    import_configure, import_errors_csv, import_preview, import_run, import_start, import_upload,
    mapping_from_field_order,
)
from contacts.models import Contact, ContactList, CustomField, ImportJob, ListMembership, OptOut
from contacts.tasks import contact_import_run
from smsportal.errors import DomainError
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def account(db):
    return AccountFactory(default_region="AU")


def upload(account, data, name="contacts.csv", encoding="utf-8"):
    raw = data.encode(encoding) if isinstance(data, str) else data
    return import_upload(account=account, file=io.BytesIO(raw), file_name=name)


def run(job):
    return import_run(job_id=job.pk)


def imported(account, data, encoding="utf-8", contact_list=None, **configure):
    job = upload(account, data, encoding=encoding)
    if contact_list is not None or configure:
        job = import_configure(
            job=job, mapping=configure.pop("mapping", job.mapping), default_country=configure.pop("region", "AU"),
            contact_list=contact_list, **configure,
        )
    return run(job)


def counts(job):
    return {
        "status": job.status, "total": job.total_rows, "processed": job.processed_rows, "created": job.created_count,
        "updated": job.updated_count, "duplicates": job.duplicate_count, "invalid": job.invalid_count,
    }


def done(total, created, updated=0, duplicates=0, invalid=0):
    return {"status": "done", "total": total, "processed": total, "created": created, "updated": updated,
            "duplicates": duplicates, "invalid": invalid}


def errors(job):
    return list(job.row_errors.order_by("row_number").values_list("row_number", "raw_value", "reason"))


def people(account):
    return {c.phone_number: (c.first_name, c.last_name) for c in Contact.objects.filter(account=account)}


# --- Sniffing -----------------------------------------------------------------------------------------


def test_utf8_bom_comma_file_is_sniffed_and_imported(account):
    job = upload(account, "\ufeffPhone,First name,Last name\n0412 345 678,Ann,Lee\n+61 412 345 679,Bob,Ng\n")
    assert (job.encoding, job.delimiter, job.has_header) == ("utf-8-sig", ",", True)
    assert job.mapping == {"phone_number": 0, "first_name": 1, "last_name": 2}
    assert job.default_country == "AU" and job.status == "pending"
    assert import_preview(job=job)["headers"] == ["Phone", "First name", "Last name"]
    job = run(job)
    assert counts(job) == done(total=2, created=2)
    assert people(account) == {"+61412345678": ("Ann", "Lee"), "+61412345679": ("Bob", "Ng")}


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_delimiters(account, delimiter):
    rows = ["mobile;surname;firstname;email", "0412345678;Lee;Ann;ann@example.test", "0412 345 679;Ng;Bob;"]
    job = upload(account, "\r\n".join(r.replace(";", delimiter) for r in rows) + "\r\n")
    assert job.delimiter == delimiter
    assert job.mapping == {"phone_number": 0, "last_name": 1, "first_name": 2, "email": 3}
    job = run(job)
    assert counts(job) == done(total=2, created=2)
    ann = Contact.objects.get(account=account, phone_number="+61412345678")
    assert (ann.first_name, ann.last_name, ann.email) == ("Ann", "Lee", "ann@example.test")


def test_latin1_file_is_detected_and_names_come_out_right(account):
    job = upload(account, "phone;first_name;city\n0412345678;Zoé;Liège\n", encoding="latin-1")
    assert job.encoding == "cp1252"
    job = run(job)
    assert counts(job) == done(total=1, created=1)
    contact = Contact.objects.get(account=account)
    assert (contact.first_name, contact.address_city) == ("Zoé", "Liège")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (b"\n\r\n  \n", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "This is a binary file"),
        (b"PK\x03\x04\x14\x00\x06\x00", "This is an Excel workbook"),
        ("phone,name\n0412345678,Zoë\n".encode("utf-16"), "This file is UTF-16"),
        (b"phone,name\n0412345678,Zo\x81\x8d\n", "The file is neither UTF-8 nor Latin-1/Windows-1252"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_error(account, data, message, tmp_path):
    with pytest.raises(DomainError) as exc:
        upload(account, data)
    assert exc.value.message.startswith(message)
    assert exc.value.field == "file"
    assert not ImportJob.objects.exists()
    assert not any(p.is_file() for p in (tmp_path / "imports").rglob("*"))


def test_file_without_header_guesses_the_phone_column_from_its_values(account):
    job = upload(account, "Ann,0412345678\nBob,0412345679\n")
    assert job.has_header is False and job.mapping == {"phone_number": 1}
    assert counts(run(job)) == done(total=2, created=2)


def test_no_phone_column_uploads_but_cannot_be_configured_or_run(account):
    job = upload(account, "name,city\nAnn,Perth\n")
    assert "phone_number" not in job.mapping
    with pytest.raises(DomainError) as exc:
        import_configure(job=job, mapping={"first_name": 0}, default_country="AU")
    assert exc.value.field == "mapping.phone_number"
    job = run(job)
    assert job.status == "failed" and job.error == "No column is mapped to phone_number."


def test_stored_under_data_dir(account, tmp_path):
    job = upload(account, "phone\n0412345678\n")
    assert job.file_path == str(tmp_path / "imports" / str(account.pk) / f"{job.pk}.csv")


# --- Tricky rows --------------------------------------------------------------------------------------


def test_quoted_field_with_newline_and_row_numbers_are_file_lines(account):
    data = (
        'phone,first_name,address_line_1\n'         # line 1
        '0412345678,Ann,"1 Long St\nUnit 2"\n'       # lines 2-3
        'hello,Bob,\n'                               # line 4
        '\n'                                         # line 5 (blank)
        '0412345679,"Cat\r\nCatherine",x\n'          # lines 6-7
        '12345,Dan,\n'                               # line 8
    )
    job = run(upload(account, data))
    assert counts(job) == done(total=4, created=2, invalid=2)
    assert errors(job) == [(4, "hello", "not a phone number"), (8, "12345", "not a valid number for its country")]
    assert Contact.objects.get(account=account, phone_number="+61412345678").address_line_1 == "1 Long St\nUnit 2"
    assert Contact.objects.get(account=account, phone_number="+61412345679").first_name == "Cat\r\nCatherine"


def test_excel_mangled_numbers(account):
    data = "phone,first_name\n6.1412345678E+10,Ann\n61412345679.0,Bob\n6.14123E+10,Cat\n"
    job = run(upload(account, data))
    assert counts(job) == done(total=3, created=2, invalid=1)
    assert people(account) == {"+61412345678": ("Ann", ""), "+61412345679": ("Bob", "")}
    assert errors(job) == [
        (4, "6.14123E+10", "looks like a number Excel rounded; the digits are lost — format the column as text")
    ]


def test_national_numbers_with_leading_zero_and_spaces_in_the_default_region(account):
    data = "phone\n0412 345 678\n  0412-345-679 \n(02) 9876 5432\n412345680\n"
    job = run(upload(account, data))
    assert counts(job) == done(total=4, created=4)
    assert set(people(account)) == {"+61412345678", "+61412345679", "+61298765432", "+61412345680"}
    assert Contact.objects.get(account=account, phone_number="+61298765432").line_type == "fixed_line"
    assert Contact.objects.get(account=account, phone_number="+61412345678").country == "AU"


def test_default_country_reads_national_numbers(account):
    job = upload(account, "phone\n07400 123456\n")
    job = import_configure(job=job, mapping=job.mapping, default_country="gb")
    assert job.default_country == "GB"
    assert counts(run(job)) == done(total=1, created=1)
    assert set(people(account)) == {"+447400123456"}


def test_blank_lines_are_skipped_and_counted_nowhere(account):
    data = "\n\nphone,first_name\n\n0412345678,Ann\n   \n,\n\n0412345679,Bob\n\n"
    job = upload(account, data)
    assert job.has_header is True and job.mapping == {"phone_number": 0, "first_name": 1}
    job = run(job)
    assert counts(job) == done(total=2, created=2)
    assert errors(job) == []


def test_duplicate_rows_in_the_file_first_occurrence_wins(account):
    data = "phone,first_name\n0412345678,Ann\n+61412345678,Annie\n0412345679,Bob\n0412 345 678,Anna\nbad,Eve\n"
    job = run(upload(account, data))
    assert counts(job) == done(total=5, created=2, duplicates=2, invalid=1)
    assert people(account) == {"+61412345678": ("Ann", ""), "+61412345679": ("Bob", "")}
    assert errors(job) == [(6, "bad", "not a phone number")]


def test_invalid_rows_are_listed_with_line_raw_value_and_reason(account):
    data = (
        "phone,first_name\n"
        "0412345678,Ann\n"
        ",No number\n"
        "+61 4123,Short\n"
        "+999 1234567,Nowhere\n"
        "04123456789012345,Long\n"
        f"0412345679,{'x' * 101}\n"
    )
    job = run(upload(account, data))
    assert counts(job) == done(total=6, created=1, invalid=5)
    assert errors(job) == [
        (3, "", "phone number is empty"),
        (4, "+61 4123", "too short for its country"),
        (5, "+999 1234567", "no country: write it as +<country code> or choose a default country"),
        (6, "04123456789012345", "too long for its country"),
        (7, "x" * 101, "first_name: longer than 100 characters"),
    ]


def test_errors_csv_download(account):
    data = 'phone,first_name\n"=cmd|x",Ann\n"12,34",Bob\n0412345678,Cat\n'
    job = run(upload(account, data))
    assert "".join(import_errors_csv(job=job)) == (
        "row_number,raw_value,reason\r\n"
        "2,'=cmd|x,not a phone number\r\n"
        '3,"12,34",not a phone number\r\n'
    )


def test_custom_date_field(account):
    CustomField.objects.create(account=account, key="birthday", label="Birthday", type="date")
    CustomField.objects.create(account=account, key="spend", label="Total spend", type="number")
    data = "phone,Birthday,Total spend\n0412345678,31/12/1990,\"1,200.50\"\n0412345679,someday,3\n0412345680,,\n"
    job = upload(account, data)
    assert job.mapping == {"phone_number": 0, "fields.birthday": 1, "fields.spend": 2}
    job = run(job)
    assert counts(job) == done(total=3, created=2, invalid=1)
    assert errors(job) == [(3, "someday", "Birthday: birthday must be a date like 2026-12-31.")]
    assert Contact.objects.get(account=account, phone_number="+61412345678").fields == {
        "birthday": "1990-12-31", "spend": "1200.5"
    }
    assert Contact.objects.get(account=account, phone_number="+61412345680").fields == {}


# --- Existing contacts, opt-outs, lists, isolation ------------------------------------------------------


def test_existing_contacts_are_updated_and_empty_cells_do_not_erase(account):
    CustomField.objects.create(account=account, key="tier", label="Tier")
    Contact.objects.create(
        account=account, phone_number="+61412345678", country="AU", first_name="Ann", last_name="Lee",
        email="ann@example.test", fields={"tier": "gold", "other": "kept"},
    )
    data = "phone,first_name,last_name,email,tier\n0412345678,Annie,,,\n0412345679,Bob,Ng,,silver\n"
    job = run(upload(account, data))
    assert counts(job) == done(total=2, created=1, updated=1)
    ann = Contact.objects.get(account=account, phone_number="+61412345678")
    assert (ann.first_name, ann.last_name, ann.email) == ("Annie", "Lee", "ann@example.test")
    assert ann.fields == {"tier": "gold", "other": "kept"}
    job = run(upload(account, "phone,tier\n0412345678,platinum\n"))
    assert counts(job) == done(total=1, created=0, updated=1)
    ann.refresh_from_db()
    assert ann.fields == {"tier": "platinum", "other": "kept"} and ann.first_name == "Annie"


def test_opted_out_registry_numbers_stay_opted_out(account):
    OptOut.objects.create(account=account, phone_number="+61412345678", source="keyword")
    opted = Contact.objects.create(account=account, phone_number="+61412345679", country="AU", opt_out_source="ui")
    Contact.objects.filter(pk=opted.pk).update(opted_out_at=opted.created_at)
    job = run(upload(account, "phone\n0412345678\n0412345679\n0412345680\n"))
    assert counts(job) == done(total=3, created=2, updated=1)
    state = dict(Contact.objects.filter(account=account).values_list("phone_number", "opt_out_source"))
    assert state == {"+61412345678": "keyword", "+61412345679": "ui", "+61412345680": ""}
    registry = OptOut.objects.get(account=account)
    new = Contact.objects.get(account=account, phone_number="+61412345678")
    assert new.opted_out_at == registry.created_at
    assert Contact.objects.get(phone_number="+61412345679").opted_out_at is not None
    assert Contact.objects.get(phone_number="+61412345680").opted_out_at is None


def test_target_list_membership_and_count(account):
    target = ContactList.objects.create(account=account, name="VIP")
    member = Contact.objects.create(account=account, phone_number="+61412345678", country="AU")
    ListMembership.objects.create(contact_list=target, contact=member)
    outsider = Contact.objects.create(account=account, phone_number="+61412345699", country="AU")
    data = "phone\n0412345678\n0412345679\n0412345679\nnope\n0412345680\n"
    job = imported(account, data, contact_list=target)
    assert counts(job) == done(total=5, created=2, updated=1, duplicates=1, invalid=1)
    target.refresh_from_db()
    assert target.contact_count == 3
    members = set(ListMembership.objects.filter(contact_list=target).values_list("contact__phone_number", flat=True))
    assert members == {"+61412345678", "+61412345679", "+61412345680"}
    assert not ListMembership.objects.filter(contact=outsider).exists()


def test_a_job_never_touches_another_workspace(account):
    other = AccountFactory(default_region="AU")
    theirs = Contact.objects.create(account=other, phone_number="+61412345678", country="AU", first_name="Theirs")
    their_list = ContactList.objects.create(account=other, name="Theirs")
    job = upload(account, "phone,first_name\n0412345678,Mine\n")
    with pytest.raises(DomainError) as exc:
        import_configure(job=job, mapping=job.mapping, default_country="AU", contact_list=their_list)
    assert exc.value.field == "contact_list"
    job = run(job)
    assert counts(job) == done(total=1, created=1)
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"
    assert Contact.objects.get(account=account).first_name == "Mine"
    assert Contact.objects.count() == 2


# --- Idempotency ---------------------------------------------------------------------------------------

DATA = "phone,first_name\n0412345678,Ann\n0412345679,Bob\n0412345678,Ann again\nbad,Eve\n"
EXPECTED = done(total=4, created=2, duplicates=1, invalid=1)


def test_running_a_done_job_again_changes_nothing(account):
    job = run(upload(account, DATA))
    assert counts(job) == EXPECTED
    again = run(job)
    assert counts(again) == EXPECTED and again.finished_at == job.finished_at
    assert Contact.objects.filter(account=account).count() == 2
    assert len(errors(again)) == 1


def test_an_interrupted_run_leaves_nothing_half_done_and_reruns_cleanly(account, monkeypatch):
    target = ContactList.objects.create(account=account, name="New")
    job = upload(account, DATA)
    job = import_configure(job=job, mapping=job.mapping, default_country="AU", contact_list=target)

    def crash(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(importing, "list_recount", crash)  # after the upsert, inside the final transaction
    job = run(job)
    assert job.status == "failed"
    assert job.error.startswith("The import stopped unexpectedly (RuntimeError: worker lost).")
    assert not Contact.objects.filter(account=account).exists()
    assert not ListMembership.objects.exists() and errors(job) == []
    monkeypatch.undo()
    job = run(job)
    assert counts(job) == EXPECTED and job.error == ""
    assert Contact.objects.filter(account=account).count() == 2
    target.refresh_from_db()
    assert target.contact_count == 2
    assert errors(job) == [(5, "bad", "not a phone number")]


def test_a_stale_running_job_is_rerun_from_scratch(account):
    job = upload(account, DATA)
    ImportJob.objects.filter(pk=job.pk).update(status="running", processed_rows=3, invalid_count=7)
    assert counts(run(job)) == EXPECTED


def test_importing_the_same_file_twice_gives_no_duplicates(account):
    assert counts(run(upload(account, DATA))) == EXPECTED
    second = run(upload(account, DATA))
    assert counts(second) == done(total=4, created=0, updated=2, duplicates=1, invalid=1)
    assert people(account) == {"+61412345678": ("Ann", ""), "+61412345679": ("Bob", "")}


def test_worker_pool_gives_the_same_result_as_in_process(account, monkeypatch):
    monkeypatch.setattr(importing, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(importing, "CHUNK_ROWS", 7)
    lines = ["phone,first_name"] + [f"04123456{n:02d},P{n}" for n in range(60)] + ["nope,X", "0412345600,Dup"]
    job = run(upload(account, "\n".join(lines) + "\n"))
    assert counts(job) == done(total=62, created=60, duplicates=1, invalid=1)
    assert errors(job) == [(62, "nope", "not a phone number")]
    assert Contact.objects.get(account=account, phone_number="+61412345607").first_name == "P7"


# --- Mapping, preview, start ---------------------------------------------------------------------------


def test_header_aliases_and_custom_fields_guess_the_mapping(account):
    CustomField.objects.create(account=account, key="loyalty_id", label="Loyalty number")
    header = "First Name,Surname,E-mail,Cell,Organisation,City,State,Zip,Country,custom_2,Loyalty number,ignored"
    job = upload(account, header + "\n" + "Ann,Lee,a@b.test,0412345678,Acme,Perth,WA,6000,AU,x,L1,?\n")
    assert job.mapping == {
        "first_name": 0, "last_name": 1, "email": 2, "phone_number": 3, "organization_name": 4, "address_city": 5,
        "address_state": 6, "address_postal_code": 7, "address_country": 8, "custom_2": 9, "fields.loyalty_id": 10,
    }
    assert counts(run(job)) == done(total=1, created=1)
    contact = Contact.objects.get(account=account)
    assert (contact.organization_name, contact.address_postal_code, contact.fields) == ("Acme", "6000", {"loyalty_id": "L1"})


def test_a_rows_own_country_reads_its_national_number(account):
    job = run(upload(account, "phone,country\n07400 123456,gb\n0412345678,\n"))
    assert counts(job) == done(total=2, created=2)
    assert dict(Contact.objects.values_list("phone_number", "address_country")) == {
        "+447400123456": "GB", "+61412345678": ""
    }


def test_mapping_from_clicksend_field_order():
    assert mapping_from_field_order(["first_name", "phone_number", "", "custom_1", "fields.tier"]) == {
        "first_name": 0, "phone_number": 1, "custom_1": 3, "fields.tier": 4
    }
    assert mapping_from_field_order('["phone", "email"]') == {"phone_number": 0, "email": 1}
    with pytest.raises(DomainError) as exc:
        mapping_from_field_order(["phone_number", "shoe_size"])
    assert exc.value.field == "field_order"


def test_preview_validates_the_first_rows(account):
    job = upload(account, "phone,first_name\n0412345678,Ann\n\nbad,Bob\n0412345679,Cat\n")
    preview = import_preview(job=job, limit=2)
    assert preview == {
        "headers": ["phone", "first_name"],
        "rows": [
            {"row_number": 2, "values": ["0412345678", "Ann"], "phone_number": "+61412345678", "error": None},
            {"row_number": 4, "values": ["bad", "Bob"], "phone_number": None, "error": "not a phone number"},
        ],
    }


@pytest.mark.parametrize(
    "mapping, region, field",
    [
        ({"phone_number": 0}, "XX", "default_country"),
        ({"phone_number": 5}, "AU", "mapping.phone_number"),
        ({"phone_number": 0, "shoe_size": 1}, "AU", "mapping.shoe_size"),
        ({"phone_number": 0, "fields.unknown": 1}, "AU", "mapping.fields.unknown"),
        ({"phone_number": 0, "first_name": 0}, "AU", "mapping.first_name"),
        ({"phone_number": "x"}, "AU", "mapping.phone_number"),
    ],
)
def test_configure_validates(account, mapping, region, field):
    job = upload(account, "phone,name\n0412345678,Ann\n")
    with pytest.raises(DomainError) as exc:
        import_configure(job=job, mapping=mapping, default_country=region)
    assert exc.value.field == field


def test_configure_can_override_the_header_guess(account):
    job = upload(account, "Ann,Lee\nBob,Ng\n")  # no phone at all: row 1 taken as a header
    assert job.has_header is True
    job = import_configure(job=job, mapping={"first_name": 0, "phone_number": 1}, default_country="AU",
                           has_header=False)
    job = run(job)
    assert counts(job) == done(total=2, created=0, invalid=2)
    assert errors(job) == [(1, "Lee", "not a phone number"), (2, "Ng", "not a phone number")]


def test_a_late_configure_cannot_undo_the_start(account):
    """The mapping page's preview configures the job too; one read before "Start import" and written after must not
    take the started job's list away (it did: the import ran into no list)."""
    job = upload(account, "phone,name\n0412345678,Ann\n")
    stale = ImportJob.objects.get(pk=job.pk)  # the preview's copy, still pending
    newsletter = ContactList.objects.create(account=account, name="Newsletter")
    import_start(job=import_configure(job=job, mapping={"phone_number": 0}, default_country="AU",
                                      contact_list=newsletter))
    with pytest.raises(DomainError) as exc:
        import_configure(job=stale, mapping={"phone_number": 0}, default_country="AU", contact_list=None)
    assert exc.value.field == "status"
    job = run(ImportJob.objects.get(pk=job.pk))
    assert job.contact_list_id == newsletter.pk and ListMembership.objects.filter(contact_list=newsletter).count() == 1


def test_start_enqueues_after_commit_and_the_task_runs_the_import(account, django_capture_on_commit_callbacks,
                                                                  monkeypatch):
    job = upload(account, DATA)
    sent = []
    monkeypatch.setattr(contact_import_run, "delay", lambda job_id: sent.append(job_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = import_start(job=job)
    assert job.status == "queued" and len(callbacks) == 1 and sent == [job.pk]
    assert import_start(job=job).status == "queued" and sent == [job.pk]
    result = contact_import_run(job.pk)
    assert result == {"job_id": job.pk, "status": "done", "created": 2, "invalid": 1}
    assert contact_import_run(job.pk)["status"] == "done"  # redelivered (acks_late): a no-op
    assert Contact.objects.filter(account=account).count() == 2
    with pytest.raises(DomainError):
        import_start(job=ImportJob.objects.get(pk=job.pk))
    assert contact_import_run(999_999) == {"job_id": 999_999, "status": "missing"}


def _run_in_child(job_id):
    from django.db import connections

    import_run(job_id=job_id)
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_parallel_import_runs_inside_a_daemonic_worker_process(monkeypatch):
    """Celery's prefork children are daemonic, and the stdlib refuses them a process pool: this once failed every
    import of 20,000+ rows under a real worker while tests that called import_run directly passed."""
    import multiprocessing

    from django.db import connections

    monkeypatch.setattr(importing, "PARALLEL_MIN_ROWS", 10)  # take the pooled path with a small file
    account = AccountFactory(default_region="AU")
    body = "phone\n" + "".join(f"04123{i:05d}\n" for i in range(200))
    job = import_upload(account=account, file=io.BytesIO(body.encode()), file_name="big.csv")
    job = import_configure(job=job, mapping=job.mapping, default_country="AU")
    connections.close_all()  # the forked child opens its own connection
    child = multiprocessing.get_context("fork").Process(target=_run_in_child, args=(job.pk,), daemon=True)
    child.start()
    child.join(60)
    assert child.exitcode == 0
    job.refresh_from_db()
    assert (job.status, job.error, job.created_count) == (ImportJob.Status.DONE, "", 200)
