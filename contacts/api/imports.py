"""POST /v3/lists/{list_id}/import (ClickSend's ListsApi.import_contacts) and smsportal's
/v3/contacts/import-jobs/{id} (progress) and /v3/contacts/import-jobs/{id}/errors (rejected rows)."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from smsportal.api.pagination import ClickSendPagination
from smsportal.errors import DomainError

from .. import importing, selectors
from .serializers import ImportJobSerializer, ImportRequestSerializer, ImportRowErrorSerializer, ImportStartedSerializer

READ, WRITE = "contacts.view", "contacts.edit"
FETCH_MAX_BYTES = 200 * 1024 * 1024
FETCH_TIMEOUT = (5, 30)  # connect, and between bytes


@contextmanager
def fetched_file(url: str):
    """The file at `url`, streamed to a temporary file (deleted afterwards), from an allowed host only."""
    parts = urlsplit(url)
    allowed = {host.strip().lower() for host in settings.CONTACT_IMPORT_URL_HOSTS if host.strip()}
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in allowed:
        raise DomainError(
            "file_url must be an http(s) address on a host the administrator allowed (CONTACT_IMPORT_URL_HOSTS); "
            "otherwise upload the file as `file`.",
            field="file_url",
        )
    handle, path = tempfile.mkstemp(prefix="contacts-import-", suffix=".csv")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                # No redirects: they could lead off the allowed hosts.
                with requests.get(url, stream=True, timeout=FETCH_TIMEOUT, allow_redirects=False) as answer:
                    if answer.status_code != 200:
                        raise DomainError(f"file_url answered HTTP {answer.status_code}.", field="file_url")
                    size = 0
                    for block in answer.iter_content(chunk_size=1024 * 1024):
                        size += len(block)
                        if size > FETCH_MAX_BYTES:
                            raise DomainError(
                                f"file_url: the file is larger than {FETCH_MAX_BYTES // (1024 * 1024)} MB.",
                                field="file_url",
                            )
                        out.write(block)
            except requests.RequestException as exc:
                message = f"file_url could not be fetched ({exc.__class__.__name__})."
                raise DomainError(message, field="file_url") from None
        with open(path, "rb") as file:
            yield file, os.path.basename(parts.path) or "contacts.csv"
    finally:
        os.unlink(path)


def _as_field_order(exc: DomainError) -> DomainError:
    """The importer names its `mapping`; this endpoint's caller wrote `field_order`."""
    if exc.field and exc.field.startswith("mapping"):
        return DomainError(exc.message, field="field_order")
    return exc


def import_from_request(*, access, contact_list, file, file_name: str, options: dict):
    """Store, configure and queue an import in one transaction: a refusal leaves no job and no stored file."""
    with transaction.atomic():
        job = importing.import_upload(account=access.account, file=file, file_name=file_name, created_by=access.user)
        try:
            mapping = job.mapping
            if "field_order" in options:
                mapping = importing.mapping_from_field_order(options["field_order"])
            job = importing.import_configure(
                job=job, mapping=mapping, default_country=options.get("country") or access.account.default_region,
                contact_list=contact_list, has_header=options.get("has_header"),
            )
            return importing.import_start(job=job)
        except BaseException as exc:
            Path(job.file_path).unlink(missing_ok=True)
            if isinstance(exc, DomainError):
                raise _as_field_order(exc) from None
            raise


class ListImportView(APIView):
    capabilities = {"POST": WRITE}

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer, "application/json": ImportRequestSerializer},
        responses=ImportStartedSerializer,
        summary="Import contacts into a list from a CSV (ListsApi.import_contacts); poll the import job",
    )
    def post(self, request, list_id=None):
        contact_list = selectors.list_get(access=request.auth, list_id=list_id)
        incoming = ImportRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        options = dict(incoming.validated_data)
        if "file" in options:
            upload = options.pop("file")
            job = import_from_request(
                access=request.auth, contact_list=contact_list, file=upload, file_name=upload.name, options=options
            )
        else:
            with fetched_file(options.pop("file_url")) as (file, file_name):
                job = import_from_request(
                    access=request.auth, contact_list=contact_list, file=file, file_name=file_name, options=options
                )
        response = Response({
            "msg": "Your file is now queued.",
            "id": str(job.pk),
            "ids": [str(job.pk)],
            "import_job": ImportJobSerializer(job).data,
        })
        response.response_msg = f"Your file is now queued: follow it at /v3/contacts/import-jobs/{job.pk}."
        return response


class ImportJobViewSet(viewsets.ViewSet):
    """An import's progress and its rejected rows. Another workspace's job ids answer 404."""

    capabilities = {"retrieve": READ, "errors": READ}
    lookup_field = "job_id"
    lookup_value_regex = "[0-9]+"

    @extend_schema(responses=ImportJobSerializer, summary="View an import's progress and counts")
    def retrieve(self, request, job_id=None):
        return Response(ImportJobSerializer(selectors.import_job_get(access=request.auth, job_id=job_id)).data)

    @extend_schema(responses=ImportRowErrorSerializer(many=True), summary="View an import's rejected rows")
    @action(detail=True, methods=["get"])
    def errors(self, request, job_id=None):
        job = selectors.import_job_get(access=request.auth, job_id=job_id)
        paginator = ClickSendPagination()
        rows = job.row_errors.order_by("row_number").values("row_number", "raw_value", "reason")
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ImportRowErrorSerializer(page, many=True).data)
