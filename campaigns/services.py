"""Writes of the campaigns app: drafts, the preview, launch and fan-out, pause/resume/cancel, test sends and the
attribution of replies. The browser UI and /v3/sms-campaigns call these same functions."""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection as db
from django.db import transaction
from django.db.models import F, Q, Sum, TextField, Value, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, JSONObject, RowNumber
from django.utils import timezone

from contacts.models import Contact, CustomField
from contacts.selectors import merge_values
from smsportal.accounts import services as accounts
from smsportal.accounts.models import Account, User
from smsportal.errors import DomainError, InsufficientCredit
from smsportal.messaging import encoding, statuses
from smsportal.messaging import services as messaging
from smsportal.messaging.models import Message
from smsportal.messaging.routing import Router
from smsportal.messaging.selectors import pricing_card_for

from . import schedule
from .audience import Audience, audience_clean, audience_of
from .engine import LABELS, Plan, Problem, VariantSpec, compile_plan, field_column
from .models import Campaign, CampaignRecipient, CampaignResponse, CampaignSample, CampaignVariant
from .preview import Source, Tally, contact_source, grouped, tally

log = logging.getLogger(__name__)

PREPARE_BATCH = 5000  # messages written per fan-out task
ATTRIBUTION_WINDOW = datetime.timedelta(hours=72)
MAX_NAME = 100


# --- Drafts ------------------------------------------------------------------------------------------------------


def _clean_time(value, *, field: str) -> datetime.time:
    if isinstance(value, datetime.time):
        return value.replace(second=0, microsecond=0)
    try:
        return datetime.time.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError(f"{field} must be a time like 21:00.", field=field) from None


def _clean_variants(data) -> list[VariantSpec]:
    if not isinstance(data, list) or not data:
        raise DomainError("variants must be a list of {body, split}.", field="variants")
    if len(data) > len(LABELS):
        raise DomainError(f"At most {len(LABELS)} variants.", field="variants")
    specs = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise DomainError("Each variant is an object with body and split.", field=f"variants.{index}")
        body = item.get("body")
        if not isinstance(body, str):
            raise DomainError("body must be text.", field=f"variants.{index}.body")
        if len(body) > messaging.MAX_BODY:
            raise DomainError(f"A body has at most {messaging.MAX_BODY} characters.", field=f"variants.{index}.body")
        split = item.get("split", 100 if len(data) == 1 else None)
        try:
            split = int(split)
        except (TypeError, ValueError):
            raise DomainError("split must be a whole percentage.", field=f"variants.{index}.split") from None
        if not 1 <= split <= 100:
            raise DomainError("split must be from 1 to 100.", field=f"variants.{index}.split")
        specs.append(VariantSpec(LABELS[index], body.replace("\r\n", "\n"), split))
    if sum(s.split for s in specs) != 100:
        raise DomainError(f"The variants' splits add up to {sum(s.split for s in specs)} %, not 100 %.",
                          field="variants")
    return specs


def campaign_save(*, account: Account, data: dict, campaign: Campaign | None = None, by=None) -> Campaign:
    """Create a draft, or change one. Bodies may still have spintax or merge errors (a draft is work in
    progress); the launch refuses them. `data` keys: name, sender, body or variants, audience (or list_id),
    schedule_mode, schedule_at, local_send_at, quiet_hours, quiet_start, quiet_end, rate_per_minute,
    custom_string, source."""
    if campaign is not None and not campaign.is_draft:
        raise DomainError("Only a draft can be changed; this campaign was launched.", field="status")
    campaign = campaign or Campaign(account=account, created_by=by if isinstance(by, User) else None)
    if "assign_key" in data and campaign.pk is None and data["assign_key"] not in (None, ""):
        # A caller that previewed with a key keeps it, so the launch counts what the preview counted.
        try:
            key = int(data["assign_key"])
        except (TypeError, ValueError):
            raise DomainError("assign_key must be a whole number.", field="assign_key") from None
        if not 0 < key < 2**31:
            raise DomainError("assign_key must be from 1 to 2147483647.", field="assign_key")
        campaign.assign_key = key
    if "name" in data or campaign.pk is None:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > MAX_NAME:
            raise DomainError(f"name is required (at most {MAX_NAME} characters).", field="name")
        campaign.name = name
    if "sender" in data:
        sender = str(data.get("sender") or "").strip()
        problem = messaging.sender_problem(sender)
        if problem:
            raise DomainError(problem, field="from")
        campaign.sender = sender
    if "list_id" in data and "audience" not in data:
        data = {**data, "audience": {"lists": [data["list_id"]] if data["list_id"] not in (None, "") else []}}
    if "audience" in data:
        campaign.audience = audience_clean(account, data["audience"])
    if "schedule_mode" in data:
        mode = data["schedule_mode"] or Campaign.ScheduleMode.NOW
        if mode not in Campaign.ScheduleMode.values:
            raise DomainError("schedule_mode must be now, at or local.", field="schedule_mode")
        campaign.schedule_mode = mode
    if "schedule_at" in data:
        at = data["schedule_at"]
        if at is not None and not isinstance(at, datetime.datetime):
            raise DomainError("schedule_at must be a date and time.", field="schedule")
        campaign.schedule_at = at
    if "local_send_at" in data:
        raw = str(data["local_send_at"] or "").strip()
        if raw:
            try:
                raw = datetime.datetime.fromisoformat(raw).strftime("%Y-%m-%dT%H:%M")
            except ValueError:
                raise DomainError("local_send_at must look like 2026-12-24T09:00.", field="local_send_at") from None
        campaign.local_send_at = raw
    if "quiet_hours" in data:
        campaign.quiet_hours = bool(data["quiet_hours"])
    for name in ("quiet_start", "quiet_end"):
        if data.get(name) not in (None, ""):
            setattr(campaign, name, _clean_time(data[name], field=name))
    if "rate_per_minute" in data:
        rate = data["rate_per_minute"]
        if rate in (None, "", 0, "0"):
            campaign.rate_per_minute = None
        else:
            try:
                rate = int(rate)
            except (TypeError, ValueError):
                raise DomainError("rate_per_minute must be a whole number.", field="rate_per_minute") from None
            if not 1 <= rate <= 1_000_000:
                raise DomainError("rate_per_minute must be from 1 to 1,000,000.", field="rate_per_minute")
            campaign.rate_per_minute = rate
    for name, limit in (("custom_string", 100), ("source", 50)):
        if name in data:
            setattr(campaign, name, str(data[name] or "")[:limit])
    specs = None
    if "variants" in data:
        specs = _clean_variants(data["variants"])
    elif "body" in data:
        specs = _clean_variants([{"body": data["body"] or "", "split": 100}])
    if campaign.pk is None and specs is None:
        specs = _clean_variants([{"body": "", "split": 100}])
    with transaction.atomic():
        campaign.save()
        if specs is not None:
            campaign.variants.all().delete()
            CampaignVariant.objects.bulk_create(
                CampaignVariant(campaign=campaign, label=s.label, body=s.body, split=s.split, position=i)
                for i, s in enumerate(specs)
            )
    return campaign


def campaign_duplicate(*, campaign: Campaign, by=None) -> Campaign:
    """A new draft with the same content, audience and settings."""
    with transaction.atomic():
        copy = Campaign.objects.create(
            account=campaign.account, name=f"{campaign.name} (copy)"[:MAX_NAME], sender=campaign.sender,
            audience=campaign.audience, schedule_mode=campaign.schedule_mode, schedule_at=campaign.schedule_at,
            local_send_at=campaign.local_send_at, quiet_hours=campaign.quiet_hours, quiet_start=campaign.quiet_start,
            quiet_end=campaign.quiet_end, rate_per_minute=campaign.rate_per_minute,
            custom_string=campaign.custom_string, source=campaign.source,
            created_by=by if isinstance(by, User) else None,
        )
        CampaignVariant.objects.bulk_create(
            CampaignVariant(campaign=copy, label=v.label, body=v.body, split=v.split, position=v.position)
            for v in campaign.variants.all()
        )
    return copy


def campaign_delete(*, campaign: Campaign) -> None:
    """Drafts and finished campaigns can be deleted; their messages stay in the message log."""
    if campaign.is_live:
        raise DomainError("A scheduled, sending or paused campaign must be cancelled before it is deleted.",
                          field="status")
    campaign.delete()


# --- The plan and the preview ------------------------------------------------------------------------------------


def _custom_keys(account: Account) -> frozenset[str]:
    return frozenset(CustomField.objects.filter(account=account).values_list("key", flat=True))


def specs_of(campaign: Campaign) -> list[VariantSpec]:
    return [VariantSpec(v.label, v.body, v.split) for v in campaign.variants.all()]


def plan_for(campaign: Campaign, specs: list[VariantSpec] | None = None) -> tuple[Plan | None, list[Problem]]:
    return compile_plan(campaign.assign_key, specs if specs is not None else specs_of(campaign),
                        _custom_keys(campaign.account))


def _smart_plan(plan: Plan, campaign: Campaign) -> Plan | None:
    """The plan with smart encoding applied to each body that has look-alikes; None when none has."""
    specs, changed = [], False
    for variant in plan.variants:
        smart, replaced = encoding.smart_encode(variant.body)
        changed = changed or bool(replaced)
        specs.append(VariantSpec(variant.label, smart, variant.split))
    if not changed:
        return None
    smart_plan, problems = compile_plan(plan.key, specs, _custom_keys(campaign.account))
    return smart_plan if not problems else None


@dataclass
class Sample:
    contact_id: int
    phone: str
    name: str
    variant: str
    body: str
    info: encoding.SegmentInfo
    chosen: bool = False


@dataclass
class Preview:
    """Everything the composer's preview panel shows (and /v3/sms-campaigns/preview returns)."""

    problems: list[Problem] = field(default_factory=list)
    tally: Tally | None = None
    plan: Plan | None = None
    currency: str = "USD"
    balance: Decimal = Decimal(0)
    samples: list[Sample] = field(default_factory=list)
    unicode_chars: dict = field(default_factory=dict)  # variant label -> characters forcing UCS-2
    smart_bodies: dict = field(default_factory=dict)  # variant label -> body with smart encoding

    @property
    def short_of_credit(self) -> bool:
        return self.tally is not None and self.tally.cost > self.balance


def _samples(campaign: Campaign, plan: Plan, audience: Audience, chosen_id: int | None, count: int) -> list[Sample]:
    """The chosen contact (if in the audience) and a few recipients spread over it, rendered as they will be."""
    qs = audience.contacts.filter(a_excluded=False).order_by("pk")
    picks, seen = [], set()
    if chosen_id:
        contact = qs.filter(pk=chosen_id).first()
        if contact is not None:
            picks.append((contact, True))
            seen.add(contact.pk)
    bounds = qs.values_list("pk", flat=True)
    first, last = bounds.first(), qs.order_by("-pk").values_list("pk", flat=True).first()
    if first is not None:
        for k in range(count):
            at = first + (last - first) * (2 * k + 1) // (2 * count)
            contact = qs.filter(pk__gte=at).first()
            if contact is not None and contact.pk not in seen:
                picks.append((contact, False))
                seen.add(contact.pk)
    custom = _custom_keys(campaign.account)
    samples = []
    for contact, chosen in picks:
        rendered = plan.render(contact.pk, contact_values(contact, plan.fields, custom))
        samples.append(Sample(contact.pk, contact.phone_number, f"{contact.first_name} {contact.last_name}".strip(),
                              plan.variants[rendered.variant].label, rendered.body, encoding.analyze(rendered.body),
                              chosen))
    return samples


def contact_values(contact: Contact, names, custom_keys) -> dict:
    """The merge values `names` need, from the contact (unknown names left out)."""
    known = merge_values(contact=contact)
    return {name: known.get(name, "") for name in names if field_column(name, custom_keys) is not None}


def campaign_preview(*, campaign: Campaign, specs: list[VariantSpec] | None = None, audience: dict | None = None,
                     chosen_contact_id: int | None = None, samples: int = 3) -> Preview:
    """What the campaign (as saved, or with the given bodies and audience) would send and cost, exactly."""
    account = campaign.account
    result = Preview(currency=account.currency, balance=account.balance)
    plan, problems = plan_for(campaign, specs)
    result.problems, result.plan = problems, plan
    for spec in (specs if specs is not None else specs_of(campaign)):
        forcing = [c for c in encoding.analyze(spec.body).unicode_chars]
        if forcing:
            result.unicode_chars[spec.label] = forcing
            smart, replaced = encoding.smart_encode(spec.body)
            if replaced:
                result.smart_bodies[spec.label] = smart
    if plan is None:
        return result
    audience_data = audience_clean(account, audience) if audience is not None else campaign.audience
    who = audience_of(account, audience_data)
    source = contact_source(who.contacts, plan, _custom_keys(account))
    result.tally = tally(plan, grouped(source, plan), card=pricing_card_for(account=account),
                         router=Router(account.pk), duplicates=who.duplicates(),
                         smart_plan=_smart_plan(plan, campaign))
    if samples or chosen_contact_id:
        result.samples = _samples(campaign, plan, who, chosen_contact_id, samples)
    return result


# --- Launch and fan-out ------------------------------------------------------------------------------------------


def _snapshot_source(campaign: Campaign, plan: Plan) -> Source:
    rows = CampaignRecipient.objects.filter(campaign_id=campaign.pk).annotate(
        a_excluded=Value(False), a_reason=F("reason"),
    )
    exprs = {name: Coalesce(KeyTextTransform(name, "values"), Value(""), output_field=TextField())
             for name in plan.fields}
    return Source(rows, "country", '"campaigns_campaignrecipient"."contact_id"', exprs)


def _snapshot(campaign: Campaign, plan: Plan, who: Audience) -> int:
    """The audience, minus exclusions, into CampaignRecipient in one INSERT … SELECT (seq in contact id order)."""
    values = contact_source(who.contacts, plan, _custom_keys(campaign.account)).fields
    rows = who.contacts.filter(a_excluded=False).annotate(
        s_seq=Window(RowNumber(), order_by=F("pk").asc()), s_id=F("pk"), s_phone=F("phone_number"),
        s_country=F("country"),
    )
    if values:
        rows = rows.annotate(s_values=JSONObject(**values))
    sql, params = rows.values("s_seq", "s_id", "s_phone", "s_country", "a_reason",
                              *(["s_values"] if values else [])).query.sql_with_params()
    empty = "'{}'::jsonb" if db.vendor == "postgresql" else "'{}'"
    table = CampaignRecipient._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} (campaign_id, seq, contact_id, phone, country, reason, "values")'
            f" SELECT %s, a.s_seq, a.s_id, a.s_phone, a.s_country, a.a_reason,"
            f" {'a.s_values' if values else empty} FROM ({sql}) AS a",
            [campaign.pk, *params],
        )
        return cursor.rowcount


def _launch_problem(campaign: Campaign, problems: list[Problem]) -> None:
    if problems:
        first = problems[0]
        where = f" (at position {first.position})" if first.position is not None else ""
        raise DomainError(first.message + where, field=first.field)
    if not (campaign.audience.get("lists") or campaign.audience.get("segments")):
        raise DomainError("Choose at least one list or segment to send to.", field="audience")
    if campaign.schedule_mode == Campaign.ScheduleMode.AT:
        if campaign.schedule_at is None:
            raise DomainError("Choose when to send.", field="schedule")
    if campaign.schedule_mode == Campaign.ScheduleMode.LOCAL and not campaign.local_send_at:
        raise DomainError("Choose the local time to send at.", field="local_send_at")


def _starts_at(campaign: Campaign, now) -> datetime.datetime:
    if campaign.schedule_mode == Campaign.ScheduleMode.AT:
        return max(campaign.schedule_at, now)
    if campaign.schedule_mode == Campaign.ScheduleMode.LOCAL:
        # The earliest any zone reaches that wall-clock time: UTC+14 first.
        earliest = schedule.local_start(campaign.local_send_at, datetime.timezone(datetime.timedelta(hours=14)))
        return max(earliest, now)
    return now


def campaign_launch(*, campaign: Campaign, by=None) -> Campaign:
    """Snapshot the audience, price it exactly, reserve the whole cost (or refuse, writing nothing), and hand the
    fan-out to the workers. Returns the campaign, now scheduled or sending."""
    now = timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not campaign.is_draft:
            raise DomainError("This campaign was launched already.", field="status")
        plan, problems = plan_for(campaign)
        _launch_problem(campaign, problems)
        who = audience_of(campaign.account, campaign.audience)
        recipients = _snapshot(campaign, plan, who)
        if not recipients:
            raise DomainError("Nobody is left in this audience to send to.", field="audience")
        card = pricing_card_for(account=campaign.account)
        router = Router(campaign.account_id)
        counted = tally(plan, grouped(_snapshot_source(campaign, plan), plan), card=card, router=router)
        reservation = None
        if counted.cost > 0:
            try:
                reservation = accounts.credit_reserve(account_id=campaign.account_id, amount=counted.cost,
                                                      reference=f"campaign:{campaign.pk}")
            except InsufficientCredit:
                campaign.account.refresh_from_db(fields=["balance"])
                raise InsufficientCredit(
                    f"Insufficient credit: this campaign needs {counted.cost.normalize():f} "
                    f"{campaign.account.currency}, the balance is {campaign.account.balance.normalize():f}.",
                    field="balance",
                ) from None
        campaign.launched_at = now
        campaign.starts_at = _starts_at(campaign, now)
        campaign.status = Campaign.Status.SCHEDULED if campaign.starts_at > now else Campaign.Status.SENDING
        campaign.reservation_id = reservation.pk if reservation else None
        campaign.recipients = recipients
        campaign.prepared = 0
        campaign.reserved = counted.cost
        campaign.rates = {c: str(line.rate) for c, line in counted.countries.items()}
        campaign.save()
        from .tasks import prepare_kick

        transaction.on_commit(lambda: prepare_kick(campaign.pk))
    return campaign


def _message_row(campaign: Campaign, plan: Plan, recipient, rates: dict, *, now, index: int, zone: str, held: bool):
    rendered = plan.render(recipient.contact_id, recipient.values)
    body = rendered.body
    segments = encoding.segment_count(body)
    reason = recipient.reason or ("" if recipient.country in rates else "no_route")
    if reason:
        price, status, due, final_at, reservation = Decimal("0.0000"), statuses.BLOCKED, None, now, None
        error = messaging.REASON_TEXT.get(reason, "")
    else:
        price = Decimal(rates[recipient.country]) * segments
        quiet = (campaign.quiet_start, campaign.quiet_end) if campaign.quiet_hours else None
        due = schedule.due_at(mode=campaign.schedule_mode, starts_at=campaign.starts_at,
                              local_send_at=campaign.local_send_at, index=index, phone=recipient.phone,
                              workspace_zone=zone, rate_per_minute=campaign.rate_per_minute, quiet=quiet, now=now)
        status = statuses.QUEUED if due <= now else statuses.SCHEDULED
        final_at, error, reservation = None, "", campaign.reservation_id
        if held:
            due = None
    return (
        campaign.account_id, recipient.contact_id, campaign.pk, rendered.variant_key[:64], recipient.phone,
        recipient.country, campaign.sender, body, encoding.encoding_of(body), segments, price, reservation, status,
        reason, "", error, f"c{campaign.pk}-{recipient.contact_id}", 0, due, campaign.custom_string,
        Message.Source.CAMPAIGN, False, due, now, now if status == statuses.QUEUED else None, final_at, now,
    )


def campaign_prepare(*, campaign_id: int, limit: int = PREPARE_BATCH) -> dict:
    """Write the next `limit` messages of a launched campaign from its snapshot (one fan-out task's work).
    Idempotent: the campaign's row lock and its `prepared` count decide what is next."""
    now = timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.launched_at is None or campaign.prepared >= campaign.recipients:
            return {"prepared": 0, "more": False}
        if campaign.status == Campaign.Status.CANCELLED:
            return {"prepared": 0, "more": False}
        plan, problems = plan_for(campaign)
        if plan is None:  # a launched campaign's content cannot change; this is a bug, not bad input
            raise RuntimeError(f"campaign {campaign.pk} no longer compiles: {problems}")
        batch = list(CampaignRecipient.objects.filter(campaign_id=campaign.pk, seq__gt=campaign.prepared)
                     .order_by("seq")[:limit])
        held = campaign.status == Campaign.Status.PAUSED
        zone = campaign.account.timezone or "UTC"
        # The rate limit spaces messages by their place in the audience (seq): blocked ones leave a gap, so the
        # limit is never exceeded.
        rows = [_message_row(campaign, plan, recipient, campaign.rates or {}, now=now, index=recipient.seq - 1,
                             zone=zone, held=held) for recipient in batch]
        messaging.messages_insert(rows=rows)
        campaign.prepared = batch[-1].seq if batch else campaign.recipients
        done = campaign.prepared >= campaign.recipients
        if done:
            CampaignRecipient.objects.filter(campaign_id=campaign.pk).delete()
            _settle_unused(campaign)
        campaign.save(update_fields=["prepared", "updated_at"])
    return {"prepared": len(rows), "more": not done}


def _settle_unused(campaign: Campaign) -> None:
    """Give back whatever of the reservation the written messages do not hold (nothing, unless the audience's
    blocking changed between launch and fan-out)."""
    if not campaign.reservation_id:
        return
    written = Message.objects.filter(campaign_id=campaign.pk, reservation_id=campaign.reservation_id).aggregate(
        total=Sum("price"))["total"] or Decimal(0)
    unused = campaign.reserved - written
    if unused > 0:
        log.warning("campaign %s: %s of its reservation unused after fan-out; refunded", campaign.pk, unused)
        accounts.credit_release(reservation_id=campaign.reservation_id, refunded=unused)


# --- Pause, resume, cancel ---------------------------------------------------------------------------------------


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Hold what has not gone yet; messages already handed to a gateway finish."""
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.SENDING):
            raise DomainError("Only a scheduled or sending campaign can be paused.", field="status")
        messaging.messages_hold(account=campaign.account, campaign_id=campaign.pk)
        campaign.status, campaign.paused_at = Campaign.Status.PAUSED, timezone.now()
        campaign.save(update_fields=["status", "paused_at", "updated_at"])
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Carry on from where it paused: the held messages are planned again from now (quiet hours and the rate
    limit apply as at launch)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status != Campaign.Status.PAUSED:
            raise DomainError("Only a paused campaign can be resumed.", field="status")
        now = timezone.now()
        campaign.status = Campaign.Status.SCHEDULED if campaign.starts_at and campaign.starts_at > now \
            else Campaign.Status.SENDING
        campaign.paused_at = None
        campaign.save(update_fields=["status", "paused_at", "updated_at"])
        from .tasks import resume_kick

        transaction.on_commit(lambda: resume_kick(campaign.pk))
    return campaign


def campaign_replan(*, campaign_id: int, after_id: int = 0, done: int = 0, limit: int = PREPARE_BATCH) -> dict:
    """Give up to `limit` held messages of a resumed campaign their due times again, `done` being how many earlier
    calls replanned (the rate limit counts on from there). Returns where the next call starts."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.SENDING):
        return {"replanned": 0, "next": None}
    held = messaging.messages_held(account=campaign.account, campaign_id=campaign.pk, after_id=after_id, limit=limit)
    if not held:
        return {"replanned": 0, "next": None}
    now = timezone.now()
    quiet = (campaign.quiet_start, campaign.quiet_end) if campaign.quiet_hours else None
    zone = campaign.account.timezone or "UTC"
    not_started = campaign.starts_at is not None and campaign.starts_at > now
    mode = campaign.schedule_mode if not_started else Campaign.ScheduleMode.NOW
    start = campaign.starts_at if not_started else now
    due = [
        (message_id, schedule.due_at(mode=mode, starts_at=start, local_send_at=campaign.local_send_at,
                                     index=done + i, phone=to, workspace_zone=zone,
                                     rate_per_minute=campaign.rate_per_minute, quiet=quiet, now=now))
        for i, (message_id, to, _) in enumerate(held)
    ]
    messaging.messages_reschedule(account=campaign.account, due=due)
    more = len(held) == limit
    return {"replanned": len(due), "next": held[-1][0] if more else None, "done": done + len(due)}


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop for good: waiting messages are cancelled and refunded, and so is the part of the reservation no
    message was written for yet."""
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED):
            raise DomainError("Only a scheduled, sending or paused campaign can be cancelled.", field="status")
        messaging.messages_cancel(account=campaign.account, campaign_id=campaign.pk)
        if campaign.prepared < campaign.recipients:
            CampaignRecipient.objects.filter(campaign_id=campaign.pk).delete()
            campaign.recipients = campaign.prepared
            _settle_unused(campaign)
        campaign.status, campaign.finished_at = Campaign.Status.CANCELLED, timezone.now()
        campaign.save(update_fields=["status", "finished_at", "recipients", "updated_at"])
    return campaign


# --- Test sends and replies --------------------------------------------------------------------------------------


def campaign_test_send(*, campaign: Campaign, to: str, contact_id: int | None = None,
                       source: str = Message.Source.UI):
    """Send the message one recipient would get (the chosen contact's, else with empty merge fields) to a phone
    of your own, now, charged as any message. Returns messages_send's result."""
    plan, problems = plan_for(campaign)
    if problems:
        first = problems[0]
        raise DomainError(first.message, field=first.field)
    contact = Contact.objects.filter(account=campaign.account, pk=contact_id).first() if contact_id else None
    values = contact_values(contact, plan.fields, _custom_keys(campaign.account)) if contact else {}
    rendered = plan.render(contact.pk if contact else 0, values)
    result = messaging.messages_send(
        account=campaign.account, source=source,
        requests=[messaging.SmsRequest(to=to, body=rendered.body, sender=campaign.sender,
                                       custom_string=f"test of campaign {campaign.pk}")],
    )
    outcome = result.outcomes[0]
    if outcome.code == "INVALID_RECIPIENT":
        raise DomainError(f"{to!r} is not a phone number: {outcome.detail}", field="to")
    return result


def campaign_attribute_inbound(*, account_id: int, phone: str, at: datetime.datetime, opt_out: bool = False) -> int:
    """Credit an inbound message to the campaign whose message reached this number within the last 72 hours (the
    latest one): a reply, and an opt-out too when it was one. Returns how many responses were recorded (0, 1 or 2)."""
    return campaign_attribute_replies(account_id=account_id, replies=[(phone, at, opt_out)])


def campaign_attribute_replies(*, account_id: int, replies: list[tuple[str, datetime.datetime, bool]]) -> int:
    """campaign_attribute_inbound for a batch of (phone, received at, is an opt-out): the inbox calls this for the
    inbound SMS it stores, one query for their campaign messages whatever their number."""
    if not replies:
        return 0
    earliest, latest = min(at for _, at, _ in replies), max(at for _, at, _ in replies)
    sent = defaultdict(list)  # phone: its campaign messages in the window, latest first
    for row in (Message.objects.filter(account_id=account_id, to__in={p for p, _, _ in replies},
                                       campaign_id__isnull=False, submitted_at__gte=earliest - ATTRIBUTION_WINDOW,
                                       submitted_at__lte=latest)
                .order_by("-submitted_at", "-id").values("id", "to", "campaign_id", "variant_key", "submitted_at")):
        sent[row["to"]].append(row)
    ours = set(Campaign.objects.filter(account_id=account_id, pk__in={r["campaign_id"] for rows in sent.values()
                                                                     for r in rows}).values_list("pk", flat=True))
    responses = []
    for phone, at, opt_out in replies:
        message = next((r for r in sent.get(phone, ()) if at - ATTRIBUTION_WINDOW <= r["submitted_at"] <= at), None)
        if message is None or message["campaign_id"] not in ours:
            continue
        kinds = [CampaignResponse.Kind.REPLY] + ([CampaignResponse.Kind.OPT_OUT] if opt_out else [])
        responses += [CampaignResponse(campaign_id=message["campaign_id"], message_id=message["id"],
                                       variant_key=message["variant_key"], kind=kind, at=at) for kind in kinds]
    return len(CampaignResponse.objects.bulk_create(responses, ignore_conflicts=True))


# --- The clock ---------------------------------------------------------------------------------------------------

SAMPLE_EVERY = datetime.timedelta(seconds=60)
STALLED_AFTER = datetime.timedelta(seconds=60)
SAMPLE_AFTER_FINISH = datetime.timedelta(hours=2)  # delivery reports keep coming after the last send


def campaign_sample(*, campaign: Campaign, now=None) -> None:
    from .selectors import campaign_status_counts

    CampaignSample.objects.create(campaign=campaign, at=now or timezone.now(),
                                  counts=campaign_status_counts(campaign=campaign))


def campaigns_tick(*, now=None) -> dict:
    """Start campaigns whose time came, complete those with nothing left to send, sample the active ones for
    their statuses-over-time chart, and re-kick a fan-out whose task was lost."""
    from .selectors import campaign_status_counts
    from .tasks import prepare_kick

    now = now or timezone.now()
    started = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, starts_at__lte=now).update(
        status=Campaign.Status.SENDING, updated_at=now)
    stalled = list(Campaign.objects.filter(
        status__in=(Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED),
        prepared__lt=F("recipients"), updated_at__lt=now - STALLED_AFTER,
    ).values_list("pk", flat=True))
    for campaign_id in stalled:
        prepare_kick(campaign_id)
    completed = sampled = 0
    watched = Campaign.objects.filter(
        Q(status=Campaign.Status.SENDING) | Q(status=Campaign.Status.COMPLETED, finished_at__gte=now - SAMPLE_AFTER_FINISH)
    )
    for campaign in watched:
        counts = None
        last = campaign.samples.order_by("-at").values_list("at", flat=True).first()
        if last is None or now - last >= SAMPLE_EVERY:
            counts = campaign_status_counts(campaign=campaign)
            CampaignSample.objects.create(campaign=campaign, at=now, counts=counts)
            sampled += 1
        if campaign.status == Campaign.Status.SENDING and campaign.prepared >= campaign.recipients:
            counts = counts if counts is not None else campaign_status_counts(campaign=campaign)
            if not any(counts.get(s) for s in (statuses.SCHEDULED, statuses.QUEUED, statuses.SENDING)):
                Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
                    status=Campaign.Status.COMPLETED, finished_at=now, updated_at=now)
                CampaignSample.objects.create(campaign=campaign, at=now, counts=counts)
                completed += 1
    return {"started": started, "completed": completed, "sampled": sampled, "rekicked": len(stalled)}
