"""The contacts table's query: search, filters, sort and pages that stay fast at a million contacts.

Used by the contacts page, bulk actions on "the whole filtered set", and exports, so all three agree.
"""

import re
from dataclasses import dataclass

import phonenumbers

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from smsportal.accounts.permissions import Access

from .models import Contact, ListMembership
from .segments import segment_filter
from .selectors import contact_queryset, segment_queryset
from .services import TEXT_FIELDS

SORTS = {
    "newest": ("-id",),
    "oldest": ("id",),
    "name": (Lower("last_name").asc(), Lower("first_name").asc(), "id"),
    "-name": (Lower("last_name").desc(), Lower("first_name").desc(), "-id"),
    "number": ("phone_number",),
}
COUNT_CAP = 10_000
_DIGITS = re.compile(r"^[\d\s()+.-]+$")


def _next_prefix(prefix: str) -> str:
    """The smallest string above every string starting with `prefix` (for an index range scan)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _number_search(text: str, region_code: int | None) -> Q:
    digits = re.sub(r"\D", "", text)
    if not digits:
        return Q(pk__in=[])
    prefixes = {"+" + digits}
    if not text.strip().startswith("+") and region_code and digits.startswith("0"):
        prefixes.add(f"+{region_code}{digits.lstrip('0')}")  # a national number as typed: 0412… in AU
    query = Q(pk__in=[])
    for prefix in prefixes:
        query |= Q(phone_number__gte=prefix, phone_number__lt=_next_prefix(prefix))
    return query


def _name_search(text: str) -> Q:
    """Every word must start the first or the last name (or the organisation)."""
    query = Q()
    for word in text.lower().split()[:4]:
        query &= Q(_first__startswith=word) | Q(_last__startswith=word) | Q(_org__startswith=word)
    return query


@dataclass
class ContactFilter:
    search: str = ""
    list_id: int | None = None
    segment_id: int | None = None
    country: str = ""
    opted_out: bool | None = None  # None: both
    line_type: str = ""
    field: str = ""  # a Contact text field or "fields.<key>", matched exactly against field_value
    field_value: str = ""
    sort: str = "newest"

    @classmethod
    def from_params(cls, params) -> "ContactFilter":
        """From a GET query (?q=&list=&segment=&country=&opted_out=yes|no&line_type=&field=&value=&sort=)."""

        def as_int(name):
            try:
                return int(params.get(name) or "")
            except ValueError:
                return None

        opted = params.get("opted_out", "")
        return cls(
            search=(params.get("q") or "").strip()[:100],
            list_id=as_int("list"),
            segment_id=as_int("segment"),
            country=(params.get("country") or "").strip().upper()[:2],
            opted_out=True if opted == "yes" else False if opted == "no" else None,
            line_type=(params.get("line_type") or "").strip()[:24],
            field=(params.get("field") or "").strip()[:60],
            field_value=(params.get("value") or "").strip()[:200],
            sort=params.get("sort") if params.get("sort") in SORTS else "newest",
        )

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.search or self.list_id or self.segment_id or self.country or self.opted_out is not None
            or self.line_type or self.field
        )


def contacts_filtered(*, access: Access, flt: ContactFilter, ordered: bool = True) -> QuerySet[Contact]:
    """The workspace's contacts matching `flt`. Unknown list, segment or field ids match nothing."""

    qs = contact_queryset(access=access)
    if flt.search:
        if _DIGITS.match(flt.search):
            region_code = phonenumbers.country_code_for_region(access.account.default_region) or None
            qs = qs.filter(_number_search(flt.search, region_code))
        else:
            qs = qs.annotate(
                _first=Lower("first_name"), _last=Lower("last_name"), _org=Lower("organization_name")
            ).filter(_name_search(flt.search))
    if flt.list_id:
        qs = qs.filter(
            Exists(ListMembership.objects.filter(
                contact_id=OuterRef("pk"), contact_list_id=flt.list_id, contact_list__account=access.account
            ))
        )
    if flt.segment_id:
        segment = segment_queryset(access=access).filter(pk=flt.segment_id).first()
        qs = segment_filter(qs, segment.rules) if segment else qs.none()
    if flt.country:
        qs = qs.filter(country=flt.country)
    if flt.opted_out is not None:
        qs = qs.filter(opted_out_at__isnull=not flt.opted_out)
    if flt.line_type:
        qs = qs.filter(line_type=flt.line_type)
    if flt.field:
        qs = qs.filter(field_equals_q(flt.field, flt.field_value))
    return qs.order_by(*SORTS[flt.sort]) if ordered else qs.order_by()


def field_equals_q(field: str, value: str) -> Q:
    if field.startswith("fields."):
        key = field.removeprefix("fields.")
        return Q(**{f"fields__{key}": value}) if re.fullmatch(r"[a-z0-9_]{1,50}", key) else Q(pk__in=[])
    if field in TEXT_FIELDS:
        return Q(**{field: value})
    return Q(pk__in=[])


def count_capped(qs: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, exact): counts at most `cap`+1 rows, so a page view never counts a million."""
    found = qs.order_by().values("pk")[: cap + 1].count()
    return (min(found, cap), found <= cap)


def page_after(qs: QuerySet, *, after_id: int | None, size: int = 50) -> tuple[list[Contact], int | None]:
    """Keyset page for the id sorts: the rows after `after_id`, and the id to continue from (or None)."""
    descending = qs.query.order_by and qs.query.order_by[0] == "-id"
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id) if descending else qs.filter(pk__gt=after_id)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].pk if more and rows else None)
