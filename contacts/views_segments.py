"""The segment builder: saved dynamic audiences edited as rows of conditions, with a live count.

The page posts one row per condition (hidden `row` inputs carry each row's prefix, in order), the view turns the
rows into the rules JSON of `contacts.segments`, and the services validate it. An error naming
`rules.conditions.N.*` is shown on the N-th row.
"""

import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from smsportal.accounts.decorators import forbidden, require_capability
from smsportal.errors import DomainError

from . import segments, selectors
from .forms_import import field_choices, region_choices
from .models import LineType

CONDITION_TYPES = [
    ("list", "List membership"),
    ("country", "Country"),
    ("line_type", "Line type"),
    ("field", "Contact field"),
    ("created", "Created date"),
    ("opted_out", "Opted out"),
]
LIST_OPS = [("any", "in any of"), ("all", "in all of"), ("none", "in none of")]
IN_OPS = [("in", "is one of"), ("not_in", "is not one of")]
FIELD_OPS = [
    ("equals", "equals"), ("contains", "contains"), ("empty", "is empty"), ("not_empty", "is not empty"),
    ("before", "is before (dates)"), ("after", "is after (dates)"),
]
DATE_OPS = [("before", "before"), ("after", "after")]
LINE_TYPE_LABELS = {
    "mobile": "Mobile", "fixed_line": "Fixed line", "fixed_line_or_mobile": "Fixed line or mobile", "voip": "VoIP",
    "toll_free": "Toll free", "premium_rate": "Premium rate", "shared_cost": "Shared cost",
    "personal_number": "Personal number", "pager": "Pager", "uan": "UAN", "voicemail": "Voicemail",
    "unknown": "Unknown",
}
_PREFIX = re.compile(r"^[a-z0-9_]{1,20}$")
_MAX_ROWS = 50


# --- Rows <-> rules ---------------------------------------------------------------------------------------


def _blank_row(prefix: str, kind: str = "list") -> dict:
    return {
        "prefix": prefix, "type": kind, "list_op": "any", "lists": [], "country_op": "in", "countries": "",
        "line_type_op": "in", "line_types": [], "field": "first_name", "field_op": "equals", "field_value": "",
        "created_op": "after", "created_value": "", "opted_out": "no", "errors": [],
    }


def rows_from_rules(rules: dict) -> list[dict]:
    rows = []
    for index, cond in enumerate(rules.get("conditions", [])):
        row = _blank_row(f"c{index}", cond.get("type", "list"))
        kind = row["type"]
        if kind == "list":
            row.update(list_op=cond.get("op", "any"), lists=[str(i) for i in cond.get("lists", [])])
        elif kind == "country":
            row.update(country_op=cond.get("op", "in"), countries=", ".join(cond.get("values", [])))
        elif kind == "line_type":
            row.update(line_type_op=cond.get("op", "in"), line_types=list(cond.get("values", [])))
        elif kind == "field":
            row.update(field=cond.get("field", ""), field_op=cond.get("op", "equals"), field_value=cond.get("value", ""))
        elif kind == "created":
            row.update(created_op=cond.get("op", "after"), created_value=cond.get("value", ""))
        elif kind == "opted_out":
            row.update(opted_out="yes" if cond.get("value") else "no")
        rows.append(row)
    return rows


def rows_from_post(data) -> list[dict]:
    """The condition rows as posted, raw values kept so a refused form shows what was typed."""
    rows = []
    for prefix in data.getlist("row")[:_MAX_ROWS]:
        if not _PREFIX.match(prefix):
            continue
        row = _blank_row(prefix, data.get(f"{prefix}-type", ""))
        for key in ("list_op", "country_op", "countries", "line_type_op", "field", "field_op", "field_value",
                    "created_op", "created_value", "opted_out"):
            if f"{prefix}-{key}" in data:
                row[key] = data.get(f"{prefix}-{key}", "").strip()
        row["lists"] = data.getlist(f"{prefix}-lists")
        row["line_types"] = data.getlist(f"{prefix}-line_types")
        rows.append(row)
    return rows


def _list_id(value: str):
    return int(value) if value.isdigit() else value


def rules_from_rows(match: str, rows: list[dict]) -> dict:
    """Rules JSON for `segments.rules_clean`, which does all the checking."""
    conditions = []
    for row in rows:
        kind = row["type"]
        if kind == "list":
            cond = {"type": "list", "op": row["list_op"], "lists": [_list_id(v) for v in row["lists"]]}
        elif kind == "country":
            cond = {"type": "country", "op": row["country_op"],
                    "values": [v for v in re.split(r"[\s,;]+", row["countries"]) if v]}
        elif kind == "line_type":
            cond = {"type": "line_type", "op": row["line_type_op"], "values": row["line_types"]}
        elif kind == "field":
            cond = {"type": "field", "field": row["field"], "op": row["field_op"], "value": row["field_value"]}
        elif kind == "created":
            cond = {"type": "created", "op": row["created_op"], "value": row["created_value"]}
        elif kind == "opted_out":
            cond = {"type": "opted_out", "value": row["opted_out"] == "yes"}
        else:
            cond = {"type": kind}
        conditions.append(cond)
    return {"match": match, "conditions": conditions}


def _error_row(error: DomainError) -> int | None:
    match = re.match(r"^rules\.conditions\.(\d+)(\.|$)", error.field or "")
    return int(match.group(1)) if match else None


def _error_text(error: DomainError) -> str:
    index = _error_row(error)
    return f"Condition {index + 1}: {error.message}" if index is not None else error.message


# --- Describing saved rules ----------------------------------------------------------------------------


def describe(rules: dict, *, list_names: dict, field_labels: dict) -> list[str]:
    """One short phrase per condition, for the segments table."""
    ops = dict(LIST_OPS) | dict(IN_OPS) | dict(FIELD_OPS)
    phrases = []
    for cond in rules.get("conditions", []):
        kind = cond["type"]
        if kind == "list":
            names = ", ".join(list_names.get(i, f"#{i}") for i in cond["lists"])
            phrases.append(f"{ops[cond['op']].capitalize()} {names}")
        elif kind == "country":
            phrases.append(f"Country {ops[cond['op']]} {', '.join(cond['values'])}")
        elif kind == "line_type":
            values = ", ".join(LINE_TYPE_LABELS.get(v, v).lower() for v in cond["values"])
            phrases.append(f"Line type {ops[cond['op']]} {values}")
        elif kind == "field":
            label = field_labels.get(cond["field"], cond["field"])
            value = "" if cond["op"] in ("empty", "not_empty") else f" “{cond['value']}”"
            phrases.append(f"{label} {ops[cond['op']].replace(' (dates)', '')}{value}")
        elif kind == "created":
            phrases.append(f"Created {cond['op']} {cond['value']}")
        elif kind == "opted_out":
            phrases.append("Opted out" if cond["value"] else "Not opted out")
    return phrases


# --- Views ----------------------------------------------------------------------------------------------


@require_capability("contacts.view")
def segment_index(request):
    access = request.access
    list_names = dict(selectors.list_queryset(access=access).values_list("pk", "name"))
    field_labels = dict(field_choices(access))
    rows = [
        {"segment": segment, "conditions": describe(segment.rules, list_names=list_names, field_labels=field_labels)}
        for segment in selectors.segment_queryset(access=access)
    ]
    return render(request, "contacts/segments/index.html", {
        "rows": rows, "can_edit": access.can("contacts.edit"),
    })


@require_capability("contacts.view")
def segment_saved_count(request, segment_id):
    """The count of a saved segment, loaded lazily into the segments table."""
    segment = selectors.segment_get(access=request.access, segment_id=segment_id)
    try:
        count = segments.segment_count(request.access.account, segment.rules)
    except DomainError as exc:  # a list it names has since been deleted
        return render(request, "contacts/segments/_count.html", {"error": exc.message, "compact": True})
    return render(request, "contacts/segments/_count.html", {"count": count, "compact": True})


@require_capability("contacts.edit")
@require_POST
def segment_live_count(request):
    """The live count while editing: the number of matches, or why the rules are not valid yet."""
    rules = rules_from_rows(request.POST.get("match", "all"), rows_from_post(request.POST))
    try:
        count = segments.segment_count(request.access.account, rules)
    except DomainError as exc:
        return render(request, "contacts/segments/_count.html", {"error": _error_text(exc)})
    return render(request, "contacts/segments/_count.html", {"count": count})


def _editor(request, *, segment=None, name="", match="all", rows=None, errors=None, status=200):
    access = request.access
    errors = errors or {}
    rows = rows if rows is not None else [_blank_row("c0")]
    for index, row in enumerate(rows):
        row["errors"] = errors.get(index, [])
    context = {
        "segment": segment,
        "name": name,
        "match": match,
        "rows": rows,
        "next_index": len(rows),
        "blank_row": _blank_row("__prefix__"),
        "name_errors": errors.get("name", []),
        "form_errors": errors.get(None, []),
        "lists": list(selectors.list_queryset(access=access)),
        "field_choices": field_choices(access),
        "condition_types": CONDITION_TYPES,
        "list_ops": LIST_OPS,
        "in_ops": IN_OPS,
        "field_ops": FIELD_OPS,
        "date_ops": DATE_OPS,
        "line_types": [(value, LINE_TYPE_LABELS.get(value, value)) for value in LineType.values],
        "count_url": reverse("contacts:segment-count"),
        "regions": region_choices(),
    }
    return render(request, "contacts/segments/edit.html", context, status=status)


def _save(request, segment=None):
    name = request.POST.get("name", "")
    match = request.POST.get("match", "all")
    rows = rows_from_post(request.POST)
    rules = rules_from_rows(match, rows)
    try:
        if segment is None:
            segment = segments.segment_create(account=request.access.account, name=name, rules=rules)
        else:
            segments.segment_update(segment=segment, name=name, rules=rules)
    except DomainError as exc:
        index = _error_row(exc)
        key = "name" if exc.field == "name" else index
        errors = {key: [exc.message]}
        if segment is not None:
            segment.refresh_from_db()
        return _editor(request, segment=segment, name=name, match=match, rows=rows, errors=errors, status=400)
    messages.success(request, f"Segment “{segment.name}” saved.")
    return redirect("contacts:segment", segment.pk)


@require_capability("contacts.edit")
def segment_new(request):
    if request.method == "POST":
        return _save(request)
    return _editor(request)


@require_capability("contacts.view")
def segment_detail(request, segment_id):
    segment = selectors.segment_get(access=request.access, segment_id=segment_id)
    if request.method == "POST":
        if not request.access.can("contacts.edit"):
            return forbidden(request, reason="capability", capability="contacts.edit")
        return _save(request, segment)
    if not request.access.can("contacts.edit"):
        list_names = dict(selectors.list_queryset(access=request.access).values_list("pk", "name"))
        conditions = describe(segment.rules, list_names=list_names, field_labels=dict(field_choices(request.access)))
        return render(request, "contacts/segments/detail.html", {"segment": segment, "conditions": conditions})
    return _editor(request, segment=segment, name=segment.name, match=segment.rules.get("match", "all"),
                   rows=rows_from_rules(segment.rules))


@require_capability("contacts.edit")
@require_POST
def segment_delete(request, segment_id):
    segment = selectors.segment_get(access=request.access, segment_id=segment_id)
    name = segment.name
    segments.segment_delete(segment=segment)
    messages.success(request, f"Segment “{name}” deleted.")
    return redirect("contacts:segments")
