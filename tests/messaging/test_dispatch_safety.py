"""No message is submitted twice, even when a worker dies mid-batch; failing connections are skipped, then tried again."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from smsportal.messaging import dispatch, statuses
from smsportal.messaging.models import GatewayConnection, Message
from smsportal.messaging.services import SmsRequest, messages_send

from .conftest import balance
from .fakes import FakeUpstream, closed_port_url

TEMPLATE = '{"to": "{{to}}", "text": "{{body}}", "ref": "{{idempotency_key}}"}'


class WorkerDied(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no except clause catches it."""


@pytest.fixture
def upstream():
    with FakeUpstream("http") as fake:
        yield fake


def http_connection(account, url, **config):
    return GatewayConnection.objects.create(
        account=account, name="Upstream", kind="http", priority=1,
        config={"url": url + "/send", "body_template": TEMPLATE, "response_id_path": "id", "concurrency": 1, **config},
    )


def send_ten(account):
    requests = [SmsRequest(to=f"+614123450{i:02d}", body=f"Message {i}") for i in range(10)]
    return [o.message_id for o in messages_send(account=account, requests=requests).outcomes]


def interrupt_a_batch(account, upstream, monkeypatch, *, submitted: int):
    original_send = dispatch._send_through

    def send_then_die(connection, rows, **kwargs):
        gateway = dispatch._gateway(connection)
        real_send_batch = gateway.send_batch

        def send_some(outbound):
            real_send_batch(outbound[:submitted])
            raise WorkerDied

        monkeypatch.setattr(gateway, "send_batch", send_some)
        monkeypatch.setattr(dispatch, "_gateway", lambda _: gateway)
        return original_send(connection, rows, **kwargs)

    monkeypatch.setattr(dispatch, "_send_through", send_then_die)
    with pytest.raises(WorkerDied):
        dispatch.dispatch_batch()
    monkeypatch.undo()


def rerun_after_the_lease(settings):
    """What happens next in production: the tick's sweep after the lease, and the redelivered task."""
    later = timezone.now() + timedelta(seconds=settings.SMS_SENDING_LEASE + 1)
    swept = dispatch.recover_interrupted(now=later)
    dispatch.dispatch_batch(now=later)
    dispatch.dispatch_batch(now=later)
    return swept


def test_an_interrupted_batch_is_never_resubmitted_through_a_gateway_that_does_not_dedupe(
    funded, upstream, monkeypatch, settings
):
    http_connection(funded, upstream.url)
    ids = send_ten(funded)
    interrupt_a_batch(funded, upstream, monkeypatch, submitted=4)
    assert len(upstream.requests) == 4
    assert Message.objects.filter(pk__in=ids, status=statuses.SENDING).count() == 10  # outcome unknown

    swept = rerun_after_the_lease(settings)

    assert swept == {"requeued": 0, "failed": 10}
    assert len(upstream.requests) == 4  # nothing went out again
    assert Counter(r.json()["ref"] for r in upstream.requests).most_common(1)[0][1] == 1
    failed = Message.objects.filter(pk__in=ids)
    assert {m.status for m in failed} == {statuses.FAILED} and {m.error_code for m in failed} == {"interrupted"}
    assert balance(funded) == Decimal("50")  # refunded: we cannot prove they were sent


def test_an_interrupted_batch_is_resubmitted_with_the_same_key_where_the_upstream_dedupes(
    funded, upstream, monkeypatch, settings
):
    http_connection(funded, upstream.url, dedupes_idempotency_key="true")
    ids = send_ten(funded)
    keys = dict(Message.objects.filter(pk__in=ids).values_list("id", "idempotency_key"))
    interrupt_a_batch(funded, upstream, monkeypatch, submitted=4)

    swept = rerun_after_the_lease(settings)

    assert swept == {"requeued": 10, "failed": 0}
    sent = Message.objects.filter(pk__in=ids)
    assert {m.status for m in sent} == {statuses.SENT}
    # Each message went out under its one idempotency key; the four the upstream already had were resent
    # with the same key (which it dedupes), the other six once.
    refs = Counter(r.json()["ref"] for r in upstream.requests)
    assert set(refs) == set(keys.values())
    assert sorted(refs.values()) == [1] * 6 + [2] * 4


def test_a_stalled_worker_cannot_submit_what_a_sweep_took_back(funded, upstream, settings):
    """A worker that stalls past the lease after claiming loses its claim; it drops those rows at submit."""
    http_connection(funded, upstream.url, dedupes_idempotency_key="true")
    ids = send_ten(funded)
    claimed = dispatch.claim(limit=100).rows
    later = timezone.now() + timedelta(seconds=settings.SMS_SENDING_LEASE + 1)
    dispatch.recover_interrupted(now=later)
    dispatch.dispatch_batch(now=later)  # the new claimer sends all ten
    assert len(upstream.requests) == 10

    assert dispatch._still_ours(claimed) == []  # the stalled worker wakes up: none of them is its own any more
    assert Message.objects.filter(pk__in=ids, status=statuses.SENT).count() == 10


def test_failover_skips_a_failing_connection_and_recovers(funded, settings):
    settings.GATEWAY_FAILOVER_THRESHOLD = 3
    settings.GATEWAY_FAILOVER_COOLDOWN = 60
    broken = http_connection(funded, closed_port_url())
    backup = GatewayConnection.objects.create(account=funded, name="Backup", kind="sandbox", priority=2)
    ids = send_ten(funded)

    first = dispatch.dispatch_batch()
    assert first["temporary"] == 10  # connection refused: temporary, retried
    broken.refresh_from_db()
    assert broken.skipped_until is not None

    soon = timezone.now() + timedelta(seconds=30)
    second = dispatch.dispatch_batch(now=soon)
    assert second["accepted"] == 10
    assert set(Message.objects.filter(pk__in=ids).values_list("gateway_id", flat=True)) == {backup.pk}

    # After the cooldown the first connection is tried again.
    later = timezone.now() + timedelta(seconds=61)
    more = [o.message_id for o in messages_send(account=funded, requests=[SmsRequest(to="+61412345699", body="x")]).outcomes]
    assert dispatch.dispatch_batch(now=later)["temporary"] == 1
    assert Message.objects.get(pk=more[0]).gateway_id == broken.pk
