"""Fixtures for crash and concurrency tests: child processes (always killed at teardown), the loopback gateway in
its own process, a funded account with a campaign, and the credit ledger's books."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.db.models import Sum

from campaigns import services as campaigns
from contacts.models import Contact, ContactList, ListMembership
from contacts.services import list_recount
from smsportal.accounts import services as accounts
from smsportal.accounts.models import LedgerEntry
from smsportal.messaging import statuses
from smsportal.messaging.gateways.http import HttpGateway
from smsportal.messaging.models import GatewayConnection, Message

from ..factories import AccountFactory

BASE_DIR = Path(__file__).resolve().parents[2]
TEMPLATE = '{"to": "{{to}}", "text": "{{body}}", "ref": "{{idempotency_key}}"}'
BATCH_TEMPLATE = '{"messages": [{"to": "{{to}}", "text": "{{body}}", "ref": "{{idempotency_key}}"}]}'
BODY = "{Hi|Hello} {{first_name|there}}, our {spring|summer} sale is on this week. Reply STOP to opt out"


class Proc:
    """A child process of tests/resilience/children.py; its stderr goes to a log file quoted when it fails."""

    def __init__(self, role: str, args: dict, *, env: dict, log_dir: Path, name: str):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.resilience.children", role, json.dumps(args)],
            cwd=BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        self._out = b""

    def tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-3000:]

    def line(self, timeout: float = 60) -> str:
        """The child's next line on stdout, waiting at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._out:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"{self.name} said nothing for {timeout:.0f} s:\n{self.tail()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}) without answering:\n{self.tail()}")
            self._out += chunk
        text, self._out = self._out.split(b"\n", 1)
        return text.decode().strip()

    def json(self, timeout: float = 60) -> dict:
        return json.loads(self.line(timeout))

    def send(self, text: str) -> None:
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 90) -> dict:
        """The worker's summary once it exits by itself."""
        summary = self.json(timeout)
        assert self.proc.wait(timeout=30) == 0, f"{self.name} failed: {summary}\n{self.tail()}"
        return summary

    def sigkill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._log.close()


def database_url() -> str:
    """The live test database as a URL a child process can open (pytest-django renamed it test_…)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else "")
    host = quote(s["HOST"] or "127.0.0.1", safe="")  # a socket directory's slashes percent-encoded
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{quote(s['NAME'], safe='')}"


@pytest.fixture
def spawn(transactional_db, tmp_path):
    """Start children of tests/resilience/children.py; every one still running at teardown is SIGKILLed, before the
    test database is flushed."""
    started: list[Proc] = []

    def start(role: str, args: dict, *, name: str, **env) -> Proc:
        child_env = dict(os.environ, DJANGO_SETTINGS_MODULE="smsportal.settings", DATABASE_URL=database_url(),
                         LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", DEBUG="false")
        child_env.update({k: str(v) for k, v in env.items()})
        proc = Proc(role, args, env=child_env, log_dir=tmp_path, name=name)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        failures = []
        for proc in started:
            try:
                proc.stop()
            except Exception as exc:  # one that would not die must not keep the others alive
                failures.append(exc)
        if failures:
            raise failures[0]


class Upstream:
    """The loopback gateway process; `stats()` is what it received."""

    def __init__(self, proc: Proc):
        self.proc = proc
        self.url = f"http://127.0.0.1:{proc.json(timeout=30)['port']}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=30) as response:
            return json.loads(response.read())

    def resume(self) -> None:
        request = urllib.request.Request(f"{self.url}/_resume", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).read()


@pytest.fixture
def upstream_process(spawn):
    def start(*, dedupe: bool = False, hold_after: int | None = None) -> Upstream:
        return Upstream(spawn("upstream", {"dedupe": dedupe, "hold_after": hold_after}, name="upstream"))

    return start


def http_connection(account, url: str, *, dedupes: bool, batch_size: int = 1, concurrency: int = 8):
    """The http gateway to the loopback upstream, one message per request or `batch_size` under "messages"."""
    config = {"url": url + "/send", "body_template": TEMPLATE, "response_id_path": "id", "concurrency": concurrency,
              "read_timeout": 30, "dedupes_idempotency_key": "true" if dedupes else ""}
    if batch_size > 1:
        config.update(body_template=BATCH_TEMPLATE, response_id_path="messages.*.id", batch_size=batch_size)
    assert not HttpGateway.validate(config=config, credentials={})
    return GatewayConnection.objects.create(account=account, name="Loopback", kind="http", priority=1, config=config)


@pytest.fixture
def account(transactional_db):
    """An Australian account with $2,000 on the default rate card."""
    account = AccountFactory(default_region="AU", api_rate_limit=1000)
    accounts.credit_top_up(account=account, amount="2000")
    account.refresh_from_db()
    return account


def au(i: int) -> str:
    """A valid Australian mobile, none of the sandbox's magic numbers."""
    return f"+6141{i:05d}55"


def launched_campaign(account, recipients: int):
    """A campaign with spintax and a merge field to `recipients` Australian mobiles, launched (credit reserved);
    its fan-out is left to the workers. Contacts and the list are written set-based (INSERT … SELECT)."""
    audience = ContactList.objects.create(account=account, name="Everyone")
    blank = [f.column for f in Contact._meta.concrete_fields if f.get_default() == "" and f.column not in
             ("phone_number", "country", "first_name")]
    empties = ", ".join("''" for _ in blank)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Contact._meta.db_table} (account_id, phone_number, country, line_type, first_name, fields,"
            f" created_at, updated_at, {', '.join(blank)})"
            f" SELECT %s, '+6141' || lpad(i::text, 5, '0') || '55', 'AU', 'mobile',"
            f" (ARRAY['Olivia', 'Noah', ''])[i %% 3 + 1], '{{}}'::jsonb, now(), now(), {empties}"
            f" FROM generate_series(0, %s) AS i",
            [account.pk, recipients - 1],
        )
        cursor.execute(
            f"INSERT INTO {ListMembership._meta.db_table} (contact_list_id, contact_id, created_at)"
            f" SELECT %s, id, now() FROM {Contact._meta.db_table} WHERE account_id = %s",
            [audience.pk, account.pk],
        )
    list_recount(list_ids=[audience.pk])
    campaign = campaigns.campaign_save(account=account, data={
        "name": "Spring sale", "sender": "ACME", "body": BODY, "audience": {"lists": [audience.pk]},
        "quiet_hours": False,
    })
    campaign = campaigns.campaign_launch(campaign=campaign)
    assert campaign.recipients == recipients
    return campaign


@dataclass
class Books:
    balance: Decimal
    topped_up: Decimal
    reserved: Decimal
    settled: Decimal
    refunded: Decimal
    still_held: Decimal


def books(account) -> Books:
    """The account's ledger, checked row by row: each row's balance_after is the running sum of the amounts (so
    never negative, as the column's CHECK also says), the last is the balance, and what each reservation's closures
    settled and refunded equals the prices of its messages that reached the carrier and of those that did not."""
    account.refresh_from_db(fields=["balance"])
    running = Decimal(0)
    totals = defaultdict(Decimal)
    for entry in LedgerEntry.objects.filter(account=account).order_by("id"):
        running += entry.amount
        assert entry.balance_after == running >= 0, (entry.pk, entry.kind, entry.balance_after, running)
        totals[entry.kind] += entry.covers if entry.kind in ("settle", "refund") else entry.amount
    assert running == account.balance
    for reservation in LedgerEntry.objects.filter(account=account, kind="reserve"):
        closures = reservation.closures.values("kind").annotate(covers=Sum("covers"))
        closed = {row["kind"]: row["covers"] for row in closures}
        priced = Message.objects.filter(reservation_id=reservation.pk)
        reached = priced.filter(status__in=statuses.REACHED_CARRIER).aggregate(p=Sum("price"))["p"] or Decimal(0)
        gone_back = priced.filter(status__in=(statuses.FAILED, statuses.CANCELLED, statuses.BLOCKED)).aggregate(
            p=Sum("price"))["p"] or Decimal(0)
        open_ = priced.filter(status__in=(statuses.SCHEDULED, statuses.QUEUED, statuses.SENDING)).aggregate(
            p=Sum("price"))["p"] or Decimal(0)
        assert closed.get("settle", Decimal(0)) == reached, reservation.pk
        assert closed.get("refund", Decimal(0)) == gone_back, reservation.pk
        assert reservation.held == -reservation.amount - reached - gone_back == open_, reservation.pk
    return Books(balance=account.balance, topped_up=totals["top_up"], reserved=-totals["reserve"],
                 settled=totals["settle"], refunded=totals["refund"],
                 still_held=sum((r.held for r in LedgerEntry.objects.filter(account=account, kind="reserve")),
                                Decimal(0)))
