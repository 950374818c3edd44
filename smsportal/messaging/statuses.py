"""A message's statuses and the moves between them (PRODUCT.md §3). Pure: the models and tasks ask this.

scheduled → queued → sending → sent → delivered | undelivered; or failed (never reached the carrier),
cancelled, blocked (opted out, invalid number, no credit, no route).

Moves are monotonic: a late or duplicate delivery report never moves a message backwards. The one step
back is the dispatcher's own retry (sending → queued, to wait for its next attempt). Two things reports
may do that look odd but are real:
- arrive before the send is recorded (sending or even queued → sent/delivered/undelivered): the gateway
  accepted the message before our write landed, so the report is the truth;
- report a failure after a delivery (delivered → undelivered): some aggregators confirm the hand-off to the
  next network first and the handset's failure later; the failure is the final word.
Every move is guarded in SQL with `sources(target, via)`: `UPDATE … WHERE status IN (sources)`, so
concurrent workers and duplicate reports cannot apply a move twice or out of order.
"""

SCHEDULED = "scheduled"
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
CANCELLED = "cancelled"
BLOCKED = "blocked"

ALL = (SCHEDULED, QUEUED, SENDING, SENT, DELIVERED, UNDELIVERED, FAILED, CANCELLED, BLOCKED)
FINAL = frozenset({UNDELIVERED, FAILED, CANCELLED, BLOCKED})  # nothing moves a message out of these
REACHED_CARRIER = frozenset({SENT, DELIVERED, UNDELIVERED})
RECEIPT = (DELIVERED, UNDELIVERED, FAILED)  # outcomes a delivery receipt reports (ClickSend's /sms/receipts)
CHARGEABLE = REACHED_CARRIER  # credit is settled once the gateway accepted it; refunded for the others

# Who may make a move: the dispatcher (claiming, retrying, gateway answers), a delivery report, or a person.
DISPATCH, REPORT, USER = "dispatch", "report", "user"

_MOVES: dict[str, dict[str, frozenset[str]]] = {
    DISPATCH: {
        QUEUED: frozenset({SCHEDULED, SENDING}),  # released when due; or a retry waiting for its next attempt
        SENDING: frozenset({QUEUED}),
        SENT: frozenset({SENDING}),  # the gateway accepted it
        FAILED: frozenset({QUEUED, SENDING}),  # permanent error, or retries exhausted, before the carrier
        BLOCKED: frozenset({SCHEDULED, QUEUED}),
    },
    REPORT: {
        SENT: frozenset({QUEUED, SENDING}),
        DELIVERED: frozenset({QUEUED, SENDING, SENT}),
        UNDELIVERED: frozenset({QUEUED, SENDING, SENT, DELIVERED}),
        FAILED: frozenset({QUEUED, SENDING}),
    },
    USER: {
        CANCELLED: frozenset({SCHEDULED, QUEUED}),
    },
}


def sources(target: str, via: str) -> frozenset[str]:
    """The statuses `via` may move a message from into `target` (empty: never)."""
    if target not in ALL:
        raise ValueError(f"unknown status {target!r}")
    return _MOVES[via].get(target, frozenset())


def can_move(current: str, target: str, *, via: str) -> bool:
    return current in sources(target, via)


def report_target(current: str, reported: str) -> str | None:
    """Where a delivery report takes a message now in `current`, or None if it changes nothing.

    A gateway's "failed" after the carrier had the message means it did not arrive: undelivered.
    """
    if reported == FAILED and current in REACHED_CARRIER:
        reported = UNDELIVERED
    return reported if can_move(current, reported, via=REPORT) else None
