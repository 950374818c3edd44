"""contacts_import: a 1,000,000-row CSV through the real import path; contacts_table: the contacts pages' queries.

Target (PRODUCT.md §7): import 1,000,000 rows in ≤ 40 s on 2 cores; pages answer from indexes.
"""

from __future__ import annotations

import io
import os
import random
import re
import time
from pathlib import Path

from .harness import Context, Result, benchmark, median_seconds, timed

FULL_ROWS = 1_000_000
QUICK_ROWS = 20_000
FIRST = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver", "Mia", "Thomas", "Ava",
         "James", "Grace", "Lucas", "Chloé", "Henry", "Zoë", "Leo", "Matilda", "José", "Ruby", "Ethan", "Sophie",
         "Liam", "Harper", "Mason", "Ella", "Hugo", "Evie", "Max", "Maria", "Marcus", "Priya", "Wei", "Aroha"]
LAST = ["Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin", "Anderson",
        "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson", "Kelly", "King", "Müller",
        "García", "O'Brien", "Davies", "Evans", "Patel", "Chen", "Marsh", "Martínez", "Singh"]
COMPANIES = ["Acme Pty Ltd", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", ""]
CITIES = ["Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "London", "Manchester", "New York", "Auckland"]
INVALID = ["12345", "not a number", "+61 4123", "0412 345 67", "", "6.14123E+10", "+999 1234567", "n/a"]
US_AREAS = ["212", "646", "718", "415", "312", "617"]


def _perm(k: int, size: int) -> int:
    """A bijection of range(size) (size a multiple of 10**n): numbers look random yet never collide."""
    return (k * 7_654_321 + 12_345) % size


def generate_csv(path: Path, rows: int, seed: int = 42) -> dict:
    """Realistic mixed national/international numbers with names; ~2.5% invalid and ~2.5% duplicate rows."""
    rng = random.Random(seed)
    counters = {"au": 0, "gb": 0, "us": 0, "land": 0}
    recent: list[tuple[str, str]] = []  # (e164, how it was written)
    e164s_for_optout = []
    stats = {"rows": rows, "invalid": 0, "duplicate": 0}

    def next_k(kind):
        counters[kind] += 1
        return counters[kind]

    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("Mobile,First name,Last name,Email,Company,City\r\n")
        buf = []
        for i in range(rows):
            roll = rng.random()
            if roll < 0.025:
                number = rng.choice(INVALID)
                stats["invalid"] += 1
            elif roll < 0.05 and recent:
                e164 = rng.choice(recent)[0]
                number = ("0" + e164[3:]) if e164.startswith("+61") and rng.random() < 0.5 else e164
                stats["duplicate"] += 1
            else:
                kind = rng.random()
                if kind < 0.75:  # Australian mobile, 55% written nationally, 20% as +61
                    n = 400_000_000 + _perm(next_k("au"), 40_000_000)
                    digits = f"{n:09d}"
                    e164 = "+61" + digits
                    if kind < 0.55:
                        number = f"0{digits[:3]} {digits[3:6]} {digits[6:]}"
                    else:
                        number = f"+61 {digits[:3]} {digits[3:6]} {digits[6:]}"
                elif kind < 0.87:  # UK mobile
                    n = 7_100_000_000 + _perm(next_k("gb"), 300_000_000)
                    e164 = f"+44{n}"
                    number = f"+44 {str(n)[:4]} {str(n)[4:]}"
                elif kind < 0.97:  # US
                    m = _perm(next_k("us"), 10_000_000)
                    area = US_AREAS[m % len(US_AREAS)]
                    exchange, line = 200 + (m // 10_000) % 800, m % 10_000
                    if exchange == 555:
                        exchange = 556
                    e164 = f"+1{area}{exchange}{line:04d}"
                    number = f"+1 ({area}) {exchange}-{line:04d}"
                else:  # Australian landline, national format
                    n = 290_000_000 + _perm(next_k("land"), 10_000_000)
                    e164 = f"+61{n}"
                    number = f"(0{str(n)[0]}) {str(n)[1:5]} {str(n)[5:]}"
                if len(recent) < 5000:
                    recent.append((e164, number))
                else:
                    recent[rng.randrange(5000)] = (e164, number)
                if i % 100 == 7:
                    e164s_for_optout.append(e164)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{i}@example.com".lower() if rng.random() < 0.8 else ""
            company = rng.choice(COMPANIES)
            if "," in company:
                company = f'"{company}"'
            buf.append(f"{number},{first},{last},{email},{company},{rng.choice(CITIES)}\r\n")
            if len(buf) >= 10_000:
                out.write("".join(buf))
                buf = []
        out.write("".join(buf))
    stats["opt_outs"] = e164s_for_optout
    return stats


@benchmark
def contacts_import(ctx: Context) -> Result:
    result = Result()
    if not ctx.postgres:
        result.add("skipped", "needs PostgreSQL (set DATABASE_URL or run a server on 127.0.0.1:5432)")
        return result
    from django.db import connection

    from contacts import importing
    from contacts.models import Contact, ContactList, ImportJob, OptOut
    from smsportal.accounts.models import Account

    rows = QUICK_ROWS if ctx.quick else FULL_ROWS
    path = ctx.out_dir / f"contacts_{rows}.csv"
    seconds, stats = timed(generate_csv, path, rows)
    print(f"generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {seconds:.1f} s")

    stamp = int(time.time())
    account = Account.objects.create(
        name=f"Bench {stamp}", api_username=f"bench{stamp}", email=f"bench{stamp}@example.test", default_region="AU"
    )
    target = ContactList.objects.create(account=account, name="Imported")
    OptOut.objects.bulk_create(
        [OptOut(account=account, phone_number=n, source="keyword") for n in stats["opt_outs"]], ignore_conflicts=True
    )

    merge_seconds = []
    real_merge = importing._merge

    def timed_merge(*args, **kwargs):
        seconds, value = timed(real_merge, *args, **kwargs)
        merge_seconds.append(seconds)
        return value

    importing._merge = timed_merge
    try:
        start = time.perf_counter()
        with open(path, "rb") as fh:
            upload_s, job = timed(importing.import_upload, account=account, file=fh, file_name=path.name)
        job = importing.import_configure(job=job, mapping=job.mapping, default_country="AU", contact_list=target)
        run_s, job = timed(importing.import_run, job_id=job.pk)
        total = time.perf_counter() - start
    finally:
        importing._merge = real_merge
    if job.status != ImportJob.Status.DONE:
        raise RuntimeError(f"import {job.status}: {job.error}")
    Path(job.file_path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)  # regenerated (deterministically) on every run

    # The floor: a bare COPY of the same normalised rows into a plain table with no index, in this run.
    columns = "phone_number, country, line_type, first_name, last_name, email, organization_name, address_city, fields"
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY (SELECT {columns} FROM contacts_contact WHERE account_id = {account.pk}) TO STDOUT"
        ) as copy:
            for data in copy:
                buffer.write(data)
        cursor.execute("DROP TABLE IF EXISTS bench_bare_copy")
        cursor.execute(
            "CREATE TABLE bench_bare_copy (phone_number text, country text, line_type text, first_name text, "
            "last_name text, email text, organization_name text, address_city text, fields jsonb)"
        )
        payload = buffer.getvalue()
        start = time.perf_counter()
        with cursor.cursor.copy(f"COPY bench_bare_copy ({columns}) FROM STDIN") as copy:
            for offset in range(0, len(payload), 1 << 20):
                copy.write(payload[offset: offset + (1 << 20)])
        copy_s = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_bare_copy")

        cursor.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
            "('shared_buffers', 'max_wal_size', 'synchronous_commit', 'server_version')"
        )
        server = dict(cursor.fetchall())
    result.figures["postgres_settings"] = server
    target.refresh_from_db()
    opted_out = Contact.objects.filter(account=account, opted_out_at__isnull=False).count()
    ctx.shared["account_id"], ctx.shared["list_id"] = account.pk, target.pk
    result.add("rows in file", rows, key="rows")
    result.add("cores", os.cpu_count(), key="cpu_count")
    result.add("upload (store + sniff)", upload_s, "s", key="upload_seconds")
    result.add("run (parse, E.164, stage, upsert, list)", run_s, "s", key="run_seconds")
    result.add("  of which the set-based upsert", merge_seconds[0] if merge_seconds else 0.0, "s",
               key="merge_seconds")
    result.add("total import", total, "s", "target ≤ 40 s for 1,000,000 rows" if rows == FULL_ROWS else
               f"scaled target ≤ {40 * rows / FULL_ROWS:.1f} s", key="total_seconds")
    result.add("throughput", rows / total, "rows/s", key="rows_per_second")
    result.add("bare COPY of the normalised rows", copy_s, "s", key="bare_copy_seconds")
    result.add("import ÷ bare COPY", total / copy_s, "×", key="ratio_vs_copy")
    result.target(f"import a {rows:,}-row CSV", total, "s", at_most=40, full_scale=True,
                  reference=f"{total / copy_s:.1f}× a bare COPY of the normalised rows")
    result.add("created / updated", f"{job.created_count:,} / {job.updated_count:,}")
    result.add("duplicates in file", job.duplicate_count, note=f"generated {stats['duplicate']:,}",
               key="duplicates")
    result.add("invalid rows", job.invalid_count, note=f"generated {stats['invalid']:,}", key="invalid")
    result.add("list members (kept count)", target.contact_count, key="list_members")
    result.add("opted out (from the registry)", opted_out, key="opted_out")
    result.add("PostgreSQL", server.get("server_version", "").split()[0], note=(
        f"shared_buffers {server.get('shared_buffers')}, max_wal_size {server.get('max_wal_size')}"))
    result.figures.update(created=job.created_count, updated=job.updated_count)
    return result


@benchmark
def contacts_table(ctx: Context) -> Result:
    """The queries a contacts page and a list page run, timed (median of 5) and EXPLAINed on the imported set."""
    result = Result()
    if not ctx.postgres or "account_id" not in ctx.shared:
        result.add("skipped", "needs contacts_import on PostgreSQL first")
        return result
    from django.db import connection
    from django.db.models import Q
    from django.db.models.functions import Lower

    from contacts.models import Contact

    account_id, list_id = ctx.shared["account_id"], ctx.shared["list_id"]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE contacts_listmembership")
    base = Contact.objects.filter(account_id=account_id)
    names = base.annotate(_first=Lower("first_name"), _last=Lower("last_name"), _org=Lower("organization_name"))
    queries = {
        "contacts page (newest 50)": base.order_by("-id")[:50],
        "filtered by country": base.filter(country="GB").order_by("-id")[:50],
        "opted-out filter": base.filter(opted_out_at__isnull=False).order_by("-id")[:50],
        "list page (members, newest 50)": base.filter(memberships__contact_list_id=list_id).order_by("-id")[:50],
        "name-prefix search 'mar'": names.filter(
            Q(_first__startswith="mar") | Q(_last__startswith="mar") | Q(_org__startswith="mar")
        ).order_by("-id")[:50],
        "number-prefix search '+61412'": base.filter(
            phone_number__gte="+61412", phone_number__lt="+61413"
        ).order_by("-id")[:50],
    }
    plans = {}
    for label, qs in queries.items():
        seconds = median_seconds(lambda qs=qs: list(qs.all()))
        plan = qs.explain(analyze=True)
        seq = "Seq Scan on contacts_contact" in plan
        uses_index = "Index" in plan
        removed = sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan))
        verdict = "SEQ SCAN on contacts_contact" if seq else ("index" if uses_index else "no index")
        if removed > 10_000:
            verdict += f", but {removed:,} rows filtered out after the index"
        result.add(label, seconds * 1000, "ms", verdict)
        plans[label] = {"ms": round(seconds * 1000, 3), "uses_index": uses_index, "seq_scan": seq,
                        "rows_removed_by_filter": removed, "plan": plan}
    result.figures["queries"] = plans
    print("\nQuery plans (EXPLAIN ANALYZE):")
    for label, info in plans.items():
        print(f"-- {label}\n{info['plan']}\n")
    return result
