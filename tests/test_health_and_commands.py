import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from smsportal import health
from smsportal.accounts.models import Account, LedgerEntry, Member, User


def test_healthz_reports_database_broker_and_worker(client, clear_cache):
    before = client.get("/healthz")
    body = before.json()
    assert before.status_code == 200
    assert body["database"]["status"] == "ok" and body["broker"]["status"] == "ok"
    assert body["worker"]["status"] == "missing" and body["status"] == "degraded"

    health.worker_heartbeat()  # what beat makes a worker run every 10 s
    after = client.get("/healthz").json()
    assert after["worker"]["status"] == "ok" and after["status"] == "ok"


def test_create_account_prints_json_that_works(db, capsys):
    call_command("create_account", "Acme Pty", "--email", "Owner@Acme.test", "--password", "s3cret-enough", "--credit", "12.5")
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"account_id", "api_username", "api_key"}
    account = Account.objects.get(pk=printed["account_id"])
    assert account.api_username == printed["api_username"] == "acme-pty" and account.balance == 12.5
    assert Member.objects.get(account=account).role == "admin"
    assert User.objects.get(email="owner@acme.test").check_password("s3cret-enough")
    assert LedgerEntry.objects.get(account=account).kind == "top_up"

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + printed["api_key"])
    assert api.get("/v3/account").json()["data"]["account_name"] == "Acme Pty"


@pytest.mark.parametrize(
    "args,message",
    [
        (["Dup", "--email", "owner@acme.test", "--password", "another-pass-1"], "email"),
        (["Weak", "--email", "weak@acme.test", "--password", "123"], "password"),
        (["Zone", "--email", "z@acme.test", "--password", "good-pass-22", "--timezone", "Mars/Base"], "timezone"),
        (["Bad", "--email", "bad@acme.test", "--password", "good-pass-22", "--credit", "-1"], "credit"),
    ],
)
def test_create_account_refuses_bad_input_and_writes_nothing(db, args, message):
    call_command("create_account", "Acme", "--email", "owner@acme.test", "--password", "s3cret-enough")
    accounts, users = Account.objects.count(), User.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("create_account", *args)
    assert (Account.objects.count(), User.objects.count()) == (accounts, users)


def test_seed_demo_runs_once(db, capsys):
    call_command("seed_demo", "--url", "http://127.0.0.1:8123")
    first = capsys.readouterr().out
    assert "demo@example.com" in first and "API key:" in first and "http://127.0.0.1:8123/login/" in first
    call_command("seed_demo")
    assert "API key:" not in capsys.readouterr().out
    assert Account.objects.filter(api_username="demo").count() == 1
