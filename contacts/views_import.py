"""The CSV import pages: upload → mapping with a live preview → start → live progress → summary and errors.

The work is in `contacts.importing`; these views only bind forms and call it. Every job is looked up through
`selectors.import_job_get`, so another workspace's job id is a 404.
"""

from django.core.paginator import Paginator
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_POST

from smsportal.accounts.decorators import require_capability
from smsportal.accounts.forms import add_domain_error
from smsportal.errors import DomainError, NotFound

from . import importing, selectors, services
from .forms_import import MAX_UPLOAD_LABEL, NEW_LIST, STANDARD_FIELD_LABELS, MappingForm, UploadForm
from .models import ImportJob

HISTORY_PAGE_SIZE = 25
ERROR_ROWS_SHOWN = 20
SAMPLE_VALUES = 3
EDITABLE = (ImportJob.Status.PENDING, ImportJob.Status.FAILED)
FINISHED = (ImportJob.Status.DONE, ImportJob.Status.FAILED)


def _is_fragment(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


# --- Upload -----------------------------------------------------------------------------------------------


@require_capability("contacts.edit")
def upload(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        try:
            job = importing.import_upload(
                account=request.access.account, file=file, file_name=file.name, created_by=request.user
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            return redirect("contacts:import-mapping", job.pk)
    recent = selectors.import_job_queryset(access=request.access)[:5]
    return render(request, "contacts/import/upload.html", {
        "form": form, "max_upload": MAX_UPLOAD_LABEL, "recent": recent,
    }, status=400 if form.errors else 200)


# --- Mapping, preview and start -------------------------------------------------------------------------------


def _initial(job: ImportJob) -> dict:
    initial = {
        "default_country": job.default_country,
        "contact_list": str(job.contact_list_id or ""),
        "has_header": job.has_header,
    }
    for field, index in (job.mapping or {}).items():
        initial[f"col_{index}"] = field
    return initial


def _columns(form: MappingForm, preview: dict) -> list[dict]:
    """Each column of the file: its header, its first values, and its target-field select."""
    columns = []
    for index, bound in enumerate(form.column_fields()):
        header = preview["headers"][index] if index < len(preview["headers"]) else f"Column {index + 1}"
        samples = [row["values"][index] for row in preview["rows"][:SAMPLE_VALUES] if index < len(row["values"])]
        columns.append({"index": index, "header": header, "samples": samples, "field": bound})
    return columns


def _preview_context(job: ImportJob, preview: dict | None = None, error: str = "") -> dict:
    if preview is None and not error:
        try:
            preview = importing.import_preview(job=job, limit=10)
        except DomainError as exc:
            error = exc.message
    rows = (preview or {}).get("rows", [])
    mapped = sorted((job.mapping or {}).items(), key=lambda item: item[1])
    return {
        "job": job,
        "preview": preview,
        "preview_error": error,
        "preview_invalid": sum(1 for row in rows if row["error"]),
        "preview_columns": [STANDARD_FIELD_LABELS.get(field, field.removeprefix("fields.")) for field, _ in mapped],
        "preview_rows": [
            {**row, "cells": [row["values"][i] if i < len(row["values"]) else "" for _, i in mapped]} for row in rows
        ],
    }


def _mapping_page(request, job: ImportJob, form: MappingForm | None = None, status: int = 200):
    empty = {"headers": [], "rows": []}
    try:
        preview = importing.import_preview(job=job, limit=10)
    except DomainError as exc:
        preview, error = empty, exc.message
    else:
        error = ""
    if form is None:
        form = MappingForm(initial=_initial(job), access=request.access, columns=len(preview["headers"]))
    context = _preview_context(job, preview, error) | {"form": form, "columns": _columns(form, preview)}
    response = render(request, "contacts/import/mapping.html", context, status=status)
    add_never_cache_headers(response)
    return response


def _mapping_form(request, job: ImportJob) -> MappingForm:
    columns = len(importing.import_preview(job=job, limit=1)["headers"])
    return MappingForm(request.POST, access=request.access, columns=columns)


def _target_list(request, form: MappingForm, *, create: bool):
    choice = form.cleaned_data.get("contact_list")
    if not choice:
        return None
    if choice == NEW_LIST:
        if not create:
            return None
        return services.list_create(account=request.access.account, name=form.cleaned_data["new_list_name"])
    try:
        return selectors.list_get(access=request.access, list_id=choice)
    except NotFound as exc:
        raise DomainError(exc.message, field="contact_list") from None


def _configure(request, job: ImportJob, form: MappingForm, *, create_list: bool) -> ImportJob:
    return importing.import_configure(
        job=job,
        mapping=form.mapping,
        default_country=form.cleaned_data["default_country"],
        contact_list=_target_list(request, form, create=create_list),
        has_header=form.cleaned_data["has_header"],
    )


def _show_error(form: MappingForm, error: DomainError) -> None:
    """A refusal from the importer, on the column select, the country or the list it names."""
    field = error.field or ""
    if field.startswith("mapping."):
        target = field.removeprefix("mapping.")
        for bound in form.column_fields():
            if form.cleaned_data.get(bound.name) == target:
                form.add_error(bound.name, error.message)
                return
        form.add_error(None, error.message)
        return
    form.add_error(field if field in form.fields else None, error.message)


@require_capability("contacts.edit")
def mapping(request, job_id):
    job = selectors.import_job_get(access=request.access, job_id=job_id)
    if job.status not in EDITABLE:
        return redirect("contacts:import-job", job.pk)
    if request.method != "POST":
        return _mapping_page(request, job)
    form = _mapping_form(request, job)
    if form.is_valid():
        try:
            with transaction.atomic():
                job = _configure(request, job, form, create_list=True)
                job = importing.import_start(job=job)
        except DomainError as exc:
            job.refresh_from_db()
            _show_error(form, exc)
        else:
            return redirect("contacts:import-job", job.pk)
    return _mapping_page(request, job, form, status=400)


@require_capability("contacts.edit")
@require_POST
def preview(request, job_id):
    """The preview fragment for the mapping as it stands in the form (saved on the job, which is still a draft)."""
    job = selectors.import_job_get(access=request.access, job_id=job_id)
    if job.status not in EDITABLE:
        return render(request, "contacts/import/_preview.html",
                      _preview_context(job, error="This import has started; its mapping can no longer change."))
    form = _mapping_form(request, job)
    error = ""
    if form.is_valid():
        try:
            job = _configure(request, job, form, create_list=False)
        except DomainError as exc:
            error = exc.message
    else:
        error = " ".join(str(message) for messages_ in form.errors.values() for message in messages_)
    context = _preview_context(job, error=error) if error else _preview_context(job)
    return render(request, "contacts/import/_preview.html", context)


# --- Progress, result and errors ------------------------------------------------------------------------------


def _duration(job: ImportJob) -> str:
    if not (job.started_at and job.finished_at):
        return ""
    seconds = max((job.finished_at - job.started_at).total_seconds(), 0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


@require_capability("contacts.view")
def job(request, job_id):
    """Live progress while the import runs (the fragment polls itself every second), then the summary."""
    job = selectors.import_job_get(access=request.access, job_id=job_id)
    if job.status == ImportJob.Status.PENDING and request.access.can("contacts.edit") and not _is_fragment(request):
        return redirect("contacts:import-mapping", job.pk)
    total = job.total_rows or 0
    processed = min(job.processed_rows, total) if total else job.processed_rows
    context = {
        "job": job,
        "finished": job.status in FINISHED,
        "polling": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
        "percent": 100 if job.status == ImportJob.Status.DONE else (int(processed * 100 / total) if total else 0),
        "processed": processed,
        "duration": _duration(job),
        # The first rows that were not imported, with why, on the page; the CSV has them all.
        "error_rows": (list(job.row_errors.all()[:ERROR_ROWS_SHOWN])
                       if job.status == ImportJob.Status.DONE and job.invalid_count else []),
    }
    template = "contacts/import/_progress.html" if _is_fragment(request) else "contacts/import/job.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    add_never_cache_headers(response)
    return response


@require_capability("contacts.view")
def errors_csv(request, job_id):
    job = selectors.import_job_get(access=request.access, job_id=job_id)
    response = StreamingHttpResponse(importing.import_errors_csv(job=job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


@require_capability("contacts.view")
def history(request):
    jobs = selectors.import_job_queryset(access=request.access)
    page = Paginator(jobs, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "contacts/import/history.html", {
        "page": page, "can_edit": request.access.can("contacts.edit"),
    })
