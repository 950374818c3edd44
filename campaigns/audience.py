"""A campaign's audience as one queryset: contacts in any included list or segment, flagged when an excluded
list or segment also holds them, with the reason each would be blocked. Contacts are unique per number in a
workspace, so a contact in two included lists is one recipient (the other membership is a duplicate)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, Case, CharField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Value, When

from contacts.models import Contact, ContactList, LineType, ListMembership, Segment
from contacts.segments import _compile as segment_q
from smsportal.accounts.models import Account
from smsportal.errors import DomainError

KEYS = ("lists", "segments", "exclude_lists", "exclude_segments")
E164 = r"^\+[1-9][0-9]{6,14}$"
BLOCK_REASONS = {
    "opted_out": "opted out",
    "invalid_number": "invalid number",
    "landline": "landline",
    "no_route": "no route",
}


def audience_clean(account: Account, data) -> dict:
    """{lists, segments, exclude_lists, exclude_segments} of this workspace's ids, or a DomainError naming the
    offending key (audience.lists, …)."""
    if data in (None, ""):
        data = {}
    if not isinstance(data, dict):
        raise DomainError("audience must be an object of lists and segments.", field="audience")
    cleaned = {}
    for key in KEYS:
        raw = data.get(key) or []
        if not isinstance(raw, list) or any(isinstance(i, bool) for i in raw):
            raise DomainError(f"{key} must be a list of ids.", field=f"audience.{key}")
        try:
            ids = sorted({int(i) for i in raw})
        except (TypeError, ValueError):
            raise DomainError(f"{key} must be a list of ids.", field=f"audience.{key}") from None
        model = ContactList if key.endswith("lists") else Segment
        found = set(model.objects.filter(account=account, pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            kind = "list" if model is ContactList else "segment"
            raise DomainError(f"No {kind} with id {missing[0]}.", field=f"audience.{key}")
        cleaned[key] = ids
    return cleaned


@dataclass
class Audience:
    contacts: QuerySet  # included contacts, annotated with a_excluded, a_reason and a_in_lists
    lists: list[int]
    segments: list[int]
    list_memberships: int  # the included lists' contact counts, summed: duplicates are what exceeds the distinct

    @property
    def empty(self) -> bool:
        return not (self.lists or self.segments)


def _matching(account: Account, list_ids, segment_ids) -> tuple[Q | None, dict]:
    """Who is in any of the lists or segments (None when there are none), and the annotations it needs."""
    parts, annotations = [], {}
    if list_ids:
        parts.append(Q(Exists(ListMembership.objects.filter(contact_id=OuterRef("pk"), contact_list_id__in=list_ids))))
    for segment in Segment.objects.filter(account=account, pk__in=segment_ids):
        q, needed = segment_q(segment.rules)
        parts.append(q if q else Q(pk__isnull=False))  # a segment with no conditions matches everyone
        annotations.update(needed)
    if not parts:
        return None, annotations
    condition = parts[0]
    for part in parts[1:]:
        condition |= part
    return condition, annotations


def audience_of(account: Account, audience: dict) -> Audience:
    """The audience's contacts (`audience` as audience_clean returns it)."""
    include, annotations = _matching(account, audience.get("lists", []), audience.get("segments", []))
    exclude, more = _matching(account, audience.get("exclude_lists", []), audience.get("exclude_segments", []))
    annotations.update(more)
    contacts = Contact.objects.filter(account=account)
    if annotations:
        contacts = contacts.annotate(**annotations)
    contacts = contacts.filter(include) if include is not None else contacts.none()
    lists = audience.get("lists", [])
    in_lists = Exists(ListMembership.objects.filter(contact_id=OuterRef("pk"), contact_list_id__in=lists))
    contacts = contacts.annotate(
        a_excluded=ExpressionWrapper(exclude, output_field=BooleanField()) if exclude is not None else Value(False),
        a_in_lists=in_lists if lists else Value(False),
        a_reason=Case(
            When(opted_out_at__isnull=False, then=Value("opted_out")),
            When(~Q(phone_number__regex=E164), then=Value("invalid_number")),
            When(line_type=LineType.FIXED_LINE, then=Value("landline")),
            default=Value(""), output_field=CharField(),
        ),
    )
    memberships = sum(ContactList.objects.filter(account=account, pk__in=lists).values_list("contact_count", flat=True))
    return Audience(contacts, lists, audience.get("segments", []), memberships)
