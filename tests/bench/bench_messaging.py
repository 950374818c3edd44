"""dispatch, dlr_ingest, throughput_cap: the SMS engine against loopback fakes (PRODUCT.md §7).

Targets (2 cores, PostgreSQL + Redis):
- dispatch: 1,000,000 messages through the http gateway to a loopback gateway with no cap at ≥ 5,000
  messages/s, and ≥ 50 % of a bare HTTP client loop with the same concurrency against the same gateway in the
  same run; ≤ 150 MiB RSS per worker process while sending them.
- dlr_ingest: DLR webhooks acknowledged at ≥ 2,000 requests/s with p99 ≤ 25 ms; statuses applied ≥ 20,000/s.
- throughput_cap: a 100 segments/s cap held within ±2 % over any 60 s window, two workers.

Every other process here is a fresh interpreter started with `python -m tests.bench.bench_messaging <role>`:
the fake gateway (a small asyncio HTTP/1.1 keep-alive responder, so it shares no GIL with us and costs far
less per request than our client), the dispatch workers (django.setup() and dispatch_batch() until nothing is
claimed — the Celery task's loop without the broker), the bare-client baseline, the webhook load generator
(asyncio raw sockets) and gunicorn serving the real app. Data is inserted set-based (INSERT … SELECT
generate_series). Set SMSPORTAL_BENCH_PROFILE=1 to run the main dispatch's first worker under cProfile and
print where its time goes.
"""

from __future__ import annotations

import bisect
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from .harness import BASE_DIR, Context, Result, benchmark, timed

WORKERS = 2  # dispatch worker processes: one per core of the target machine
REDIS_BENCH_URL = "redis://127.0.0.1:6379/14"
PRICE = "0.0500"  # per segment
SHORT_BODY = "Hi there, your table for two is booked for Friday 7pm. Reply STOP to opt out. Ref "  # 1 segment
LONG_BODY = ("Reminder: your appointment with Dr Nguyen is on Tuesday at 10:30am at the Surry Hills clinic. "
             "Please bring your Medicare card and arrive 10 minutes early. Reply C to confirm. Ref ")  # 2 segments
SINGLE_TEMPLATE = None  # the http gateway's default body template: one message per request
BATCH_TEMPLATE = {
    "messages": [{"to": "{{to}}", "from": "{{from}}", "body": "{{body}}", "reference": "{{idempotency_key}}"}],
    "status_url": "{{status_url}}",
}
DEFAULT_CONFIG = (1, 16)  # (batch_size, concurrency): the http gateway's defaults when neither is set


def _segments(body: str) -> int:
    """Segments of the GSM-7 bodies this file generates (no extension characters)."""
    return 1 if len(body) <= 160 else -(-len(body) // 153)


# === Child processes ======================================================================================


def _child_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="smsportal.settings", REDIS_URL=REDIS_BENCH_URL, DEBUG="false",
               LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Child:
    """A fresh interpreter running one role of this file; lines on stdout are its answers."""

    def __init__(self, role: str, args: dict, *, env: dict | None = None, log_dir: Path, name: str = ""):
        self.name = name or role
        self.log = log_dir / f"bench_messaging_{self.name}.log"
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_messaging", role, json.dumps(args)],
            cwd=BASE_DIR, env=env or _child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True,
        )

    def line(self) -> str:
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(timeout=10)
            self._log.flush()
            tail = self.log.read_text()[-3000:]
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) without answering:\n{tail}")
        return text.strip()

    def json(self) -> dict:
        return json.loads(self.line())

    def send(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _run_together(children: list[Child]) -> tuple[float, list[dict]]:
    """Wait until every child is ready, start them at once, and collect their answers; (wall seconds, answers)."""
    for child in children:
        if child.line() != "ready":
            raise RuntimeError(f"{child.name} did not get ready")
    start = time.perf_counter()
    for child in children:
        child.send("go")
    answers = [child.json() for child in children]
    return time.perf_counter() - start, answers


def _load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} / {five:.2f}"


def _maxrss_mib() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child
    of a big parent would report the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- The fake gateway: an asyncio HTTP/1.1 keep-alive responder in its own process ----------------------


def _upstream_main(args: dict) -> None:
    import asyncio

    from tests.messaging.fakes import take_request

    record = bool(args.get("record"))
    state = {"requests": 0, "messages": 0, "segments": 0, "connections": 0}
    arrivals: list[tuple[float, int, int]] = []  # (time, messages, segments) per request, when recording
    next_id = [0]

    def respond(payload: bytes, status: bytes = b"200 OK") -> bytes:
        return (b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (status, len(payload), payload))

    def answer(head: bytes, body: bytes) -> bytes:
        if head.startswith(b"GET /_stats"):
            return respond(json.dumps({**state, "arrivals": arrivals}).encode())
        if head.startswith(b"POST /_reset"):
            state.update(requests=0, messages=0, segments=0)
            arrivals.clear()
            return respond(b"{}")
        state["requests"] += 1
        items = None
        if b'"messages"' in body:  # batch mode: {"messages": [{...}, ...]}
            items = json.loads(body)["messages"]
            first, n = next_id[0] + 1, len(items)
            next_id[0] += n
            payload = b'{"messages":[' + b",".join(b'{"id":"m-%d"}' % k for k in range(first, first + n)) + b"]}"
        else:
            n = 1
            next_id[0] += 1
            payload = b'{"id":"m-%d"}' % next_id[0]
        state["messages"] += n
        if record:
            items = items if items is not None else [json.loads(body)]
            segments = sum(_segments(m.get("body", "")) for m in items)
            state["segments"] += segments
            arrivals.append((time.time(), n, segments))
        return respond(payload)

    class Upstream(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, bytearray()
            state["connections"] += 1
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data):
            self.buf += data
            while (request := take_request(self.buf)) is not None:
                self.transport.write(answer(*request))

    async def serve():
        server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", 0, backlog=1024)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until the parent lets go

    asyncio.run(serve())


class FastUpstream:
    def __init__(self, log_dir: Path, *, record: bool = False, name: str = "upstream"):
        self.child = Child("upstream", {"record": record}, log_dir=log_dir, name=name)
        self.port = self.child.json()["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_reset", data=b"", method="POST"), timeout=10).read()

    def stop(self) -> None:
        self.child.stop()


# --- Dispatch worker: what the Celery task does, minus the broker ----------------------------------------


def _worker_main(args: dict) -> None:
    import django

    django.setup()
    from django.db import connection

    from smsportal.messaging import dispatch

    from smsportal.messaging.models import GatewayConnection
    from smsportal.messaging.selectors import webhook_urls

    connection.ensure_connection()
    webhook_urls(GatewayConnection(pk=1, webhook_secret="warm"))  # the URL resolver loads once per process
    rss_at_start = _maxrss_mib()
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.perf_counter() + args["time_box"] if args.get("time_box") else None
    profile = None
    if args.get("profile"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    counts, batches = Counter(), 0
    start = time.perf_counter()
    while True:
        done = dispatch.dispatch_batch()
        if not done.get("claimed"):
            break
        batches += 1
        counts.update(done)
        if deadline and time.perf_counter() > deadline:
            break
    seconds = time.perf_counter() - start
    if profile:
        profile.disable()
        profile.dump_stats(args["profile"])
    print(json.dumps({"seconds": seconds, "batches": batches, "counts": counts, "maxrss_mib": _maxrss_mib(),
                      "rss_at_start_mib": rss_at_start}), flush=True)


# --- Bare HTTP client loop: the gateways' transport POSTing the same bodies, no database ------------------


def _bare_main(args: dict) -> None:
    """The gateways' own HTTP client (gateways.transport: http.client keep-alive, one connection per thread)
    looping over the same bodies with nothing else — no database, no templating, no results: what sending
    costs when it is only HTTP. The ratio against it is the engine's own overhead."""
    import threading

    from smsportal.messaging.gateways.transport import Transport

    batch, concurrency, url = args["batch_size"], args["concurrency"], args["url"]
    status_url = args["status_url"]

    def one(i: int) -> dict:
        body = (LONG_BODY if i % 4 == 0 and args.get("long") else SHORT_BODY) + str(i)
        return {"to": f"+614{10_000_000 + i}", "from": "", "body": body, "reference": f"bare-{i}",
                "status_url": status_url}

    if batch > 1:
        bodies = [{"messages": [{k: v for k, v in one(j).items() if k != "status_url"}
                                for j in range(i, i + batch)], "status_url": status_url}
                  for i in range(0, 2000 * batch, batch)]
    else:
        bodies = [one(i) for i in range(2000)]
    transport = Transport()
    print("ready", flush=True)
    sys.stdin.readline()
    sent = [0] * concurrency
    deadline = time.perf_counter() + args["seconds"]

    def loop(k: int) -> None:
        i, n = k, 0
        while time.perf_counter() < deadline:
            response = transport.request("POST", url, json=bodies[i % len(bodies)], timeout=(3.05, 15))
            if response.status_code != 200:
                raise RuntimeError(f"bare loop got HTTP {response.status_code}")
            response.json()
            n += batch
            i += concurrency
        sent[k] = n

    start = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    print(json.dumps({"messages": sum(sent), "seconds": seconds, "maxrss_mib": _maxrss_mib()}), flush=True)


# --- Load generator: asyncio raw sockets, keep-alive, one latency per request ----------------------------


def _loadgen_main(args: dict) -> None:
    import asyncio

    host, port, path = "127.0.0.1", args["port"], args["path"]
    requests_ = []
    senders = args.get("senders", 10_000)
    for i in range(args["start"], args["start"] + args["count"]):
        if args.get("kind") == "inbound":  # the http gateway's default inbound fields
            body = json.dumps({"id": f"{args['prefix']}{i}", "from": f"+614{i % senders:08d}", "to": "+61400000001",
                               "body": f"Is my order {i} on its way?"}).encode()
        else:
            undelivered = i % 10 == 0
            body = json.dumps({"id": f"{args['prefix']}{i}", "status": "undelivered" if undelivered else "delivered",
                               "code": "UNDELIV" if undelivered else "DELIVRD"}).encode()
        requests_.append(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), host.encode(), port, len(body), body)
        )
    latencies: list[float] = []
    codes: Counter = Counter()
    reconnects = [0]

    async def connect():
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    async def client(work):
        reader, writer = await connect()
        for request in work:
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            at = lower.find(b"content-length:")
            length = int(lower[at + 15: lower.find(b"\r\n", at)]) if at >= 0 else 0
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            codes[int(head[9:12])] += 1
            if b"connection: close" in lower:  # gunicorn's sync workers close after each request
                writer.close()
                reader, writer = await connect()
                reconnects[0] += 1
        writer.close()

    async def run():
        work = iter(requests_)  # shared: each connection takes the next request when it is free
        await asyncio.gather(*(client(work) for _ in range(args["concurrency"])))

    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    asyncio.run(run())
    seconds = time.perf_counter() - start
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(json.dumps({"count": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds,
                      "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000,
                      "codes": codes, "reconnects": reconnects[0]}), flush=True)


def _loadgen(log_dir: Path, *, port: int, path: str, prefix: str, start: int, count: int,
             concurrency: int = 16, name: str = "loadgen", kind: str = "dlr") -> dict:
    child = Child("loadgen", {"port": port, "path": path, "prefix": prefix, "start": start, "count": count,
                              "concurrency": concurrency, "kind": kind}, log_dir=log_dir, name=name)
    try:
        return _run_together([child])[1][0]
    finally:
        child.stop()


# === Data, set-based ======================================================================================


def _bench_account(label: str):
    from smsportal.accounts import services as accounts
    from smsportal.accounts.models import Account

    stamp = f"{label}{int(time.time() * 1000) % 10_000_000}"
    account = Account.objects.create(name=f"Bench {stamp}", api_username=f"bench-{stamp}",
                                     email=f"{stamp}@example.test", default_region="AU")
    accounts.credit_top_up(account=account, amount="1000000")
    return account


def _connection(account, *, name: str, url: str, batch_size: int = 1, concurrency: int = 16, cap=None,
                enabled: bool = True):
    from smsportal.messaging.gateways.http import HttpGateway
    from smsportal.messaging.models import GatewayConnection

    config = {"url": url, "batch_size": batch_size, "concurrency": concurrency}
    if batch_size > 1:
        config.update(body_template=json.dumps(BATCH_TEMPLATE), response_id_path="messages.*.id")
    problems = HttpGateway.validate(config=config, credentials={})
    if problems:
        raise RuntimeError(f"bad http gateway config: {problems}")
    return GatewayConnection.objects.create(account=account, name=name, kind="http", config=config,
                                            cap_segments_per_second=cap, enabled=enabled)


def _insert_messages(*, account, tag: str, count: int, status: str = "queued", reserve: bool = True,
                     gateway_id=None, ref_prefix: str = "", long_every: int = 0, spread: bool = True) -> int:
    """`count` messages in one INSERT … SELECT generate_series; queued ones due now under one reservation.

    With `spread`, next_attempt_at steps by 1 ms every 1,000 messages (all in the past), as messages_send leaves
    them (one timestamp per accepted call of ≤ 1,000); without, every message has the same next_attempt_at."""
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from smsportal.accounts import services as accounts
    from smsportal.messaging.models import Message

    now = timezone.now()
    reservation_id = None
    if reserve:
        long_count = count // long_every if long_every else 0
        total = Decimal(PRICE) * (count + long_count)
        reservation_id = accounts.credit_reserve(account_id=account.pk, amount=total, reference=f"bench:{tag}").pk
    long_case = "%(long_every)s > 0 AND mod(i, GREATEST(%(long_every)s, 1)) = 0"
    queued = status == "queued"
    sql = f"""
        INSERT INTO {Message._meta.db_table} (
            account_id, contact_id, campaign_id, variant_key, "to", country, sender, body, encoding, segments, price,
            reservation_id, status, blocked_reason, error_code, error_text, gateway_id, gateway_message_id,
            idempotency_key, attempts, next_attempt_at, custom_string, source, receipt_read, schedule_at,
            created_at, queued_at, submitted_at, final_at, updated_at)
        SELECT %(account)s, NULL::bigint, NULL::bigint, '', '+614' || (10000000 + i)::text, 'AU', '',
               CASE WHEN {long_case} THEN %(long_body)s ELSE %(short_body)s END || i::text, 'GSM-7',
               CASE WHEN {long_case} THEN 2 ELSE 1 END,
               %(price)s::numeric * CASE WHEN {long_case} THEN 2 ELSE 1 END,
               %(reservation)s::bigint, %(status)s, '', '', '', %(gateway)s::bigint,
               CASE WHEN %(ref_prefix)s = '' THEN '' ELSE %(ref_prefix)s || i::text END,
               %(tag)s || '-' || i::text, %(attempts)s,
               %(due)s::timestamptz - CASE WHEN %(spread)s THEN interval '2 seconds' - (i / 1000) * interval '1 ms'
                                           ELSE interval '0' END, '', 'campaign', false, NULL::timestamptz,
               %(now)s, %(now)s, %(submitted)s::timestamptz, NULL::timestamptz, %(now)s
        FROM generate_series(1, %(count)s) AS i
    """
    params = {"account": account.pk, "long_every": long_every, "long_body": LONG_BODY, "short_body": SHORT_BODY,
              "price": PRICE, "reservation": reservation_id, "status": status, "gateway": gateway_id,
              "ref_prefix": ref_prefix, "tag": tag, "spread": spread, "attempts": 0 if queued else 1, "due": now if queued else None,
              "now": now, "submitted": None if queued else now, "count": count}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = cursor.rowcount
        cursor.execute(f"ANALYZE {Message._meta.db_table}")
    return inserted


def _queue_not_empty() -> int:
    """Messages some worker could claim. The dispatch workers claim whatever is due, so a database that holds
    anybody else's queue (DATABASE_URL pointing at a real one) is no place for these benchmarks."""
    from smsportal.messaging import statuses
    from smsportal.messaging.models import Message

    return Message.objects.filter(status__in=[statuses.QUEUED, statuses.SENDING, statuses.SCHEDULED]).count()


def _drop_unsent(account) -> int:
    """Delete what a time-boxed run left queued, so the next benchmark's workers do not pick it up."""
    from django.db import connection

    from smsportal.messaging.models import Message

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Message._meta.db_table} WHERE account_id = %s AND status IN "
                       "('queued', 'sending')", [account.pk])
        return cursor.rowcount


def _enable_only(account, connection) -> None:
    from smsportal.messaging.models import GatewayConnection

    GatewayConnection.objects.filter(account=account).update(enabled=False)
    GatewayConnection.objects.filter(pk=connection.pk).update(enabled=True)


def _status_counts(tag: str) -> dict:
    from smsportal.messaging.models import Message

    rows = Message.objects.filter(idempotency_key__startswith=f"{tag}-").values_list("status").order_by()
    from django.db.models import Count

    return dict(rows.annotate(n=Count("id")).values_list("status", "n"))


# === dispatch =============================================================================================


def _effective_concurrency(batch_size: int, concurrency: int) -> int:
    """What HttpGateway.send_batch really runs: threads ≤ requests in one chunk of max_batch (200) messages."""
    return max(1, min(concurrency, -(-200 // batch_size)))


def _claim_with_identical_due(account) -> tuple[float, str]:
    """One claim() with every queued message due at the same instant (what a set-based fan-out leaves), rolled
    back: its seconds and the plan's telling lines."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from smsportal.messaging import dispatch, statuses
    from smsportal.messaging.models import Message

    with transaction.atomic():
        start = time.perf_counter()
        dispatch.claim(limit=settings.SMS_DISPATCH_BATCH)
        seconds = time.perf_counter() - start
        transaction.set_rollback(True)
    plan = (Message.objects.filter(status=statuses.QUEUED, next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at", "id").values_list("id", flat=True)[:settings.SMS_DISPATCH_BATCH]
            .explain(analyze=True))
    telling = [line.strip().lstrip("-> ").split("  (")[0] for line in plan.splitlines()
               if any(word in line for word in ("Scan", "Sort Method", "Sort Key"))]
    return seconds, "; ".join(telling)


def _spread_due(account) -> None:
    """Give the account's queued messages next_attempt_at a step of 1 ms per 1,000, as messages_send would."""
    from django.db import connection

    from smsportal.messaging.models import Message

    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id) FROM {table} WHERE account_id = %s AND status = 'queued'", [account.pk])
        first = cursor.fetchone()[0]
        cursor.execute(
            f"UPDATE {table} SET next_attempt_at = next_attempt_at - interval '2 seconds'"
            f" + ((id - %s) / 1000) * interval '1 ms' WHERE account_id = %s AND status = 'queued'",
            [first, account.pk],
        )
        cursor.execute(f"VACUUM ANALYZE {table}")


def _dispatch_run(ctx: Context, *, account, upstream: FastUpstream, connection, tag: str, count: int,
                  profile: str | None = None, time_box: float | None = None) -> dict:
    _enable_only(account, connection)
    upstream.reset()
    workers = [Child("worker", {"profile": profile if k == 0 else None, "time_box": time_box},
                     log_dir=ctx.out_dir, name=f"worker{k}") for k in range(WORKERS)]
    try:
        wall, answers = _run_together(workers)
    finally:
        for worker in workers:
            worker.stop()
    stats = upstream.stats()
    counts = Counter()
    for answer in answers:
        counts.update(answer["counts"])
    return {"wall": wall, "rate": counts.get("accepted", 0) / wall, "answers": answers, "counts": dict(counts),
            "upstream_messages": stats["messages"], "upstream_requests": stats["requests"],
            "statuses": _status_counts(tag)}


def _bare_run(ctx: Context, *, upstream: FastUpstream, connection, batch_size: int, concurrency: int,
              seconds: float) -> dict:
    from smsportal.messaging.selectors import webhook_urls

    args = {"url": f"{upstream.url}/sms", "batch_size": batch_size,
            "concurrency": _effective_concurrency(batch_size, concurrency), "seconds": seconds,
            "status_url": webhook_urls(connection)["status_webhook_url"]}
    clients = [Child("bare", args, log_dir=ctx.out_dir, name=f"bare{k}") for k in range(WORKERS)]
    try:
        wall, answers = _run_together(clients)
    finally:
        for client in clients:
            client.stop()
    messages = sum(a["messages"] for a in answers)
    return {"rate": messages / max(a["seconds"] for a in answers), "messages": messages, "answers": answers}


@benchmark
def dispatch(ctx: Context) -> Result:
    result = Result()
    load_at_start = _load_note()
    if not ctx.postgres:
        result.add("skipped", "needs PostgreSQL")
        return result
    if waiting := _queue_not_empty():
        result.add("skipped", f"{waiting:,} messages already queued in this database; its workers would send them")
        return result
    count = 10_000 if ctx.quick else 1_000_000
    explore = 3_000 if ctx.quick else 10_000
    slice_s = 3.0 if ctx.quick else 15.0
    # The full run stops sending after this many seconds (0: send all 1,000,000) so `make bench` stays short.
    time_box = None if ctx.quick else float(os.environ.get("SMSPORTAL_BENCH_DISPATCH_TIMEBOX", "150")) or None
    profile = str(ctx.out_dir / "dispatch_worker0.prof") if os.environ.get("SMSPORTAL_BENCH_PROFILE") else None
    account = _bench_account("d")
    upstream = FastUpstream(ctx.out_dir)
    try:
        # The fake's own ceiling: a raw asyncio client (no requests) at concurrency 16, one message per request.
        ceiling = _loadgen(ctx.out_dir, port=upstream.port, path="/sms", prefix="c-", start=0,
                           count=5_000 if ctx.quick else 40_000, name="ceiling")
        explored = {}
        for batch_size, concurrency in [(10, 16)] if ctx.quick else [(1, 16), (10, 16), (100, 16)]:
            tag = f"x{batch_size}"
            connection = _connection(account, name=f"fake b{batch_size} c{concurrency}", url=f"{upstream.url}/sms",
                                     batch_size=batch_size, concurrency=concurrency)
            _insert_messages(account=account, tag=tag, count=explore)
            run = _dispatch_run(ctx, account=account, upstream=upstream, connection=connection, tag=tag,
                                count=explore)
            bare = _bare_run(ctx, upstream=upstream, connection=connection, batch_size=batch_size,
                             concurrency=concurrency, seconds=min(slice_s, 5.0))
            explored[(batch_size, concurrency)] = (run, bare)
            print(f"  dispatch b={batch_size} c={concurrency}: {run['rate']:,.0f} msg/s, bare {bare['rate']:,.0f} "
                  f"msg/s, {run['counts']}", flush=True)

        batch_size, concurrency = DEFAULT_CONFIG
        connection = _connection(account, name="fake main", url=f"{upstream.url}/sms", batch_size=batch_size,
                                 concurrency=concurrency)
        _enable_only(account, connection)
        insert_s, _ = timed(_insert_messages, account=account, tag="main", count=count, spread=False)
        claim_s, claim_plan = _claim_with_identical_due(account)
        spread_s, _ = timed(_spread_due, account)
        print(f"  dispatch: {count:,} queued in {insert_s:.1f} s; claim with identical due {claim_s * 1000:.0f} ms; "
              f"spread + VACUUM ANALYZE {spread_s:.1f} s", flush=True)
        main = _dispatch_run(ctx, account=account, upstream=upstream, connection=connection, tag="main",
                             count=count, profile=profile, time_box=time_box)
        bare = _bare_run(ctx, upstream=upstream, connection=connection, batch_size=batch_size,
                         concurrency=concurrency, seconds=slice_s)
    finally:
        upstream.stop()
        drop_s, dropped = timed(_drop_unsent, account)

    accepted = main["counts"].get("accepted", 0)
    ratio = main["rate"] / bare["rate"] if bare["rate"] else 0.0
    rss = [a["maxrss_mib"] for a in main["answers"]]
    result.add("cores", os.cpu_count(), key="cpu_count")
    result.add("load average 1 / 5 min", f"{load_at_start} → {_load_note()}",
               note="at start → end of this benchmark; other work on the machine skews every figure")
    result.add("messages queued (INSERT … SELECT)", count, note=f"inserted + ANALYZE in {insert_s:.1f} s",
               key="messages")
    result.add("claim() with all due at one instant", claim_s * 1000, "ms",
               f"one batch of 500, rolled back: {claim_plan}", key="claim_identical_due_ms")
    result.add("  then next_attempt_at spread", "1 ms per 1,000",
               note=f"as messages_send leaves them; UPDATE + VACUUM ANALYZE {spread_s:.1f} s")
    result.add("gateway config (main)", f"batch_size {batch_size}, concurrency {concurrency}",
               note="the http gateway's defaults; send_batch gets chunks of 200", key="config")
    result.add("dispatch workers", WORKERS,
               note="fresh processes looping dispatch_batch() until nothing is claimed"
               + (f" or {time_box:.0f} s passed" if time_box else ""))
    result.add("messages sent", accepted,
               note=f"of {count:,}" + (f" (time box {time_box:.0f} s; projected for all: "
                                      f"{count / main['rate']:,.0f} s)" if accepted < count else ""),
               key="messages_sent")
    result.add("wall time", main["wall"], "s", key="seconds")
    result.add("dispatch throughput", main["rate"], "messages/s", "target ≥ 5,000", key="messages_per_second")
    result.add("bare transport loop, same fake", bare["rate"], "messages/s",
               f"{WORKERS} processes × {_effective_concurrency(batch_size, concurrency)} threads, {slice_s:.0f} s slice",
               key="bare_messages_per_second")
    result.add("dispatch ÷ bare loop", ratio * 100, "%", "target ≥ 50 %", key="ratio_percent")
    result.target("dispatch throughput", main["rate"], "messages/s", at_least=5_000,
                  reference=f"bare HTTP loop {bare['rate']:,.0f}/s")
    result.target("dispatch ÷ bare HTTP loop", ratio * 100, "%", at_least=50,
                  reference=f"{main['rate']:,.0f} ÷ {bare['rate']:,.0f} messages/s")
    result.target("worker peak RSS", max(rss), "MiB", at_most=150)
    result.add("worker peak RSS", max(rss), "MiB", "per process: " + ", ".join(f"{r:.0f}" for r in rss)
               + "; before sending: " + ", ".join(f"{a['rss_at_start_mib']:.0f}" for a in main["answers"])
               + " — target ≤ 150", key="worker_rss_mib")
    result.add("bare loop peak RSS", max(a["maxrss_mib"] for a in bare["answers"]), "MiB")
    result.add("outcome", ", ".join(f"{k} {v:,}" for k, v in sorted(main["statuses"].items())),
               note=f"fake received {main['upstream_messages']:,} messages in {main['upstream_requests']:,} requests"
               + (f"; the {dropped:,} unsent deleted afterwards ({drop_s:.1f} s)" if dropped else ""))
    if main["upstream_messages"] != accepted or main["statuses"].get("sent", 0) != accepted:
        result.add("WARNING", "sent, accepted and received differ", note=str(main["counts"]))
    result.add("fake gateway ceiling", ceiling["rps"], "requests/s",
               f"raw asyncio client, 16 connections; p99 {ceiling['p99_ms']:.1f} ms", key="fake_ceiling_rps")
    for (b, c), (run, bare_run) in explored.items():
        eff = _effective_concurrency(b, c)
        result.add(f"  batch_size {b}, concurrency {c}", run["rate"], "messages/s",
                   f"{explore:,} msgs; bare {bare_run['rate']:,.0f}/s ({eff} threads) → "
                   f"{run['rate'] / bare_run['rate'] * 100:.0f} %; RSS "
                   + "/".join(f"{a['maxrss_mib']:.0f}" for a in run["answers"]) + " MiB")
    result.figures["explored"] = {
        f"b{b}_c{c}": {"messages_per_second": run["rate"], "bare_messages_per_second": bare_run["rate"],
                       "rss_mib": [a["maxrss_mib"] for a in run["answers"]]}
        for (b, c), (run, bare_run) in explored.items()
    }
    if profile:
        import pstats

        print(f"\ncProfile of dispatch worker 0 (main run), top by cumulative then internal time ({profile}):")
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    return result


# === dlr_ingest ===========================================================================================


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, ctx: Context, *, worker_class: str, workers: int, threads: int, conn_max_age: int, name: str,
                 env: dict | None = None):
        self.port = _free_port()
        self.log = open(ctx.out_dir / f"bench_messaging_{name}.log", "w")
        command = [sys.executable, "-m", "gunicorn", "smsportal.wsgi", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(workers), "--worker-class", worker_class, "--log-level", "warning",
                   "--backlog", "2048"]
        if worker_class == "gthread":
            command += ["--threads", str(threads)]
        self.proc = subprocess.Popen(command, cwd=BASE_DIR, env=_child_env(CONN_MAX_AGE=conn_max_age, **(env or {})),
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5).read()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start; see {self.log.name}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@benchmark
def dlr_ingest(ctx: Context) -> Result:
    result = Result()
    load_at_start = _load_note()
    if not ctx.postgres:
        result.add("skipped", "needs PostgreSQL")
        return result
    from smsportal.messaging import reports
    from smsportal.messaging.models import DeliveryReport

    count = 3_000 if ctx.quick else 50_000
    explore = 1_000 if ctx.quick else 2_000
    warm = 500
    configs = [  # (label, worker class, workers, threads, CONN_MAX_AGE)
        ("gthread -w 2 --threads 4", "gthread", 2, 4, 60),
        ("gthread -w 2 --threads 8 (Procfile)", "gthread", 2, 8, 60),
        ("sync -w 2", "sync", 2, 1, 60),
        ("gthread -w 2 --threads 4, CONN_MAX_AGE=0", "gthread", 2, 4, 0),
    ][1:2 if ctx.quick else None]  # a QUICK run tries the Procfile's config only
    account = _bench_account("r")
    connection = _connection(account, name="DLR fake", url="http://127.0.0.1:9/sms")
    total = count + (len(configs) + 1) * (explore + warm)
    _insert_messages(account=account, tag="dlr", count=total, status="sent", reserve=False,
                     gateway_id=connection.pk, ref_prefix="d-")
    path = f"/hooks/gateways/{connection.pk}/status?secret={connection.webhook_secret}"

    upstream = FastUpstream(ctx.out_dir, name="upstream_dlr")
    try:  # the load generator's own ceiling against a trivial endpoint
        ceiling = _loadgen(ctx.out_dir, port=upstream.port, path=path, prefix="x-", start=0, count=count,
                           name="ceiling_dlr")
    finally:
        upstream.stop()

    offset = 1
    explored = {}

    def run(config, n, name):
        nonlocal offset
        label, worker_class, workers, threads, conn_max_age = config
        server = Gunicorn(ctx, worker_class=worker_class, workers=workers, threads=threads,
                          conn_max_age=conn_max_age, name=name)
        try:
            _loadgen(ctx.out_dir, port=server.port, path=path, prefix="d-", start=offset, count=warm,
                     name=f"{name}_warm")
            offset += warm
            figures = _loadgen(ctx.out_dir, port=server.port, path=path, prefix="d-", start=offset, count=n,
                               name=f"{name}_load")
            offset += n
        finally:
            server.stop()
        print(f"  dlr_ingest {label}: {figures['rps']:,.0f} req/s, p99 {figures['p99_ms']:.1f} ms, "
              f"codes {figures['codes']}", flush=True)
        return figures

    for k, config in enumerate(configs):
        explored[config[0]] = run(config, explore, f"gunicorn{k}")
    best = max(configs, key=lambda c: explored[c[0]]["rps"])
    main = run(best, count, "gunicorn_main")

    stored = DeliveryReport.objects.filter(applied_at__isnull=True).count()
    applied, counts, batches = 0, Counter(), 0
    start = time.perf_counter()
    while True:
        done = reports.reports_apply(limit=2000)
        if not done or sum(done.values()) == done.get("waiting", 0):
            break
        batches += 1
        counts.update(done)
    apply_s = time.perf_counter() - start
    applied = counts.get("applied", 0)

    result.add("cores", os.cpu_count(), key="cpu_count")
    result.add("load average 1 / 5 min", f"{load_at_start} → {_load_note()}",
               note="at start → end of this benchmark; other work on the machine skews every figure")
    result.add("server", best[0], note=f"CONN_MAX_AGE={best[4]}; best of the configs below", key="server")
    result.add("webhooks posted", main["count"], note="JSON {id, status, code}; 90 % delivered, 10 % undelivered",
               key="requests")
    result.add("acknowledged", main["rps"], "requests/s", "target ≥ 2,000; load generator: 16 keep-alive connections",
               key="requests_per_second")
    result.add("latency p50 / p90", f"{main['p50_ms']:.1f} / {main['p90_ms']:.1f}", "ms")
    result.add("latency p99", main["p99_ms"], "ms", "target ≤ 25 ms", key="p99_ms")
    result.add("latency max", main["max_ms"], "ms")
    result.add("HTTP codes", ", ".join(f"{k}: {v:,}" for k, v in sorted(main["codes"].items())))
    result.add("load generator ceiling", ceiling["rps"], "requests/s",
               f"same requests against the asyncio fake; p99 {ceiling['p99_ms']:.1f} ms", key="loadgen_ceiling_rps")
    result.add("reports pending before apply", stored, note="all webhooks of this benchmark, warm-ups included")
    result.add("reports_apply(limit=2000) until none pending", apply_s, "s", f"{batches} batches")
    result.add("statuses applied", applied / apply_s if apply_s else 0.0, "statuses/s", "target ≥ 20,000",
               key="statuses_per_second")
    result.add("apply outcomes", ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    result.target("DLR webhooks acknowledged", main["rps"], "requests/s", at_least=2_000,
                  reference=f"{main['rps'] / ceiling['rps'] * 100:.0f} % of the load generator's "
                            f"{ceiling['rps']:,.0f}/s ceiling" if ceiling["rps"] else "")
    result.target("DLR acknowledgement p99", main["p99_ms"], "ms", at_most=25)
    result.target("DLR statuses applied", applied / apply_s if apply_s else 0.0, "statuses/s", at_least=20_000)
    for label, figures in explored.items():
        result.add(f"  {label}", figures["rps"], "requests/s",
                   f"{figures['count']:,} webhooks; p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms"
                   + (f", {figures['reconnects']:,} reconnects" if figures["reconnects"] else ""))
    result.figures["explored"] = {label: {k: f[k] for k in ("rps", "p50_ms", "p99_ms")}
                                  for label, f in explored.items()}
    return result


# === throughput_cap =======================================================================================


def _windows(arrivals: list[tuple[float, int, int]], *, window: float, cap: int, step: float = 0.05):
    """Segments in every window [s, s + window) from the first arrival to the last full window: (min, max) ratio."""
    times = [a[0] for a in arrivals]
    prefix = [0]
    for _, _, segments in arrivals:
        prefix.append(prefix[-1] + segments)
    low, high, s = float("inf"), 0.0, times[0]
    while s + window <= times[-1]:
        got = prefix[bisect.bisect_left(times, s + window)] - prefix[bisect.bisect_left(times, s)]
        ratio = got / (cap * window)
        low, high = min(low, ratio), max(high, ratio)
        s += step
    return low, high


@benchmark
def throughput_cap(ctx: Context) -> Result:
    result = Result()
    load_at_start = _load_note()
    if not ctx.postgres:
        result.add("skipped", "needs PostgreSQL")
        return result
    if waiting := _queue_not_empty():
        result.add("skipped", f"{waiting:,} messages already queued in this database; its workers would send them")
        return result
    import redis

    from smsportal.messaging.throttle import KEY_PREFIX

    cap = 100
    duration, window = (12, 10) if ctx.quick else (75, 60)
    long_every = 4  # every 4th message has 2 segments: 1.25 segments a message
    count = int(cap * duration / 1.25)
    account = _bench_account("c")
    upstream = FastUpstream(ctx.out_dir, record=True, name="upstream_cap")
    try:
        connection = _connection(account, name="Capped fake", url=f"{upstream.url}/sms", cap=cap)
        redis.Redis.from_url(REDIS_BENCH_URL).delete(f"{KEY_PREFIX}{connection.pk}")
        _insert_messages(account=account, tag="cap", count=count, long_every=long_every)
        upstream.reset()
        workers = [Child("worker", {}, log_dir=ctx.out_dir, name=f"cap_worker{k}") for k in range(WORKERS)]
        try:
            wall, answers = _run_together(workers)
        finally:
            for worker in workers:
                worker.stop()
        stats = upstream.stats()
    finally:
        upstream.stop()
    arrivals = sorted(stats["arrivals"])
    segments = sum(a[2] for a in arrivals)
    span = arrivals[-1][0] - arrivals[0][0]
    # Bookings start every n/cap seconds from the first: the last booking's segments fall outside the span.
    achieved = (segments - arrivals[-1][2]) / span
    low, high = _windows(arrivals, window=window, cap=cap)
    deviation = max(abs(low - 1), abs(high - 1)) * 100
    shares = [a["counts"].get("accepted", 0) for a in answers]
    result.add("cores", os.cpu_count(), key="cpu_count")
    result.add("load average 1 / 5 min", f"{load_at_start} → {_load_note()}",
               note="at start → end of this benchmark; other work on the machine skews every figure")
    result.add("cap", cap, "segments/s", "Redis booker (REDIS_URL db 14), http gateway batch_size 1, concurrency 16")
    result.add("messages", count, note=f"every {long_every}th has 2 segments; {segments:,} segments arrived",
               key="messages")
    result.add("workers", WORKERS, note="accepted per worker: " + " / ".join(f"{s:,}" for s in shares))
    result.add("span first → last arrival", span, "s", f"wall {wall:.1f} s", key="span_seconds")
    result.add("achieved rate (whole run)", f"{achieved:.2f}", "segments/s",
               f"{(achieved / cap - 1) * 100:+.2f} % of the cap", key="segments_per_second")
    result.add(f"sliding {window} s windows: min / max", f"{low * 100:.2f} % / {high * 100:.2f} %",
               note="of cap × window, window start every 50 ms")
    result.add(f"max deviation over any {window} s window", deviation, "%", "target within ±2 %",
               key="max_window_deviation_percent")
    result.target(f"throughput cap: worst {window:.0f} s window's deviation", deviation, "%", at_most=2,
                  reference=f"achieved {achieved:.2f} of {cap} segments/s over the run")
    one_low, one_high = _windows(arrivals, window=1.0, cap=cap)
    result.add("1 s windows: min / max (info)", f"{one_low * 100:.0f} % / {one_high * 100:.0f} %",
               note="a booking is a tenth of a second's worth, so short windows move by a booking")
    if sum(shares) != count:
        result.add("WARNING", f"{sum(shares):,} of {count:,} accepted", note=str(answers))
    return result


# === Entry point of the child processes ===================================================================

ROLES = {"upstream": _upstream_main, "worker": _worker_main, "bare": _bare_main, "loadgen": _loadgen_main}

if __name__ == "__main__":
    ROLES[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
