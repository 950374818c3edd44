"""What a campaign would send and cost, counted exactly over its whole audience without rendering every
recipient: one grouped query counts recipients per (blocked reason, country, variant, spintax choices, merge
values), and each group's body is rendered once with the same `Plan.render_choices` the launch uses. The
launch runs the same tally over its snapshot of the audience to decide what to reserve."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection as db
from django.db import transaction
from django.db.models import Count, F, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from smsportal.messaging import encoding, pricing
from smsportal.messaging.routing import Router

from . import assign
from .engine import Plan, field_column

CONSTANT_PATHS = 1000  # a template with at most this many bodies is checked for segments that never vary


@dataclass
class CountryLine:
    country: str
    messages: int = 0
    segments: int = 0
    rate: Decimal | None = None
    cost: Decimal = Decimal("0.0000")


@dataclass
class VariantLine:
    label: str
    split: int
    bodies: int  # distinct bodies of its template (spintax paths), from the parse tree
    recipients: int = 0
    segments: int = 0
    cost: Decimal = Decimal("0.0000")
    segments_min: int | None = None
    segments_max: int | None = None
    encodings: set = field(default_factory=set)
    smart_segments: int | None = None  # the same recipients' segments with smart encoding applied
    smart_cost: Decimal | None = None

    @property
    def smart_saves(self) -> Decimal | None:
        return None if self.smart_cost is None else self.cost - self.smart_cost


@dataclass
class Tally:
    matched: int = 0  # in an included list or segment
    excluded: int = 0  # of those, in an excluded one
    duplicates: int = 0  # extra memberships of a number in the included lists
    blocked: Counter = field(default_factory=Counter)  # reason -> recipients that will be blocked, not charged
    recipients: int = 0  # messages that will go out
    segments: int = 0
    cost: Decimal = Decimal("0.0000")
    countries: dict = field(default_factory=dict)  # country -> CountryLine
    variants: list = field(default_factory=list)  # VariantLine per plan variant
    missing: Counter = field(default_factory=Counter)  # merge field -> recipients with no value and no fallback

    @property
    def messages(self) -> int:
        """Messages the launch writes: those that go out and the blocked ones (kept, with their reason)."""
        return self.recipients + sum(self.blocked.values())

    # Lists for templates: a template looking up `blocked.most_common` on a Counter gets its count of that key.
    @property
    def blocked_rows(self) -> list[tuple[str, int]]:
        return self.blocked.most_common()

    @property
    def missing_rows(self) -> list[tuple[str, int]]:
        return self.missing.most_common()


@dataclass(frozen=True)
class Source:
    """Where recipients come from, as names the grouped query can use: a queryset annotated with a_excluded and
    a_reason; its country column; the SQL of its contact id; each merge field's expression."""

    rows: object
    country: str
    id_sql: str
    fields: dict


def contact_source(contacts, plan: Plan, custom_keys) -> Source:
    exprs = {}
    for name in plan.fields:
        column = field_column(name, custom_keys)
        if column.startswith("fields."):
            exprs[name] = Coalesce(KeyTextTransform(column.removeprefix("fields."), "fields"), Value(""),
                                   output_field=TextField())
        else:
            exprs[name] = F(column)
    return Source(contacts, "country", '"contacts_contact"."id"', exprs)


def _constant_segments(variant) -> bool:
    """True when every body of the variant has the same encoding and segments whatever the choices (no merge
    fields, and few enough bodies to check them all): then its choices need not be counted."""
    template = variant.template
    if not template.has_choices:
        return True
    if template.fields or template.count() > CONSTANT_PATHS:
        return False
    shapes = {(encoding.encoding_of(text), encoding.segment_count(text)) for text, _ in template.iter_bodies()}
    return len(shapes) == 1


def grouped(source: Source, plan: Plan):
    """The recipients counted per group: (excluded, reason, country, variant, choices, values, n)."""
    annotations, choice_names = {}, []
    variant_sql = assign.variant_sql(plan.key, plan.bounds, source.id_sql)
    annotations["g_variant"] = RawSQL(variant_sql, [])
    for v, variant in enumerate(plan.variants):
        names = []
        if not _constant_segments(variant):
            for g, size in enumerate(variant.sizes):
                sql = assign.choice_sql(plan.key, g, size, source.id_sql)
                if len(plan.variants) > 1:
                    sql = f"(CASE WHEN {variant_sql} = {v} THEN {sql} END)"
                name = f"g_c{v}_{g}"
                annotations[name] = RawSQL(sql, [])
                names.append(name)
        choice_names.append(names)
    field_names = []
    for i, name in enumerate(plan.fields):
        annotations[f"g_f{i}"] = source.fields[name]
        field_names.append(f"g_f{i}")
    columns = ["a_excluded", "a_reason", source.country, "g_variant",
               *[n for names in choice_names for n in names], *field_names]
    rows = source.rows.annotate(**annotations).values(*columns).annotate(g_n=Count("pk")).order_by()
    for row in _analytic(rows.values_list(*columns, "g_n")):
        data = dict(zip(columns, row[:-1], strict=True))
        variant = data["g_variant"]
        names = choice_names[variant]
        choices = tuple(data[n] for n in names) if names else None
        values = tuple(data[n] for n in field_names)
        yield data["a_excluded"], data["a_reason"], data[source.country], variant, choices, values, row[-1]


def _analytic(queryset) -> list:
    """Run one big aggregate the way an analytic query should run on PostgreSQL: memory enough to hash a million
    rows without spilling, both cores, no JIT compile (it costs more than it saves on a query this simple), and
    hashing rather than sorting to group. The planner cannot know a million recipients fall into a few thousand
    groups; left alone it sorts them by every column, names under their collation included (3.3 s against 1.3 s
    on a million)."""
    if db.vendor != "postgresql":
        return list(queryset)
    with transaction.atomic():
        with db.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL enable_sort = off;"
                           " SET LOCAL parallel_setup_cost = 100; SET LOCAL parallel_tuple_cost = 0.01")
        return list(queryset)


def tally(plan: Plan, groups, *, card: pricing.RateCard, router: Router, duplicates: int = 0,
          smart_plan: Plan | None = None) -> Tally:
    """Sum the groups into what will be written and charged. `smart_plan`, when given, is the same plan with
    smart encoding applied: its segments and cost for the same recipients are what the fix would save."""
    result = Tally(variants=[VariantLine(v.label, v.split, v.template.count()) for v in plan.variants])
    shapes: dict = {}
    routable: dict[str, bool] = {}

    def shape(which: Plan, variant: int, choices, values):
        key = (id(which), variant, choices, values)
        found = shapes.get(key)
        if found is None:
            if choices is None:  # constant segments: any body of the variant will do
                choices = (0,) * len(which.variants[variant].sizes)
            rendered = which.render_choices(variant, choices, dict(zip(which.fields, values, strict=True)))
            body = rendered.body
            found = shapes[key] = (encoding.encoding_of(body), encoding.segment_count(body), rendered.missing)
        return found

    for excluded, reason, country, variant, choices, values, n in groups:
        result.matched += n
        if excluded:
            result.excluded += n
            continue
        if not reason:
            ok = routable.get(country)
            if ok is None:
                ok = routable[country] = card.rate_for(country) is not None and router.can_route(country)
            if not ok:
                reason = "no_route"
        if reason:
            result.blocked[reason] += n
            continue
        enc, segments, missing = shape(plan, variant, choices, values)
        cost = card.cost(country=country, segments=segments) * n
        result.recipients += n
        result.segments += segments * n
        result.cost += cost
        line = result.countries.get(country)
        if line is None:
            line = result.countries[country] = CountryLine(country, rate=card.rate_for(country))
        line.messages += n
        line.segments += segments * n
        line.cost += cost
        stats = result.variants[variant]
        stats.recipients += n
        stats.segments += segments * n
        stats.cost += cost
        stats.encodings.add(enc)
        stats.segments_min = segments if stats.segments_min is None else min(stats.segments_min, segments)
        stats.segments_max = segments if stats.segments_max is None else max(stats.segments_max, segments)
        for name in missing:
            result.missing[name] += n
        if smart_plan is not None and smart_plan.variants[variant].body != plan.variants[variant].body:
            _, smart_segments, _ = shape(smart_plan, variant, choices, values)
            stats.smart_segments = (stats.smart_segments or 0) + smart_segments * n
            stats.smart_cost = (stats.smart_cost or Decimal(0)) + card.cost(country=country, segments=smart_segments) * n
    result.duplicates = duplicates
    result.countries = dict(sorted(result.countries.items(), key=lambda item: (-item[1].messages, item[0])))
    return result
