"""The separate OS processes of the resilience tests: `python -m tests.resilience.children <role> '<json args>'`.

- `upstream`: a loopback JSON-over-HTTP gateway (asyncio, HTTP/1.1 keep-alive) in its own process, so killing a
  worker cannot touch it. It records every request by the idempotency key in its body (`ref`), and answers
  `{"id": ...}`. With `dedupe`, a key it has seen gets the first answer's id again and is not texted again (an
  upstream that dedupes on our key); without, every submission is a text. A request holds one message, or a
  batch of them under "messages" (answered `{"messages": [{"id": ...}, ...]}`). With `hold_after`, once that
  many messages were answered it stops answering (still recording what arrives) until `POST /_resume`: a worker
  stuck mid-batch, with some messages submitted and their outcome unknown, ready to be killed.
  `GET /_stats` answers what it saw. It prints `{"port": N}` when listening.
- `worker`: what the Celery worker runs, minus the broker — the campaign fan-out (`campaign_prepare`), the tick's
  `release_due` and `recover_interrupted`, and `dispatch_batch` — looped until the campaign has nothing left
  to send. It prints `ready`, waits for a line on stdin, works, and prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
import time


def upstream_main(args: dict) -> None:
    import asyncio

    from tests.messaging.fakes import take_request

    dedupe = bool(args.get("dedupe"))
    state = {"requests": 0, "submissions": 0, "answered": 0, "holding": False, "hold_after": args.get("hold_after"),
             "resumed": False}
    received: dict[str, int] = {}  # idempotency key → submissions carrying it
    before_resume: dict[str, int] = {}  # the same, on connections opened before /_resume (the killed worker's)
    ids: dict[str, str] = {}  # idempotency key → the id the first answer gave it
    texts: dict[str, int] = {}  # idempotency key → texts that went to the handset for it
    held: list[str] = []  # keys of requests received and never answered

    def respond(payload: bytes, status: bytes = b"200 OK") -> bytes:
        return (b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (status, len(payload), payload))

    def control(head: bytes) -> bytes:
        if head.startswith(b"GET /_stats"):
            return respond(json.dumps({**state, "received": received, "before_resume": before_resume, "ids": ids,
                                       "texts": texts, "held": held}).encode())
        if head.startswith(b"POST /_resume"):
            state["holding"], state["hold_after"] = False, None  # answers everything from now on
            state["resumed"] = True
            return respond(b"{}")
        return respond(b'{"error": "unknown control path"}', b"404 Not Found")

    def submit(body: bytes, early: bool) -> bytes | None:
        """The answer to one request (one message, or a batch under "messages"), or None to hold it."""
        payload = json.loads(body)
        batch = payload.get("messages")
        state["requests"] += 1
        answers = []
        for message in batch if batch is not None else [payload]:
            key = message["ref"]
            state["submissions"] += 1
            received[key] = received.get(key, 0) + 1
            if early:
                before_resume[key] = before_resume.get(key, 0) + 1
            if not (dedupe and key in ids):
                texts[key] = texts.get(key, 0) + 1
            ids.setdefault(key, f"m-{state['submissions']}")
            answers.append({"id": ids[key] if dedupe else f"m-{state['submissions']}"})
        if state["hold_after"] is not None and state["answered"] >= state["hold_after"]:
            state["holding"] = True
        if state["holding"]:
            held.extend(message["ref"] for message in batch or [payload])
            return None
        state["answered"] += len(answers)
        return respond(json.dumps(answers[0] if batch is None else {"messages": answers}).encode())

    class Upstream(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, bytearray()
            self.early = not state["resumed"]  # bytes from the killed worker may be read after /_resume

        def data_received(self, data):
            self.buf += data
            while (request := take_request(self.buf)) is not None:
                head, body = request
                answer = control(head) if b" /_" in head.split(b"\r\n", 1)[0] else submit(body, self.early)
                if answer is not None:
                    self.transport.write(answer)

    async def serve():
        server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", 0, backlog=256)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until the parent lets go

    asyncio.run(serve())


def worker_main(args: dict) -> None:
    import django

    django.setup()
    from campaigns.services import campaign_prepare
    from smsportal.messaging import dispatch, statuses
    from smsportal.messaging.models import Message

    campaign_id, prepare_limit, dispatch_limit = args["campaign_id"], args["prepare_limit"], args["dispatch_limit"]
    unfinished = Message.objects.filter(campaign_id=campaign_id,
                                        status__in=(statuses.SCHEDULED, statuses.QUEUED, statuses.SENDING))
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    deadline = started + args["deadline"]
    totals = {"prepared": 0, "released": 0, "requeued": 0, "failed_interrupted": 0, "batches": 0}
    fanning_out = True
    while True:
        if time.monotonic() > deadline:
            print(json.dumps({"error": "deadline passed with messages unfinished", **totals}), flush=True)
            sys.exit(3)
        prepared = campaign_prepare(campaign_id=campaign_id, limit=prepare_limit) if fanning_out else None
        if prepared is not None:
            totals["prepared"] += prepared["prepared"]
            fanning_out = prepared["more"]
        released = dispatch.release_due()
        recovered = dispatch.recover_interrupted()
        done = dispatch.dispatch_batch(limit=dispatch_limit)
        totals["released"] += released
        totals["requeued"] += recovered["requeued"]
        totals["failed_interrupted"] += recovered["failed"]
        if done.get("claimed"):
            totals["batches"] += 1
        for outcome, n in done.items():
            totals[outcome] = totals.get(outcome, 0) + n
        if fanning_out or done.get("claimed") or released or any(recovered.values()):
            continue
        if not unfinished.exists():  # what is left in `sending` waits for its lease to pass, then the sweep
            break
        time.sleep(0.1)
    print(json.dumps({**totals, "seconds": round(time.monotonic() - started, 2)}), flush=True)


if __name__ == "__main__":
    role, raw = sys.argv[1], sys.argv[2]
    {"upstream": upstream_main, "worker": worker_main}[role](json.loads(raw))
