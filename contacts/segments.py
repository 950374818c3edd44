"""Segments: saved dynamic audiences. Rules are JSON, validated once, compiled to one WHERE clause.

{"match": "all" | "any",
 "conditions": [
   {"type": "list", "op": "any" | "all" | "none", "lists": [<list ids>]},
   {"type": "country", "op": "in" | "not_in", "values": ["AU", "GB"]},
   {"type": "field", "field": "first_name" | "custom_1" | "fields.<key>",
    "op": "equals" | "contains" | "empty" | "not_empty" | "before" | "after", "value": "…"},
   {"type": "created", "op": "before" | "after", "value": "2026-01-31"},
   {"type": "opted_out", "value": true | false},
   {"type": "line_type", "op": "in" | "not_in", "values": ["mobile", …]}
 ]}
"""

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from smsportal.accounts.models import Account
from smsportal.errors import DomainError, possible_ids

from .models import Contact, ContactList, CustomField, LineType, ListMembership, Segment
from .services import TEXT_FIELDS

MAX_CONDITIONS = 20
FIELD_OPS = ("equals", "contains", "empty", "not_empty", "before", "after")


def _fail(message: str, path: str):
    raise DomainError(message, field=f"rules.{path}")


def _date(value, path: str) -> str:
    try:
        return datetime.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        _fail(f"{value!r} is not a date like 2026-12-31.", path)


def rules_clean(account: Account, rules) -> dict:
    """The rules in canonical form, or a DomainError naming the offending path (rules.conditions.N.value)."""
    if not isinstance(rules, dict):
        _fail("rules must be an object with match and conditions.", "match")
    match = rules.get("match", "all")
    if match not in ("all", "any"):
        _fail("match must be all or any.", "match")
    conditions = rules.get("conditions")
    if not isinstance(conditions, list):
        _fail("conditions must be a list.", "conditions")
    if len(conditions) > MAX_CONDITIONS:
        _fail(f"at most {MAX_CONDITIONS} conditions.", "conditions")
    custom = {f.key: f for f in CustomField.objects.filter(account=account)}
    cleaned = []
    for index, cond in enumerate(conditions):
        path = f"conditions.{index}"
        if not isinstance(cond, dict):
            _fail("each condition must be an object.", path)
        kind = cond.get("type")
        if kind == "list":
            op = cond.get("op", "any")
            if op not in ("any", "all", "none"):
                _fail("op must be any, all or none.", f"{path}.op")
            ids = cond.get("lists")
            if not isinstance(ids, list) or not ids or any(not isinstance(i, int) or isinstance(i, bool) for i in ids):
                _fail("lists must be a non-empty list of list ids.", f"{path}.lists")
            found = set(ContactList.objects.filter(account=account, pk__in=possible_ids(ids))
                        .values_list("pk", flat=True))
            missing = [i for i in ids if i not in found]
            if missing:
                _fail(f"No list with id {missing[0]}.", f"{path}.lists")
            cleaned.append({"type": "list", "op": op, "lists": sorted(set(ids))})
        elif kind in ("country", "line_type"):
            op = cond.get("op", "in")
            if op not in ("in", "not_in"):
                _fail("op must be in or not_in.", f"{path}.op")
            values = cond.get("values")
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                _fail("values must be a non-empty list of strings.", f"{path}.values")
            if kind == "country":
                values = [v.strip().upper() for v in values]
                bad = [v for v in values if len(v) != 2 or not v.isalpha()]
            else:
                bad = [v for v in values if v not in LineType.values]
            if bad:
                _fail(f"{bad[0]!r} is not a valid {kind.replace('_', ' ')}.", f"{path}.values")
            cleaned.append({"type": kind, "op": op, "values": sorted(set(values))})
        elif kind == "field":
            field = cond.get("field")
            op = cond.get("op")
            if not isinstance(field, str) or not (
                field in TEXT_FIELDS or (field.startswith("fields.") and field.removeprefix("fields.") in custom)
            ):
                _fail(f"{field!r} is not a contact field.", f"{path}.field")
            if op not in FIELD_OPS:
                _fail(f"op must be one of {', '.join(FIELD_OPS)}.", f"{path}.op")
            is_date = field.startswith("fields.") and custom[field.removeprefix("fields.")].type == "date"
            if op in ("before", "after") and not is_date:
                _fail("before and after compare date fields only.", f"{path}.op")
            value = cond.get("value", "")
            if op in ("equals", "contains", "before", "after"):
                if not isinstance(value, str) or (op != "equals" and not value):
                    _fail("value must be a non-empty string.", f"{path}.value")
                if is_date and op in ("equals", "before", "after"):
                    value = _date(value, f"{path}.value")
            value = "" if op in ("empty", "not_empty") else value
            cleaned.append({"type": "field", "field": field, "op": op, "value": value})
        elif kind == "created":
            op = cond.get("op")
            if op not in ("before", "after"):
                _fail("op must be before or after.", f"{path}.op")
            cleaned.append({"type": "created", "op": op, "value": _date(cond.get("value"), f"{path}.value")})
        elif kind == "opted_out":
            if not isinstance(cond.get("value"), bool):
                _fail("value must be true or false.", f"{path}.value")
            cleaned.append({"type": "opted_out", "value": cond["value"]})
        else:
            _fail("type must be list, country, line_type, field, created or opted_out.", f"{path}.type")
    return {"match": match, "conditions": cleaned}


def _member_of(list_ids) -> Exists:
    return Exists(ListMembership.objects.filter(contact_id=OuterRef("pk"), contact_list_id__in=list_ids))


def _field_condition(field: str, op: str, value: str) -> tuple[Q, dict]:
    """The Q for one field condition, and the annotation it compares (custom fields live in JSON)."""
    annotations = {}
    column = field
    if field.startswith("fields."):
        column = "_field_" + field.removeprefix("fields.")
        # A key absent from a contact's JSON reads as empty, like a blank standard field.
        annotations[column] = Coalesce(
            KeyTextTransform(field.removeprefix("fields."), "fields"), Value(""), output_field=TextField()
        )
    lookups = {
        "equals": Q(**{f"{column}__iexact": value}),
        "contains": Q(**{f"{column}__icontains": value}),
        "empty": Q(**{column: ""}),
        "not_empty": ~Q(**{column: ""}),
        "before": Q(**{f"{column}__lt": value}) & ~Q(**{column: ""}),
        "after": Q(**{f"{column}__gt": value}),
    }
    return lookups[op], annotations


def _compile(rules: dict) -> tuple[Q, dict]:
    parts, annotations = [], {}
    for cond in rules.get("conditions", []):
        kind = cond["type"]
        if kind == "list":
            if cond["op"] == "any":
                parts.append(Q(_member_of(cond["lists"])))
            elif cond["op"] == "none":
                parts.append(~Q(_member_of(cond["lists"])))
            else:
                every = Q()
                for list_id in cond["lists"]:
                    every &= Q(_member_of([list_id]))
                parts.append(every)
        elif kind in ("country", "line_type"):
            q = Q(**{f"{kind}__in": cond["values"]})
            parts.append(q if cond["op"] == "in" else ~q)
        elif kind == "field":
            q, needed = _field_condition(cond["field"], cond["op"], cond["value"])
            annotations.update(needed)
            parts.append(q)
        elif kind == "created":
            day = datetime.date.fromisoformat(cond["value"])
            start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
            after_day = start + datetime.timedelta(days=1)
            parts.append(Q(created_at__lt=start) if cond["op"] == "before" else Q(created_at__gte=after_day))
        elif kind == "opted_out":
            parts.append(Q(opted_out_at__isnull=not cond["value"]))
    combined = Q()
    for part in parts:
        combined = (combined & part) if rules.get("match", "all") == "all" else (combined | part)
    return combined, annotations


def segment_filter(qs: QuerySet, rules: dict) -> QuerySet:
    """Narrow a contact queryset to the (already cleaned) rules."""
    q, annotations = _compile(rules)
    return qs.annotate(**annotations).filter(q) if annotations else qs.filter(q)


def segment_contacts(account: Account, rules: dict) -> QuerySet:
    """The workspace's contacts matching the (already cleaned) rules."""
    return segment_filter(Contact.objects.filter(account=account), rules)


def segment_count(account: Account, rules: dict) -> dict:
    """The live count while editing: everyone matching, and how many of them may be texted."""
    matching = segment_contacts(account, rules_clean(account, rules)).order_by()
    return {"total": matching.count(), "sendable": matching.filter(opted_out_at__isnull=True).count()}


def segment_create(*, account: Account, name: str, rules) -> Segment:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise DomainError("name is required.", field="name")
    return Segment.objects.create(account=account, name=name[:100], rules=rules_clean(account, rules))


def segment_update(*, segment: Segment, name: str | None = None, rules=None) -> Segment:
    with transaction.atomic():
        if name is not None:
            name = name.strip() if isinstance(name, str) else ""
            if not name:
                raise DomainError("name is required.", field="name")
            segment.name = name[:100]
        if rules is not None:
            segment.rules = rules_clean(segment.account, rules)
        segment.save()
    return segment


def segment_delete(*, segment: Segment) -> None:
    segment.delete()
