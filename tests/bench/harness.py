"""The benchmark harness: a registry, a PostgreSQL bench database, a printed table and var/bench/results.json.

Benchmarks report figures and ratios; they never fail the test suite (pytest collects nothing here: no file is
named test_*.py). A benchmark is a function decorated with @benchmark taking a Context and returning a Result.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parents[2]
OUT_DIR = BASE_DIR / "var" / "bench"
DEFAULT_BENCH_DB = "postgres://postgres@127.0.0.1:5432/smsportal_bench"

REGISTRY: dict[str, callable] = {}


def benchmark(func):
    REGISTRY[func.__name__] = func
    return func


@dataclass
class Row:
    metric: str
    value: object
    unit: str = ""
    note: str = ""


@dataclass
class Target:
    """One figure held against PRODUCT.md §7: the summary table's row."""

    figure: str
    value: float
    unit: str
    at_least: float | None = None
    at_most: float | None = None
    reference: str = ""  # the figure beside an in-run reference, e.g. "1.9× a bare COPY"
    full_scale: bool = False  # the target is stated for 1,000,000 rows: a QUICK run is not held to it

    @property
    def goal(self) -> str:
        bound = f"≥ {_format(self.at_least)}" if self.at_least is not None else f"≤ {_format(self.at_most)}"
        return f"{bound} {self.unit}".strip()

    def verdict(self, quick: bool) -> str:
        if quick and self.full_scale:
            return "n/a (stated at full scale)"
        if self.at_least is not None:
            met, short = self.value >= self.at_least, 1 - self.value / self.at_least if self.at_least else 0
        else:
            met, short = self.value <= self.at_most, self.value / self.at_most - 1 if self.at_most else 0
        return "pass" if met else f"short by {short * 100:.0f} %"

    def as_dict(self, quick: bool) -> dict:
        return {"figure": self.figure, "value": self.value, "unit": self.unit, "target": self.goal,
                "reference": self.reference, "verdict": self.verdict(quick)}


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def add(self, metric, value, unit="", note="", key=None):
        self.rows.append(Row(metric, value, unit, note))
        if key:
            self.figures[key] = value

    def target(self, figure, value, unit, *, at_least=None, at_most=None, reference="", full_scale=False):
        if (at_least is None) == (at_most is None):
            raise ValueError("a target is either at_least or at_most")
        self.targets.append(Target(figure, value, unit, at_least, at_most, reference, full_scale))


@dataclass
class Context:
    quick: bool
    out_dir: Path
    postgres: bool
    database_url: str
    owns_database: bool
    shared: dict = field(default_factory=dict)  # what one benchmark leaves for the next (e.g. the imported account)


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    value = func(*args, **kwargs)
    return time.perf_counter() - start, value


def median_seconds(func, runs: int = 5) -> float:
    func()  # warm
    return statistics.median(timed(func)[0] for _ in range(runs))


# --- Database ------------------------------------------------------------------------------------------


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def prepare_database() -> tuple[bool, str, bool]:
    """Point Django at PostgreSQL: BENCH_DATABASE_URL (created afresh), else DATABASE_URL if it is PostgreSQL,
    else smsportal_bench on 127.0.0.1 (created afresh).

    Returns (on postgres, url, whether the database is ours to drop). Must run before django.setup()."""
    url = os.environ.get("DATABASE_URL", "")
    owns = False
    if os.environ.get("BENCH_DATABASE_URL"):
        url, owns = os.environ["BENCH_DATABASE_URL"], True
    elif not url.startswith(("postgres://", "postgresql://")):
        url, owns = DEFAULT_BENCH_DB, True
    try:
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(_with_db(url, "postgres"), autocommit=True, connect_timeout=3) as admin:
            if owns:  # a clean slate each run, so a million contacts do not pile up run after run
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server: benchmarks that need PostgreSQL say so and the rest run
        print(f"PostgreSQL not available ({exc.__class__.__name__}: {exc}); PostgreSQL benchmarks are skipped.")
        return False, url, False
    os.environ["DATABASE_URL"] = url
    return True, url, owns


# --- Running and reporting ------------------------------------------------------------------------------


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(name: str, result: Result) -> None:
    rows = [(r.metric, _format(r.value), r.unit, r.note) for r in result.rows]
    widths = [max(len(row[i]) for row in rows + [("metric", "value", "unit", "note")]) for i in range(4)]
    line = "-+-".join("-" * w for w in widths)
    print(f"\n== {name}")
    print(" | ".join(h.ljust(w) for h, w in zip(("metric", "value", "unit", "note"), widths)))
    print(line)
    for metric, value, unit, note in rows:
        print(" | ".join((metric.ljust(widths[0]), value.rjust(widths[1]), unit.ljust(widths[2]), note)))


def print_summary(summary: list[tuple[str, Target]], quick: bool) -> None:
    headers = ("benchmark", "figure", "measured", "target", "in-run reference", "verdict")
    rows = [(name, t.figure, f"{_format(t.value)} {t.unit}".strip(), t.goal, t.reference or "—", t.verdict(quick))
            for name, t in summary]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    print(f"\n== Summary against PRODUCT.md §7 ({os.cpu_count()} cores{', QUICK scale' if quick else ''})")
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    passed = sum(t.verdict(quick) == "pass" for _, t in summary)
    held = sum(not (quick and t.full_scale) for _, t in summary)
    print(f"{passed} of {held} targets met" + (f"; {len(summary) - held} stated at full scale only" if held < len(summary) else ""))


def main(argv: list[str]) -> int:
    quick = "--quick" in argv or os.environ.get("QUICK", "") not in ("", "0")
    wanted = [a for a in argv if not a.startswith("-")]
    postgres, url, owns = prepare_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsportal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if postgres:
        call_command("migrate", verbosity=0)
    from . import bench_contacts  # noqa: F401  (registers its benchmarks)
    from . import bench_campaigns  # noqa: F401
    from . import bench_messaging  # noqa: F401
    from . import bench_inbox  # noqa: F401
    from . import bench_pages  # noqa: F401  (last: it reads what the others left)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    ctx = Context(quick=quick, out_dir=OUT_DIR, postgres=postgres, database_url=url, owns_database=owns)
    report = {
        "machine": {
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),  # other work on the machine skews every figure
        },
        "quick": quick,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "database": "postgresql" if postgres else "none",
        "benchmarks": {},
    }
    print(f"smsportal bench — {os.cpu_count()} cores, Python {report['machine']['python']}, "
          f"{'QUICK' if quick else 'full'} run, load average {os.getloadavg()[0]:.2f}")
    failed = False
    run_started = time.perf_counter()
    summary: list[tuple[str, Target]] = []
    for name, func in REGISTRY.items():
        if wanted and name not in wanted:
            continue
        started = time.perf_counter()
        try:
            result = func(ctx)
        except Exception:
            failed = True
            traceback.print_exc()
            report["benchmarks"][name] = {"error": traceback.format_exc(limit=3)}
            continue
        elapsed = time.perf_counter() - started
        print_table(name, result)
        print(f"({name} took {elapsed:.1f} s)")
        report["benchmarks"][name] = {**result.figures, "elapsed_seconds": round(elapsed, 1),
                                      "targets": [t.as_dict(quick) for t in result.targets]}
        summary += [(name, t) for t in result.targets]
    print_summary(summary, quick)
    report["elapsed_seconds"] = round(time.perf_counter() - run_started, 1)
    print(f"{'QUICK' if quick else 'full'} bench run took {report['elapsed_seconds']:.0f} s")
    report["summary"] = [{"benchmark": name, **t.as_dict(quick)} for name, t in summary]
    path = OUT_DIR / "results.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults: {path.relative_to(BASE_DIR)}")
    return 1 if failed else 0
