"""Celery tasks of the contacts app: thin wrappers over services, taking ids only."""

from celery import shared_task

from .importing import import_run
from .models import ImportJob


@shared_task(name="contacts.import_run", acks_late=True, ignore_result=True)
def contact_import_run(job_id: int) -> dict:
    """Run a contact import. Safe to deliver twice: import_run is idempotent and one run holds the job at a time."""
    try:
        job = import_run(job_id=job_id)
    except ImportJob.DoesNotExist:
        return {"job_id": job_id, "status": "missing"}
    return {"job_id": job.pk, "status": job.status, "created": job.created_count, "invalid": job.invalid_count}
