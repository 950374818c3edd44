"""Two sibling subaccounts of one parent, each with its own team and API key; B holds one object of every kind a
URL can name. The isolation matrix acts as A against B's ids; the CSRF matrix acts as B on its own ids."""

import functools
import io
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from campaigns import services as campaigns
from contacts import importing
from contacts import services as contacts
from contacts.segments import segment_create
from inbox import services as inbox
from smsportal.accounts import services as accounts
from smsportal.accounts.models import Account, Member, Role
from smsportal.messaging import dispatch, reports, services_webhooks
from smsportal.messaging.gateways.base import InboundSms
from smsportal.messaging.routing import connections_for
from smsportal.messaging.services import SmsRequest, messages_send
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory, api_key_for

# Every table of ours; a row belongs to a workspace through an `account` (or bare `account_id`) column, or one hop
# away through a foreign key to a table that has one.
OUR_APPS = ("accounts", "contacts", "messaging", "campaigns", "inbox", "reports")


@dataclass
class Workspace:
    account: Account
    user: object  # an admin member: every capability, so only the workspace boundary can refuse
    member: Member
    raw_key: str
    ids: dict = field(default_factory=dict)  # what the URLs name: contact_id, list_id, campaign_id, …
    session_key: str = ""  # a browser session logged in as `user`, made once with the family

    def browser(self, **kwargs) -> Client:
        """A test client carrying the user's session (a login per test would cost more than most tests)."""
        client = Client(**kwargs)
        client.cookies[settings.SESSION_COOKIE_NAME] = self.session_key
        return client


def _phone(account_index: int, n: int) -> str:
    """An Australian mobile that is none of the sandbox's magic numbers (…0000 to …0003)."""
    return f"+614{account_index:02d}{n:03d}555"


def populate(account: Account, user, index: int) -> dict:
    """One object of every kind the URLs name, owned by `account`, built through the services."""
    sandbox = connections_for(account.pk)[0]
    custom = contacts.custom_field_create(account=account, label="Suburb")
    contact_list = contacts.list_create(account=account, name="Customers")
    spare_list = contacts.list_create(account=account, name="Spare")
    contact = contacts.contact_create(account=account, phone_number=_phone(index, 1), data={"first_name": "Olivia"},
                                      contact_list=contact_list)
    segment = segment_create(account=account, name="Everyone in Customers",
                             rules={"match": "all", "conditions": [{"type": "list", "lists": [contact_list.pk]}]})
    job = importing.import_upload(account=account, file=io.BytesIO(b"phone,first_name\n+61412345678,Ann\n"),
                                  file_name="people.csv", created_by=user)
    campaign = campaigns.campaign_save(account=account, by=user,
                                       data={"name": "Spring", "body": "Hi {{first_name}}", "list_id": contact_list.pk})
    # A delivered message the contact then answered (a receipt, an inbound reply, a conversation), and a scheduled
    # one that could still be cancelled.
    delivered = messages_send(account=account, requests=[SmsRequest(to=contact.phone_number, body="Hello")])
    scheduled = messages_send(account=account, requests=[
        SmsRequest(to=_phone(index, 2), body="Later", schedule=timezone.now() + timedelta(days=2))])
    dispatch.dispatch_batch()
    reports.reports_apply()
    inbox.inbound_receive(connection=sandbox, messages=[InboundSms(
        sender=contact.phone_number, to="+61400000555", body="Thanks", gateway_message_id=f"IN-{account.pk}",
        at=timezone.now() + timedelta(seconds=1))])
    inbox.inbound_apply(now=timezone.now() + timedelta(seconds=2))
    from inbox.models import Conversation, InboundMessage

    conversation = Conversation.objects.get(account=account)
    inbound = InboundMessage.objects.get(account=account)
    template = inbox.template_save(account=account, name="Thanks", body="Thanks for your message!")
    receipt_rule = services_webhooks.webhook_rule_save(account=account, kind="receipt",
                                                       data={"name": "Receipts", "url": "http://127.0.0.1:9/dlr"})
    inbound_rule = services_webhooks.webhook_rule_save(account=account, kind="inbound",
                                                       data={"name": "Replies", "url": "http://127.0.0.1:9/in"})
    return {
        "contact_id": contact.pk,
        "list_id": contact_list.pk,
        "spare_list_id": spare_list.pk,
        "field_id": custom.pk,
        "segment_id": segment.pk,
        "job_id": job.pk,
        "campaign_id": campaign.pk,
        "message_id": delivered.outcomes[0].message_id,
        "scheduled_message_id": scheduled.outcomes[0].message_id,
        "inbound_id": inbound.pk,
        "conversation_id": conversation.pk,
        "template_id": template.pk,
        "connection_id": sandbox.pk,
        "receipt_rule_id": receipt_rule.pk,
        "inbound_rule_id": inbound_rule.pk,
    }


def build_family(tmp_dir) -> dict:
    """A parent with $100 and two sibling subaccounts, A and B, each funded with $20 and fully populated; and a
    "cousin": the admin of another main account, which has a subaccount of its own."""
    parent = AccountFactory(default_region="AU")
    accounts.credit_top_up(account=parent, amount="100")
    parent_admin = MemberFactory(account=parent, role=Role.ADMIN, user=UserFactory())
    workspaces = {"parent": parent, "parent_ws": Workspace(account=parent, user=parent_admin.user, member=parent_admin,
                                                           raw_key=api_key_for(parent))}
    for index, name in enumerate(("a", "b"), start=1):
        sub = SubaccountFactory(parent=parent, default_region="AU")
        accounts.credit_transfer(source=parent, destination=sub, amount="20")
        member = MemberFactory(account=sub, role=Role.ADMIN, user=UserFactory())
        workspace = Workspace(account=sub, user=member.user, member=member, raw_key=api_key_for(sub))
        workspace.ids = populate(sub, member.user, index)
        workspace.ids.update(member_id=member.pk, subaccount_id=sub.pk, user_id=member.user.pk)
        workspaces[name] = workspace
    # Another family's main account, with a child of its own: it manages subaccounts, just not these.
    cousin = AccountFactory(default_region="AU")
    cousin_child = SubaccountFactory(parent=cousin, default_region="AU")
    child_member = MemberFactory(account=cousin_child, role=Role.ADMIN, user=UserFactory())
    admin = MemberFactory(account=cousin, role=Role.ADMIN, user=UserFactory())
    workspaces["cousin"] = Workspace(account=cousin, user=admin.user, member=admin, raw_key=api_key_for(cousin),
                                     ids={"subaccount_id": cousin_child.pk, "member_id": child_member.pk})
    for key in ("parent_ws", "a", "b", "cousin"):
        login = Client()
        login.force_login(workspaces[key].user)
        workspaces[key].session_key = login.session.session_key
    return workspaces


WORLD_SETTINGS = {
    "SANDBOX_DLR_DELAY": 0,
    "WEBHOOK_ALLOW_PRIVATE": True,  # the rules' URLs are loopback; nothing is ever sent to them here
    # Logins made here are only ever used through force_login: the slow default hasher would cost seconds.
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
}


@pytest.fixture(scope="package")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The family, built once for this package inside a transaction that is rolled back after its last test (so
    no other package ever sees it). Each test runs in a savepoint inside it (pytest-django's `db`), so a test's
    writes never reach the next one."""
    tmp_dir = tmp_path_factory.mktemp("security-data")
    with django_db_blocker.unblock(), override_settings(DATA_DIR=tmp_dir, **WORLD_SETTINGS):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_family(tmp_dir)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def family(world, db):
    for workspace in (world["a"], world["b"], world["cousin"]):
        workspace.account.refresh_from_db()
    world["parent"].refresh_from_db()
    return world


@functools.cache
def _scoped_models():
    """(model, lookup to its workspace id) for every table of ours that belongs to a workspace."""
    found = []
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        names = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
        if model is Account:
            found.append((model, "pk"))
        elif "account" in names or "account_id" in names:
            found.append((model, "account_id"))
        else:
            for f in model._meta.concrete_fields:
                target = f.related_model if f.is_relation else None
                if target is not None and target is not Account and any(
                        g.name == "account" for g in target._meta.concrete_fields):
                    found.append((model, f"{f.name}__account_id"))
                    break
    return tuple(found)


@functools.cache
def _snapshot_queries(account_id: int) -> tuple:
    """The SQL reading each table's rows of the workspace, compiled once (the matrices take hundreds of snapshots)."""
    queries = []
    for model, lookup in _scoped_models():
        columns = [f.attname for f in model._meta.concrete_fields]
        qs = model.objects.filter(**{lookup: account_id}).order_by("pk").values_list(*columns)
        sql, params = qs.query.get_compiler(using=qs.db).as_sql()
        queries.append((model._meta.label, sql, tuple(params)))
    return tuple(queries)


def snapshot(account: Account) -> dict:
    """Every row of every table of ours that belongs to `account`, every column as stored: equal before and after
    means nothing of the workspace was written, added or deleted."""
    result = {}
    with connection.cursor() as cursor:
        for label, sql, params in _snapshot_queries(account.pk):
            cursor.execute(sql, params)
            result[label] = cursor.fetchall()
    return result
