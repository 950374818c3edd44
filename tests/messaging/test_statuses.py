import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsportal.messaging import statuses as s


@pytest.mark.parametrize(
    "current,reported,target",
    [
        (s.SENDING, s.SENT, s.SENT),
        (s.SENT, s.DELIVERED, s.DELIVERED),
        (s.SENT, s.SENT, None),  # duplicate
        (s.DELIVERED, s.SENT, None),  # late: never backwards
        (s.DELIVERED, s.DELIVERED, None),
        (s.DELIVERED, s.UNDELIVERED, s.UNDELIVERED),  # a failure after the hand-off is the final word
        (s.UNDELIVERED, s.DELIVERED, None),
        (s.SENDING, s.DELIVERED, s.DELIVERED),  # report before our "sent" landed
        (s.QUEUED, s.DELIVERED, s.DELIVERED),  # a timed-out attempt the gateway had in fact accepted
        (s.SENDING, s.FAILED, s.FAILED),
        (s.SENT, s.FAILED, s.UNDELIVERED),  # "failed" once the carrier had it means it did not arrive
        (s.DELIVERED, s.FAILED, s.UNDELIVERED),
        (s.UNDELIVERED, s.FAILED, None),
        (s.FAILED, s.DELIVERED, None),
        (s.CANCELLED, s.DELIVERED, None),
        (s.BLOCKED, s.SENT, None),
        (s.SCHEDULED, s.DELIVERED, None),  # never submitted: a report for it is not ours to apply
    ],
)
def test_reports(current, reported, target):
    assert s.report_target(current, reported) == target


def test_dispatcher_and_user_moves():
    assert s.can_move(s.SCHEDULED, s.QUEUED, via=s.DISPATCH)
    assert s.can_move(s.SENDING, s.QUEUED, via=s.DISPATCH)  # retry
    assert not s.can_move(s.SENT, s.QUEUED, via=s.DISPATCH)  # never resubmit what the gateway took
    assert not s.can_move(s.SENT, s.SENDING, via=s.DISPATCH)
    assert s.can_move(s.QUEUED, s.CANCELLED, via=s.USER) and not s.can_move(s.SENDING, s.CANCELLED, via=s.USER)
    assert not s.can_move(s.SENDING, s.BLOCKED, via=s.DISPATCH)
    with pytest.raises(ValueError):
        s.sources("lost", s.REPORT)


def test_nothing_leaves_a_final_status():
    for final, target, via in itertools.product(s.FINAL, s.ALL, (s.DISPATCH, s.REPORT, s.USER)):
        assert not s.can_move(final, target, via=via)


def test_only_the_dispatcher_ever_moves_backwards_and_only_to_retry():
    order = {status: rank for rank, status in enumerate((s.SCHEDULED, s.QUEUED, s.SENDING, s.SENT, s.DELIVERED))}
    for via in (s.DISPATCH, s.REPORT, s.USER):
        for target in s.ALL:
            for source in s.sources(target, via):
                if source in order and target in order and order[target] < order[source]:
                    assert (via, source, target) == (s.DISPATCH, s.SENDING, s.QUEUED)


@given(st.lists(st.sampled_from([s.SENT, s.DELIVERED, s.UNDELIVERED]), min_size=1, max_size=8), st.randoms())
def test_the_outcome_of_carrier_reports_does_not_depend_on_their_order(reports, random):
    def apply(sequence):
        status = s.SENDING
        for reported in sequence:
            status = s.report_target(status, reported) or status
        return status

    shuffled = list(reports)
    random.shuffle(shuffled)
    assert apply(reports) == apply(shuffled)
