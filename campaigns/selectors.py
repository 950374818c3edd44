"""Reads of the campaigns app, scoped to the caller's workspace. Counts come from the message stats rollup and
the responses table, never from a COUNT(*) over the messages table."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet

from smsportal.accounts.permissions import Access
from smsportal.errors import one_or_not_found
from smsportal.messaging import spintax, statuses
from smsportal.messaging.selectors import message_stats

from .models import Campaign, CampaignResponse, CampaignVariant

WAITING = (statuses.SCHEDULED, statuses.QUEUED, statuses.SENDING)
ATTEMPTED = (statuses.SENT, statuses.DELIVERED, statuses.UNDELIVERED, statuses.FAILED)
SPIN_ROWS = 12  # spintax choices shown per variant before the rest are folded into "other"


def campaign_queryset(*, access: Access) -> QuerySet[Campaign]:
    return Campaign.objects.filter(account=access.account).prefetch_related(
        Prefetch("variants", queryset=CampaignVariant.objects.order_by("position", "id"))
    )


def campaign_get(*, access: Access, campaign_id) -> Campaign:
    return one_or_not_found(campaign_queryset(access=access), campaign_id, field="sms_campaign_id",
                            message=f"No SMS campaign with id {campaign_id}.")


def campaign_status_counts(*, campaign: Campaign) -> dict[str, int]:
    rows = message_stats(campaign_id=campaign.pk, account_ids=[campaign.account_id], group_by=("status",))
    return {row["status"]: row["messages"] for row in rows}


def campaigns_lines(*, campaigns) -> dict[int, "Line"]:
    """Counts by status and spend for a page of campaigns, in one rollup query."""
    launched = [c for c in campaigns if c.launched_at]
    if not launched:
        return {}
    lines = {c.pk: Line(c.name) for c in launched}
    rows = message_stats(account_ids=sorted({c.account_id for c in launched}),
                         campaign_ids=[c.pk for c in launched], group_by=("campaign_id", "status"))
    for row in rows:
        lines[row["campaign_id"]].add(row["status"], row["messages"], row["segments"], row["cost"])
    return lines


def campaigns_status_counts(*, campaigns) -> dict[int, dict[str, int]]:
    """Counts by status for a page of campaigns, in one rollup query."""
    return {pk: dict(line.counts) for pk, line in campaigns_lines(campaigns=campaigns).items()}


@dataclass
class Line:
    """One row of a report table: a whole campaign, a variant, or a spintax choice."""

    label: str
    counts: Counter = field(default_factory=Counter)
    segments: int = 0
    spend: Decimal = Decimal("0.0000")
    replies: int = 0
    opt_outs: int = 0

    @property
    def messages(self) -> int:
        return sum(self.counts.values())

    @property
    def status_rows(self) -> list[tuple[str, int]]:
        """(status, messages), most first — for templates, which cannot call a Counter's methods."""
        return [(status, n) for status, n in self.counts.most_common() if n]

    @property
    def reached(self) -> int:
        return sum(self.counts[s] for s in statuses.REACHED_CARRIER)

    @property
    def finished(self) -> int:
        return self.counts[statuses.DELIVERED] + self.counts[statuses.UNDELIVERED] + self.counts[statuses.FAILED]

    @property
    def delivery_rate(self) -> float | None:
        return self.counts[statuses.DELIVERED] / self.finished if self.finished else None

    @property
    def reply_rate(self) -> float | None:
        return self.replies / self.reached if self.reached else None

    @property
    def opt_out_rate(self) -> float | None:
        return self.opt_outs / self.reached if self.reached else None

    def add(self, status: str, messages: int, segments: int, cost: Decimal) -> None:
        self.counts[status] += messages
        self.segments += segments
        if status in statuses.CHARGEABLE:
            self.spend += cost


@dataclass
class Report:
    total: Line
    variants: list[Line]
    choices: dict[str, list[Line]]  # variant label -> one line per top-level spintax choice
    samples: list  # (at, counts) for the statuses-over-time chart

    @property
    def waiting(self) -> int:
        return sum(self.total.counts[s] for s in WAITING)

    @property
    def progress(self) -> int:
        """Percent of the messages that are done with sending (whatever their outcome)."""
        total = self.total.messages
        return round(100 * (total - self.waiting) / total) if total else 0


def _split_key(variant_key: str) -> tuple[str, str]:
    """("A", "1") from "A/1.0.2": the explicit variant and the first spintax choice."""
    label, _, spin = variant_key.partition("/")
    return label or "A", spin.split(".")[0] if spin else ""


def campaign_report(*, campaign: Campaign) -> Report:
    rows = message_stats(campaign_id=campaign.pk, account_ids=[campaign.account_id],
                         group_by=("variant_key", "status"))
    responses = (CampaignResponse.objects.filter(campaign=campaign).values("variant_key", "kind")
                 .annotate(n=Count("id")).order_by())
    total = Line("All recipients")
    variants = {v.label: Line(v.label) for v in campaign.variants.all()}
    choices: dict[str, dict[str, Line]] = defaultdict(dict)
    for row in rows:
        label, choice = _split_key(row["variant_key"])
        targets = [total, variants.setdefault(label, Line(label))]
        if choice:
            targets.append(choices[label].setdefault(choice, Line(choice)))
        for line in targets:
            line.add(row["status"], row["messages"], row["segments"], row["cost"])
    for row in responses:
        label, choice = _split_key(row["variant_key"])
        targets = [total, variants.setdefault(label, Line(label))]
        if choice:
            targets.append(choices[label].setdefault(choice, Line(choice)))
        for line in targets:
            if row["kind"] == CampaignResponse.Kind.REPLY:
                line.replies += row["n"]
            else:
                line.opt_outs += row["n"]
    ordered_choices = {}
    texts = {v.label: spintax.parse(v.body).first_choices() for v in campaign.variants.all()}
    for label, lines in choices.items():
        ordered = sorted(lines.values(), key=lambda line: int(line.label))
        for line in ordered:
            index = int(line.label)
            shown = (texts.get(label) or [])[index:index + 1]
            text = shown[0].strip() if shown else ""
            text = text if len(text) <= 24 else text[:23] + "…"
            line.label = f"{label} · “{text}”" if text else f"{label} · choice {index + 1}"
        ordered_choices[label] = ordered[:SPIN_ROWS]
    samples = list(campaign.samples.values_list("at", "counts"))
    return Report(total, list(variants.values()), ordered_choices, samples)
