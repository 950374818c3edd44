"""A campaign's audience as one queryset: contacts in any included list or segment, flagged when an excluded
list or segment also holds them, with the reason each would be blocked. Contacts are unique per number in a
workspace, so a contact in two included lists is one recipient (the other membership is a duplicate)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, Case, CharField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Length

from contacts.models import Contact, ContactList, LineType, ListMembership, Segment
from contacts.segments import _compile as segment_q
from smsportal.accounts.models import Account
from smsportal.errors import DomainError, possible_ids

KEYS = ("lists", "segments", "exclude_lists", "exclude_segments")
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
        found = set(model.objects.filter(account=account, pk__in=possible_ids(ids)).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            kind = "list" if model is ContactList else "segment"
            raise DomainError(f"No {kind} with id {missing[0]}.", field=f"audience.{key}")
        cleaned[key] = ids
    return cleaned


@dataclass
class Audience:
    contacts: QuerySet  # included contacts, annotated with a_excluded and a_reason
    lists: list[int]
    segments: list[int]

    @property
    def empty(self) -> bool:
        return not (self.lists or self.segments)

    def duplicates(self) -> int:
        """Memberships of the included lists beyond one per number: a number in two of them is texted once.
        (A list holds a contact once, so one list has none; several are counted from their memberships.)"""
        if len(self.lists) < 2:
            return 0
        memberships = ListMembership.objects.filter(contact_list_id__in=self.lists)
        return memberships.count() - memberships.values("contact_id").distinct().count()


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
    contacts = contacts.annotate(phone_length=Length("phone_number")).annotate(
        a_excluded=ExpressionWrapper(exclude, output_field=BooleanField()) if exclude is not None else Value(False),
        a_reason=Case(
            When(opted_out_at__isnull=False, then=Value("opted_out")),
            # Contacts are checked when written; this catches a number broken since, at no per-row regex cost.
            When(~Q(phone_number__startswith="+") | Q(phone_length__lt=8) | Q(phone_length__gt=16),
                 then=Value("invalid_number")),
            When(line_type=LineType.FIXED_LINE, then=Value("landline")),
            default=Value(""), output_field=CharField(),
        ),
    )
    return Audience(contacts, lists, audience.get("segments", []))
