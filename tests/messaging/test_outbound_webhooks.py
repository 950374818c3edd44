"""Outbound webhooks end to end against loopback receivers: receipts from sandbox delivery reports, inbound events
through their rules' filters, signatures checked by an independent implementation of the README's algorithm,
retries at growing delays, the retry budget, a dead worker's claim, the SSRF guard at save and delivery time, and
the emission's cost when nobody listens."""

import hashlib
import hmac
import re
import socket
import time
from datetime import timedelta
from pathlib import Path

import clicksend
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from smsportal.accounts import services as accounts
from smsportal.errors import DomainError
from smsportal.messaging import dispatch, netguard, outbound, reports, tasks
from smsportal.messaging import services_webhooks as hooks
from smsportal.messaging.models import WebhookDelivery, WebhookRule, WebhookSecret
from smsportal.messaging.services import SmsRequest, messages_send
from tests.factories import AccountFactory

from .fakes import Canned, FakeUpstream, closed_port_url

PUBLIC = "93.184.216.34"


# --- The receiver's side, as the README tells it to verify ---------------------------------------------------------


def verify(header: str, body: bytes, secret: str, *, now: float | None = None, tolerance: int = 300) -> bool:
    """X-Smsportal-Signature checked as a receiver would: recompute, compare in constant time, refuse stale."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs((time.time() if now is None else now) - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected, fields["v1"])


@pytest.fixture
def receiver(settings):
    """A loopback receiver answering 200; loopback is allowed for it."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with FakeUpstream("http", handler=lambda request: Canned(200, {"ok": True})) as fake:
        yield fake


@pytest.fixture
def public_dns(monkeypatch):
    """Names resolve as this dict says (no network in tests); anything else to a public address."""
    answers = {}

    def resolve(host, port):
        answer = answers.get(host, [PUBLIC])
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    return answers


def rule(account, url, kind="receipt", **data):
    return hooks.webhook_rule_save(account=account, kind=kind, data={"url": url, **data})


def send(account, *numbers, **extra):
    return [o.message_id for o in messages_send(
        account=account, requests=[SmsRequest(to=n, body="Hi", **extra) for n in numbers]).outcomes]


def deliveries(**filters):
    return list(WebhookDelivery.objects.filter(**filters).order_by("id"))


# --- Receipts from delivery reports --------------------------------------------------------------------------------


def test_a_sandbox_dlr_is_posted_signed_in_the_receipt_shape_of_v3(funded, receiver, api_for):
    hook = rule(funded, f"{receiver.url}/hooks/receipts")
    delivered_id, undelivered_id = send(funded, "+61412345678", "+61412340001", custom_string="order-7")
    dispatch.dispatch_batch()
    assert reports.reports_apply()["applied"] == 2

    queued = deliveries()
    assert [(d.rule_id, d.event, d.status, d.attempts) for d in queued] == [(hook.pk, "receipt", "pending", 0)] * 2
    assert outbound.deliver_batch() == {"claimed": 2, "delivered": 2}

    secret = WebhookSecret.objects.get(account=funded).secret
    assert secret.startswith("whsec_")
    received = {r.json()["message_id"]: r for r in receiver.requests}
    assert set(received) == {str(delivered_id), str(undelivered_id)}
    api = api_for(funded)
    for message_id, request in received.items():
        assert request.method == "POST" and request.path == "/hooks/receipts"
        headers = request.headers
        assert headers["content-type"] == "application/json" and headers["user-agent"] == "smsportal-webhooks"
        assert headers["x-smsportal-event"] == "receipt"
        delivery = WebhookDelivery.objects.get(payload__message_id=message_id)
        assert headers["x-smsportal-delivery"] == str(delivery.pk)
        assert verify(headers["x-smsportal-signature"], request.body, secret)
        # The very object /v3/sms/receipts/{id} answers, in the SDK's strict types.
        assert request.json() == api.get(f"/v3/sms/receipts/{message_id}").json()["data"]
        clicksend.models.SmsReceipt.from_dict(request.json())
    ok, failed = received[str(delivered_id)].json(), received[str(undelivered_id)].json()
    assert (ok["status_code"], ok["status_text"], ok["error_code"], ok["error_text"]) == (
        201, "Success: Message received on handset.", None, None)
    assert ok["custom_string"] == "order-7" and ok["subaccount_id"] == funded.pk and ok["message_type"] == "sms"
    assert isinstance(ok["timestamp"], int) and isinstance(ok["timestamp_send"], int)
    assert (failed["status_code"], failed["error_code"], failed["status"]) == (301, 30003, "undelivered")
    assert "unreachable handset" in failed["error_text"]

    for delivery in deliveries():
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
        assert delivery.delivered_at and delivery.next_attempt_at is None and delivery.last_response == '{"ok": true}'


def test_a_tampered_body_or_a_stale_timestamp_fails_verification(funded, receiver):
    rule(funded, receiver.url)
    send(funded, "+61412345678")
    dispatch.dispatch_batch()
    reports.reports_apply()
    outbound.deliver_batch()
    request = receiver.requests[0]
    secret = WebhookSecret.objects.get(account=funded).secret
    header = request.headers["x-smsportal-signature"]
    assert verify(header, request.body, secret)
    assert not verify(header, request.body.replace(b"201", b"301"), secret)
    assert not verify(header, request.body, secret + "x")
    signed_at = int(header.split(",")[0][2:])
    assert abs(signed_at - time.time()) < 60
    assert not verify(header, request.body, secret, now=signed_at + 301)
    assert verify(header, request.body, secret, now=signed_at + 299)
    # The header carries the time it was signed at: a replay with a fresh t and the old v1 fails too.
    replayed = f"t={signed_at + 100},{header.split(',')[1]}"
    assert not verify(replayed, request.body, secret, now=signed_at + 100)


def test_only_final_outcomes_are_receipts_and_other_workspaces_rules_never_fire(funded, receiver):
    other = AccountFactory()
    theirs = rule(other, f"{receiver.url}/theirs")
    mine = rule(funded, f"{receiver.url}/mine")
    rule(funded, f"{receiver.url}/off", enabled=False)
    send(funded, "+61412345678", "+61412340003")  # 0003: accepted, never reported
    dispatch.dispatch_batch()
    reports.reports_apply()
    assert [(d.rule_id, d.account_id) for d in deliveries()] == [(mine.pk, funded.pk)]
    assert not WebhookDelivery.objects.filter(rule=theirs).exists()


def test_inbound_events_follow_each_rules_number_and_search(funded, receiver):
    url = f"{receiver.url}/in"
    everything = rule(funded, url, kind="inbound")
    stops = rule(funded, url, kind="inbound", message_search_type=3, message_search_term="stop")  # does not contain
    starts = rule(funded, url, kind="inbound", message_search_type=1, message_search_term="Order")
    contains = rule(funded, url, kind="inbound", message_search_type=2, message_search_term="refund")
    exact = rule(funded, url, kind="inbound", message_search_type=4, message_search_term="yes please")
    on_number = rule(funded, url, kind="inbound", dedicated_number="+61 400 000 001")
    now = timezone.now()

    def event(body, to="+61400000000", message_id=1):
        return (funded.pk, outbound.inbound_payload(account_id=funded.pk, message_id=message_id, sender="+61412345678",
                                                    to=to, body=body, at=now))

    queued = outbound.webhooks_emit(kind="inbound", events=[
        event("order 42 please", message_id=1),
        event("  YES   please ", message_id=2),
        event("I want a REFUND, stop", message_id=3),
        event("hello", to="+61400000001", message_id=4),
    ])
    fired = {(d.rule_id, d.payload["message_id"]) for d in deliveries()}
    assert queued == len(fired)
    assert fired == {
        (everything.pk, "1"), (everything.pk, "2"), (everything.pk, "3"), (everything.pk, "4"),
        (stops.pk, "1"), (stops.pk, "2"), (stops.pk, "4"),
        (starts.pk, "1"),
        (contains.pk, "3"),
        (exact.pk, "2"),
        (on_number.pk, "4"),
    }
    payload = WebhookDelivery.objects.filter(rule=everything).first().payload
    clicksend.models.InboundSms.from_dict(payload)
    assert payload["subaccount_id"] == funded.pk and payload["timestamp"] == int(now.timestamp())


def test_a_workspace_without_rules_costs_one_query_and_gets_nothing(funded, django_assert_num_queries):
    with django_assert_num_queries(1):
        events = [(funded.pk, {"message_id": str(i)}) for i in range(50)]
        assert outbound.webhooks_emit(kind="receipt", events=events) == 0
    with django_assert_num_queries(0):
        assert outbound.webhooks_emit(kind="inbound", events=[]) == 0
    assert not WebhookDelivery.objects.exists()


def test_emitting_wakes_the_delivery_task_after_commit(funded, receiver, django_capture_on_commit_callbacks,
                                                        monkeypatch, django_assert_num_queries, on_postgres):
    rule(funded, receiver.url)
    kicked = []
    monkeypatch.setattr(tasks, "webhooks_kick", lambda: kicked.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        # The rules, and one INSERT (on PostgreSQL the engine's prepared statements bypass Django's query log).
        with django_assert_num_queries(1 if on_postgres else 2):
            assert outbound.webhooks_emit(kind="receipt", events=[(funded.pk, {"n": i}) for i in range(20)]) == 20
    assert len(callbacks) == 1 and kicked == [1]


def _apply_queries(account, count: int) -> tuple[int, int]:
    """(all queries, queries naming a webhook table) of the reports_apply that applies `count` sandbox DLRs."""
    send(account, *[f"+614123{i:05d}" for i in range(10, 10 + count)])
    dispatch.dispatch_batch()
    with CaptureQueriesContext(connection) as captured:
        assert reports.reports_apply()["applied"] == count
    hooks_queries = [q for q in captured.captured_queries if "webhook" in q["sql"]]
    return len(captured.captured_queries), len(hooks_queries)


def test_reports_apply_pays_one_query_without_rules_and_a_fixed_few_with_them(funded, receiver, on_postgres):
    accounts.credit_top_up(account=funded, amount="50")
    quiet_one, quiet_one_hooks = _apply_queries(funded, 1)
    quiet_many, quiet_many_hooks = _apply_queries(funded, 12)
    assert quiet_one_hooks == quiet_many_hooks == 1  # the rules lookup, whatever the batch size
    rule(funded, receiver.url)
    busy_one, busy_one_hooks = _apply_queries(funded, 1)
    busy_many, busy_many_hooks = _apply_queries(funded, 12)
    insert = 0 if on_postgres else 1  # on PostgreSQL the engine's prepared INSERT bypasses Django's query log
    assert busy_one_hooks == busy_many_hooks == 1 + insert  # the rules, one INSERT
    assert busy_one - quiet_one == busy_many - quiet_many == 2 + insert  # + the receipts' messages and reports
    if on_postgres:  # SQLite's executemany-free UPDATE of the reports is one statement a row
        assert quiet_one == quiet_many and busy_one == busy_many
    assert WebhookDelivery.objects.count() == 13


# --- Delivery: retries, budget, leases ------------------------------------------------------------------------------


def _one_pending(account, url):
    rule(account, url)
    outbound.webhooks_emit(kind="receipt", events=[(account.pk, {"message_id": "1"})])
    return WebhookDelivery.objects.get()


def test_a_failing_receiver_is_retried_at_growing_delays_then_succeeds(funded, receiver):
    receiver.enqueue(Canned(500, "boom"), Canned(503, "<h1>down</h1>"), Canned(404, "nope"))
    delivery = _one_pending(funded, receiver.url)
    delays = []
    for attempt, (code, nominal) in enumerate([(500, 15), (503, 60), (404, 180)], start=1):
        attempted_at = timezone.now()
        assert outbound.deliver_batch(now=delivery.next_attempt_at) == {"claimed": 1, "retrying": 1}
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", attempt, code)
        assert delivery.last_error.startswith(f"HTTP {code}")
        delay = (delivery.next_attempt_at - attempted_at).total_seconds()
        assert nominal * 0.8 - 1 <= delay <= nominal * 1.2 + 1
        delays.append(delay)
        assert outbound.deliver_batch() == {}  # not due before then
    assert delays == sorted(delays)
    assert delivery.last_response == "nope"
    assert outbound.deliver_batch(now=delivery.next_attempt_at) == {"claimed": 1, "delivered": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "delivered", 4, 200, "")
    assert [r.headers["x-smsportal-attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    assert {r.headers["x-smsportal-delivery"] for r in receiver.requests} == {str(delivery.pk)}
    assert outbound.deliver_batch(now=timezone.now() + timedelta(days=2)) == {}  # delivered: never sent again
    assert len(receiver.requests) == 4


def test_after_the_retry_budget_the_delivery_fails(funded, receiver):
    receiver.handler = lambda request: Canned(500, "still broken")
    delivery = _one_pending(funded, receiver.url)
    scheduled = 0.0
    for _ in range(outbound.MAX_ATTEMPTS):
        attempted_at = timezone.now()
        outbound.deliver_batch(now=delivery.next_attempt_at)
        delivery.refresh_from_db()
        if delivery.status == "pending":
            scheduled += (delivery.next_attempt_at - attempted_at).total_seconds()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 10, None)
    assert delivery.last_status_code == 500 and delivery.last_response == "still broken"
    assert len(receiver.requests) == 10
    assert scheduled >= 3600  # retries span well over an hour
    assert outbound.deliver_batch(now=timezone.now() + timedelta(days=30)) == {}


def test_no_answer_is_retried_with_the_network_error(funded, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    delivery = _one_pending(funded, closed_port_url())
    assert outbound.deliver_batch() == {"claimed": 1, "retrying": 1}
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and delivery.last_error.startswith("connection_error")
    monkeypatch.setattr(outbound, "TIMEOUT", (1.0, 0.2))
    with FakeUpstream("http", handler=lambda r: Canned(200, delay=1.0)) as slow:
        hooks.webhook_rule_save(account=funded, rule=delivery.rule, data={"url": slow.url})
        assert outbound.deliver_batch(now=delivery.next_attempt_at) == {"claimed": 1, "retrying": 1}
        delivery.refresh_from_db()
        assert delivery.last_error.startswith("timeout") and delivery.url == slow.url  # the rule's URL now


def test_a_long_answer_is_read_only_so_far(funded, receiver):
    receiver.handler = lambda request: Canned(200, "<b>" + "x" * 1_000_000)
    delivery = _one_pending(funded, receiver.url)
    assert outbound.deliver_batch()["delivered"] == 1
    delivery.refresh_from_db()
    assert delivery.last_response == ("<b>" + "x" * 1_000_000)[:500]


def test_a_worker_that_dies_mid_batch_leaves_its_rows_due_again(funded, receiver):
    delivery = _one_pending(funded, receiver.url)
    rows, lease = outbound._claim(10, timezone.now())  # claimed (attempt counted), then the worker died
    assert [r["id"] for r in rows] == [delivery.pk]
    assert outbound.deliver_batch() == {}  # held by the dead worker's lease
    assert outbound.deliver_batch(now=lease + timedelta(seconds=1)) == {"claimed": 1, "delivered": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert receiver.requests[0].headers["x-smsportal-delivery"] == str(delivery.pk)
    # The dead worker coming back to record its stale claim changes nothing.
    assert outbound.record(rows=rows, outcomes=[outbound.Outcome(status_code=500)], lease=lease) == {}
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.last_status_code == 200


def test_the_tick_wakes_the_delivery_task_when_deliveries_are_due(funded, receiver, monkeypatch):
    woken = []
    monkeypatch.setattr(tasks, "webhooks_kick", lambda: woken.append(1))
    assert tasks.tick()["webhooks"] is False and woken == []
    delivery = _one_pending(funded, receiver.url)
    assert tasks.tick()["webhooks"] is True and woken == [1]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert tasks.tick()["webhooks"] is False


def test_the_task_delivers_and_is_idempotent(funded, receiver, monkeypatch):
    monkeypatch.setattr(tasks.deliver_webhooks, "delay", lambda: pytest.fail("a partial batch re-kicked"))
    _one_pending(funded, receiver.url)
    assert tasks.deliver_webhooks() == {"claimed": 1, "delivered": 1}
    assert tasks.deliver_webhooks() == {}
    assert len(receiver.requests) == 1


def test_a_test_ping_is_signed_and_logged_like_any_event(funded, receiver):
    hook = rule(funded, f"{receiver.url}/ping-me", kind="inbound", enabled=False)
    delivery = hooks.webhook_ping(rule=hook)
    assert outbound.deliver_batch() == {"claimed": 1, "delivered": 1}
    request = receiver.requests[0]
    assert request.headers["x-smsportal-event"] == "ping" and request.json()["rule_id"] == hook.pk
    assert verify(request.headers["x-smsportal-signature"], request.body, WebhookSecret.objects.get().secret)
    delivery.refresh_from_db()
    assert delivery.event == "ping" and delivery.status == "delivered"


def test_a_rotated_secret_signs_the_next_attempt(funded, receiver):
    receiver.enqueue(Canned(401, "bad signature"))
    delivery = _one_pending(funded, receiver.url)
    old = WebhookSecret.objects.get().secret
    outbound.deliver_batch()
    assert verify(receiver.requests[0].headers["x-smsportal-signature"], receiver.requests[0].body, old)
    new = hooks.webhook_secret_rotate(account=funded).secret
    assert new != old
    delivery.refresh_from_db()
    outbound.deliver_batch(now=delivery.next_attempt_at)
    header, body = receiver.requests[1].headers["x-smsportal-signature"], receiver.requests[1].body
    assert verify(header, body, new) and not verify(header, body, old)


def test_deleting_a_rule_drops_its_pending_deliveries(funded, receiver):
    delivery = _one_pending(funded, receiver.url)
    hooks.webhook_rule_delete(rule=delivery.rule)
    assert not WebhookDelivery.objects.exists() and outbound.deliver_batch() == {}


# --- The SSRF guard -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1",
    "255.255.255.255", "100.64.0.1", "240.0.0.1", "192.0.2.7", "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2001:db8::1",
])
def test_non_public_addresses_are_named(address):
    assert netguard.address_problem(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert netguard.address_problem(address) is None


@pytest.mark.parametrize("url, answers, why", [
    ("http://127.0.0.1/hook", {}, "loopback"),
    ("http://[::1]:8080/hook", {}, "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", {}, "loopback"),
    ("http://169.254.169.254/latest/meta-data", {}, "link-local"),
    ("https://localhost/hook", {"localhost": ["127.0.0.1", "::1"]}, "loopback"),
    ("https://intranet.example.com/hook", {"intranet.example.com": [PUBLIC, "10.0.0.5"]}, "private"),
    ("https://rebind.example.com/hook", {"rebind.example.com": ["0.0.0.0"]}, "unspecified"),
    ("https://nowhere.example.com/hook", {"nowhere.example.com": socket.gaierror(-2, "Name or service not known")},
     "could not be resolved"),
    ("ftp://example.com/hook", {}, "https://"),
    ("example.com/hook", {}, "https://"),
    ("https:///hook", {}, "no host"),
    ("https://user:pw@example.com/hook", {}, "Credentials"),
    ("https://exa mple.com/hook", {}, "spaces"),
    ("", {}, "Enter the URL"),
])
def test_a_rule_with_a_url_that_may_not_be_called_is_refused_on_save(funded, public_dns, settings, url, answers, why):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    public_dns.update(answers)
    with pytest.raises(DomainError) as refused:
        rule(funded, url)
    assert refused.value.field == "url" and why in refused.value.message
    assert not WebhookRule.objects.exists()


def test_a_public_url_is_accepted_and_loopback_only_when_allowed(funded, public_dns, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert rule(funded, "  https://hooks.example.com/sms?x=1  ").url == "https://hooks.example.com/sms?x=1"
    assert rule(funded, "http://[2606:4700:4700::1111]:8443/hook").pk
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert rule(funded, "http://127.0.0.1:9/hook").pk


def test_a_host_that_turns_private_is_refused_at_delivery_without_a_request(funded, receiver, public_dns, settings):
    port = receiver.url.rsplit(":", 1)[1]
    settings.WEBHOOK_ALLOW_PRIVATE = False
    delivery = _one_pending(funded, f"http://hooks.example.com:{port}/in")  # saved while it resolved publicly
    public_dns["hooks.example.com"] = ["127.0.0.1"]  # … and now points at the receiver on loopback
    assert outbound.deliver_batch() == {"claimed": 1, "failed": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    assert "loopback" in delivery.last_error and "public addresses only" in delivery.last_error
    assert receiver.requests == []


def test_delivery_connects_to_the_address_it_checked_and_sends_the_host_name(funded, receiver, public_dns):
    port = receiver.url.rsplit(":", 1)[1]
    public_dns["hooks.example.test"] = ["127.0.0.1"]  # allowed: the receiver fixture allows private addresses
    _one_pending(funded, f"http://hooks.example.test:{port}/in")
    assert outbound.deliver_batch()["delivered"] == 1
    assert receiver.requests[0].headers["host"] == f"hooks.example.test:{port}"


def test_an_unresolvable_host_at_delivery_is_retried(funded, receiver, public_dns):
    delivery = _one_pending(funded, "https://flaky.example.com/in")
    public_dns["flaky.example.com"] = socket.gaierror(-3, "Temporary failure in name resolution")
    assert outbound.deliver_batch() == {"claimed": 1, "retrying": 1}
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "could not be resolved" in delivery.last_error


def test_the_readmes_verification_example_accepts_a_real_delivery_and_nothing_else(funded, receiver):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Outbound webhooks", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(example.strip().splitlines()) <= 10
    namespace = {}
    exec(example, namespace)  # noqa: S102 - our own README
    readme_verify = namespace["verify"]
    _one_pending(funded, receiver.url)
    outbound.deliver_batch()
    request, secret = receiver.requests[0], WebhookSecret.objects.get().secret
    header = request.headers["x-smsportal-signature"]
    assert readme_verify(request.body, header, secret)
    assert not readme_verify(request.body + b" ", header, secret)
    assert not readme_verify(request.body, header, "whsec_wrong")
    assert not readme_verify(request.body, header.replace("t=", "t=1"), secret)
    assert not readme_verify(request.body, "garbage", secret)
