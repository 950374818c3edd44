"""Every model has a working Django admin changelist (the operator's view of the data)."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from smsportal.accounts.models import User


@pytest.mark.django_db
def test_every_model_is_registered_and_its_changelist_renders(client):
    ours = [m for m in apps.get_models() if m._meta.app_label in ("accounts", "contacts", "messaging", "campaigns", "inbox")]
    missing = [m._meta.label for m in ours if m not in admin.site._registry]
    assert missing == []
    client.force_login(User.objects.create_superuser(email="root@example.test", password="root-pass-123"))
    for model in ours:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
