"""GroupWriter: concurrent callers share writes, each returns only once its rows are written, errors reach
every caller of the failed write; and webhooks store through it."""

import threading
import time

import pytest

from smsportal.messaging.bulk import GroupWriter


class Recorder:
    def __init__(self, *, fail_with=None, pause=0.02):
        self.batches: list[list] = []
        self.fail_with, self.pause = fail_with, pause
        self.lock = threading.Lock()

    def __call__(self, rows):
        time.sleep(self.pause)  # a write takes a while: callers arriving meanwhile queue up behind it
        if self.fail_with:
            raise self.fail_with
        with self.lock:
            self.batches.append(list(rows))


def submit_from_threads(writer, count):
    """`count` threads each submit two rows; returns what each saw: None (returned) or the exception."""
    outcomes, start = {}, threading.Barrier(count)

    def caller(k):
        start.wait()
        try:
            writer.submit([(k, "a"), (k, "b")])
            outcomes[k] = None
        except Exception as exc:  # noqa: BLE001 — the test inspects it
            outcomes[k] = exc

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_concurrent_callers_share_writes_and_every_row_is_written_once():
    write = Recorder()
    outcomes = submit_from_threads(GroupWriter(write), 12)

    assert outcomes == {k: None for k in range(12)}
    written = [row for batch in write.batches for row in batch]
    assert sorted(written) == sorted((k, part) for k in range(12) for part in "ab")
    assert len(write.batches) < 12  # callers that arrived during a write went out together
    for batch in write.batches:  # a caller's rows are never split across writes
        assert {(k, p) for k, p in batch} == {(k, p) for k in {k for k, _ in batch} for p in "ab"}


def test_a_caller_returns_only_after_its_rows_are_written():
    write = Recorder()
    writer = GroupWriter(write)
    seen_at_return = []

    def caller(k):
        writer.submit([(k, "x")])
        seen_at_return.append((k, any((k, "x") in batch for batch in write.batches)))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(seen_at_return) == [(k, True) for k in range(6)]


def test_a_failed_write_fails_every_caller_in_it_and_the_writer_recovers():
    write = Recorder(fail_with=RuntimeError("database went away"))
    writer = GroupWriter(write)
    outcomes = submit_from_threads(writer, 5)
    assert all(isinstance(exc, RuntimeError) for exc in outcomes.values()) and len(outcomes) == 5

    write.fail_with = None
    writer.submit([(99, "ok")])
    assert write.batches[-1] == [(99, "ok")]


def test_nothing_to_write_writes_nothing():
    write = Recorder()
    GroupWriter(write).submit([])
    assert write.batches == []


@pytest.mark.django_db
def test_inside_a_transaction_the_caller_writes_its_own_rows_at_once():
    write = Recorder(pause=0)
    writer = GroupWriter(write)
    from django.db import transaction

    with transaction.atomic():
        writer.submit([(1, "in")])
    assert write.batches == [[(1, "in")]]
