"""/v3/sms-campaigns: ClickSend's SmsCampaignsApi (send, price, list, view, update, cancel), then smsportal's own on
the same objects: drafts, launch, pause, resume, duplicate, delete, test sends, the composer's preview and the
report. Views validate, call the campaigns services and selectors (the same the UI calls), and serialize.

Capabilities: reading needs `campaigns.view`; anything that changes a campaign needs `campaigns.edit`; whatever
sends or prices a send (send, price, launch, resume, test) needs `sms.send` too, as /v3/sms/send does.
"""

from contextlib import contextmanager
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, viewsets
from rest_framework.decorators import action

from contacts import selectors as contact_selectors
from smsportal.accounts.permissions import Access
from smsportal.api.envelope import respond
from smsportal.api.pagination import ClickSendPagination
from smsportal.api.permissions import HasCapability
from smsportal.errors import DomainError
from smsportal.messaging.api.serializers import SendResultSerializer
from smsportal.messaging.models import Message

from .. import selectors, services
from ..models import Campaign
from .serializers import (
    STATUS_WORDS,
    CampaignInSerializer,
    CampaignPriceSerializer,
    PreviewInSerializer,
    PreviewSerializer,
    ReportSerializer,
    SendCampaignInSerializer,
    SmsCampaignSerializer,
    TestSendInSerializer,
)

READ, EDIT, SEND = "campaigns.view", "campaigns.edit", "sms.send"
SENDING_ACTIONS = frozenset({"send", "price", "launch", "resume", "test"})
# ClickSend's `q=field:value` fields smsportal filters campaigns by, and its `order_by` fields.
Q_FIELDS = ("sms_campaign_id", "name", "status", "from", "custom_string", "source")
ORDERINGS = {"sms_campaign_id": "id", "date_added": "id", "name": "name", "status": "status", "from": "sender",
             "schedule": "o_schedule"}
# The API's field names for what the services call otherwise.
RENAMED = {"from": "sender"}
PRICE_NAME = "Price check"  # a dry run needs a name only because a campaign has one


class SendsToo(permissions.BasePermission):
    """The sending actions need `sms.send` as well as their campaigns capability."""

    def has_permission(self, request, view):
        access = request.auth
        if getattr(view, "action", None) in SENDING_ACTIONS and isinstance(access, Access) and not access.can(SEND):
            raise exceptions.PermissionDenied(
                f"Your {'API key' if access.via == 'api_key' else access.role + ' role'} may not send SMS."
            )
        return True


def _unix_param(request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(raw), tz=dt_timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise serializers.ValidationError({name: [f"{name} must be Unix seconds, got {raw!r}."]}) from None


# --- From the request to the services ------------------------------------------------------------------------


def service_data(validated: dict, *, now: datetime) -> dict:
    """The campaign fields of a validated request as campaign_save takes them. A `schedule` in the future means
    schedule_mode "at" unless the request says otherwise; 0 or one in the past means "now"."""
    data = {RENAMED.get(name, name): value for name, value in validated.items()
            if name not in ("schedule", "sms_campaign_id", "contact_id")}
    if "from" in validated:
        data["sender"] = validated["from"] or ""
    if "schedule" in validated:
        at = datetime.fromtimestamp(validated["schedule"], tz=dt_timezone.utc) if validated["schedule"] else None
        future = at is not None and at > now
        mode = data.setdefault("schedule_mode", Campaign.ScheduleMode.AT if future else Campaign.ScheduleMode.NOW)
        data["schedule_at"] = at if mode == Campaign.ScheduleMode.AT else None
    return data


@contextmanager
def fields_as_sent(validated: dict):
    """Name the request's own fields in the services' errors: a ClickSend client that sent `body` or `list_id` hears
    about `body` or `list_id`, not about variants.0.body or audience.lists."""
    try:
        yield
    except DomainError as exc:
        if "body" in validated and exc.field in ("variants", "variants.0", "variants.0.body"):
            exc.field = "body"
        elif validated.get("list_id") is not None and exc.field in ("audience", "audience.lists"):
            exc.field = "list_id"
        raise


def _save(request, validated: dict, campaign: Campaign | None = None) -> Campaign:
    access = request.auth
    with fields_as_sent(validated):
        return services.campaign_save(account=access.account, data=service_data(validated, now=timezone.now()),
                                      campaign=campaign, by=access.user)


@contextmanager
def dry_run():
    """Whatever is written inside is rolled back: a price or a preview of unsaved content saves a draft (so it is
    validated and counted exactly as a saved one would be) and then forgets it."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _raise_problem(preview) -> None:
    if preview.problems:
        first = preview.problems[0]
        where = f" (at position {first.position})" if first.position is not None else ""
        raise DomainError(first.message + where, field=first.field)


# --- Reading ------------------------------------------------------------------------------------------------------


def filtered(campaigns, request):
    """ClickSend's `q=field:value` (several separated by commas; text without a field searches the name),
    `date_from` and `date_to` (Unix seconds, on date_added) and `order_by=field:asc|desc`. Newest first without
    order_by."""
    for part in filter(None, (p.strip() for p in (request.query_params.get("q") or "").split(","))):
        name, sep, value = part.partition(":")
        name, value = (name.strip().lower(), value.strip()) if sep else ("name", part)
        if name not in Q_FIELDS:
            raise serializers.ValidationError({"q": [f"q filters by {', '.join(Q_FIELDS)} (as field:value)."]})
        if name == "status":
            wanted = [s for s, word in STATUS_WORDS.items() if value.lower() in (word.lower(), s)]
            if not wanted:
                raise serializers.ValidationError({"q": [f"status is one of {', '.join(STATUS_WORDS.values())}."]})
            campaigns = campaigns.filter(status__in=wanted)
        elif name == "sms_campaign_id":
            campaigns = campaigns.filter(pk=int(value)) if value.isdigit() else campaigns.none()
        elif name == "from":
            campaigns = campaigns.filter(sender=value)
        else:
            campaigns = campaigns.filter(**{f"{name}__icontains": value})
    date_from, date_to = _unix_param(request, "date_from"), _unix_param(request, "date_to")
    if date_from is not None:
        campaigns = campaigns.filter(created_at__gte=date_from)
    if date_to is not None:
        campaigns = campaigns.filter(created_at__lte=date_to)
    order_by = request.query_params.get("order_by")
    if order_by:
        field, _, direction = order_by.partition(":")
        column, direction = ORDERINGS.get(field.strip().lower()), (direction.strip() or "asc").lower()
        if column is None or direction not in ("asc", "desc"):
            raise serializers.ValidationError({"order_by": [
                f"Use field:asc or field:desc with a field of {', '.join(ORDERINGS)}."
            ]})
        if column == "o_schedule":  # drafts to send "now" have none: they sort as the earliest
            campaigns = campaigns.annotate(o_schedule=Coalesce(F("starts_at"), F("schedule_at")))
        if direction == "desc":
            campaigns = campaigns.order_by(F(column).desc(nulls_last=True), "-id")
        else:
            campaigns = campaigns.order_by(F(column).asc(nulls_first=True), "id")
    return campaigns


def list_names(access: Access, campaigns) -> dict[int, str]:
    """The name of each campaign's first list (ClickSend's `_list_name`), in one query."""
    ids = {(c.audience or {}).get("lists", [None])[0] for c in campaigns if (c.audience or {}).get("lists")}
    if not ids:
        return {}
    return dict(contact_selectors.list_queryset(access=access).filter(pk__in=ids).values_list("pk", "name"))


def campaign_data(request, campaigns, *, many=False):
    access = request.auth
    items = list(campaigns) if many else [campaigns]
    if many:
        counts = selectors.campaigns_status_counts(campaigns=items)
    else:
        counts = {items[0].pk: selectors.campaign_status_counts(campaign=items[0])} if items[0].launched_at else {}
    context = {"account": access.account, "list_names": list_names(access, items), "counts": counts}
    return SmsCampaignSerializer(campaigns, many=many, context=context).data


LIST_PARAMETERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="field:value with a field of " + ", ".join(Q_FIELDS)
                     + " (e.g. status:Scheduled, name:summer sale; several separated by commas); text "
                     "without a field searches the name"),
    OpenApiParameter("order_by", OpenApiTypes.STR, description="field:asc|desc, field one of " + ", ".join(ORDERINGS)
                     + "; newest first without it"),
    OpenApiParameter("date_from", OpenApiTypes.INT, description="Unix seconds: added at or after"),
    OpenApiParameter("date_to", OpenApiTypes.INT, description="Unix seconds: added at or before"),
]
CAMPAIGN = SmsCampaignSerializer
NO_CREDIT = OpenApiResponse(description="INSUFFICIENT_CREDIT: the balance does not cover the whole campaign.")


class SmsCampaignViewSet(viewsets.ViewSet):
    """The workspace's SMS campaigns. Another workspace's campaign ids answer 404."""

    permission_classes = [HasCapability, SendsToo]
    capabilities = {
        "list": READ, "retrieve": READ, "report": READ, "preview": READ,
        "create": EDIT, "update": EDIT, "destroy": EDIT, "duplicate": EDIT, "cancel": EDIT, "pause": EDIT,
        "send": EDIT, "price": EDIT, "launch": EDIT, "resume": EDIT, "test": EDIT,
    }
    lookup_field = "sms_campaign_id"
    lookup_value_regex = "[0-9]+"

    def _get(self, request, sms_campaign_id) -> Campaign:
        return selectors.campaign_get(access=request.auth, campaign_id=sms_campaign_id)

    # --- ClickSend's ---------------------------------------------------------------------------------------------

    @extend_schema(parameters=LIST_PARAMETERS, responses=CAMPAIGN(many=True),
                   summary="View SMS campaigns (SmsCampaignsApi.view_sms_campaigns)")
    def list(self, request):
        paginator = ClickSendPagination()
        campaigns = filtered(selectors.campaign_queryset(access=request.auth), request)
        page = paginator.paginate_queryset(campaigns, request, view=self)
        return paginator.get_paginated_response(campaign_data(request, page, many=True))

    @extend_schema(responses=CAMPAIGN, summary="View an SMS campaign (SmsCampaignsApi.view_specific_sms_campaign)")
    def retrieve(self, request, sms_campaign_id=None):
        return respond(campaign_data(request, self._get(request, sms_campaign_id)), "Your SMS Campaign.")

    @extend_schema(request=SendCampaignInSerializer, responses={200: CAMPAIGN, 402: NO_CREDIT},
                   summary="Create and launch an SMS campaign (SmsCampaignsApi.send_sms_campaign): all or nothing; "
                           "a launch refused (e.g. INSUFFICIENT_CREDIT) leaves no campaign behind")
    @action(detail=False, methods=["post"])
    def send(self, request):
        incoming = SendCampaignInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        with transaction.atomic():
            campaign = _save(request, incoming.validated_data)
            with fields_as_sent(incoming.validated_data):
                campaign = services.campaign_launch(campaign=campaign, by=request.auth.user)
        return respond(campaign_data(request, campaign), "Your new campaign has been added.")

    @extend_schema(request=SendCampaignInSerializer, responses=CampaignPriceSerializer,
                   summary="Calculate an SMS campaign's price (SmsCampaignsApi.calculate_sms_campaign_price): the "
                           "same request as send, as a dry run")
    @action(detail=False, methods=["post"])
    def price(self, request):
        incoming = SendCampaignInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        validated = {"name": PRICE_NAME, **incoming.validated_data}
        with dry_run():
            campaign = _save(request, validated)
            preview = services.campaign_preview(campaign=campaign, samples=0)
            with fields_as_sent(validated):
                _raise_problem(preview)
            data = CampaignPriceSerializer(preview, context={"account": request.auth.account,
                                                             "campaign": campaign}).data
        return respond(data, "Here is your price for your SMS Campaign.")

    @extend_schema(request=CampaignInSerializer, responses=CAMPAIGN,
                   summary="Update a draft SMS campaign (SmsCampaignsApi.update_sms_campaign); only the fields given "
                           "change, and a launched campaign cannot")
    def update(self, request, sms_campaign_id=None):
        campaign = self._get(request, sms_campaign_id)
        incoming = CampaignInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        campaign = _save(request, incoming.validated_data, campaign)
        return respond(campaign_data(request, campaign), "Your SMS Campaign has been updated.")

    @extend_schema(request=None, responses=CAMPAIGN,
                   summary="Cancel an SMS campaign (SmsCampaignsApi.cancel_sms_campaign): messages not yet sent are "
                           "cancelled and refunded")
    @action(detail=True, methods=["put"])
    def cancel(self, request, sms_campaign_id=None):
        campaign = services.campaign_cancel(campaign=self._get(request, sms_campaign_id))
        return respond(campaign_data(request, campaign), "Your SMS Campaign has been cancelled.")

    # --- smsportal's ---------------------------------------------------------------------------------------------

    @extend_schema(request=CampaignInSerializer, responses=CAMPAIGN,
                   summary="Save a draft SMS campaign (launch it with POST /v3/sms-campaigns/{id}/launch)")
    def create(self, request):
        incoming = CampaignInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        campaign = _save(request, incoming.validated_data)
        return respond(campaign_data(request, campaign), "Your draft SMS Campaign has been saved.")

    @extend_schema(responses=OpenApiTypes.BOOL,
                   summary="Delete a draft or finished SMS campaign (its messages stay in the message log)")
    def destroy(self, request, sms_campaign_id=None):
        services.campaign_delete(campaign=self._get(request, sms_campaign_id))
        return respond(True, f"SMS Campaign #{sms_campaign_id} has been deleted.")

    @extend_schema(request=None, responses={200: CAMPAIGN, 402: NO_CREDIT},
                   summary="Launch a draft: the audience is snapshotted and the whole cost reserved, or nothing is")
    @action(detail=True, methods=["post"])
    def launch(self, request, sms_campaign_id=None):
        campaign = services.campaign_launch(campaign=self._get(request, sms_campaign_id), by=request.auth.user)
        return respond(campaign_data(request, campaign), "Your SMS Campaign has been launched.")

    @extend_schema(request=None, responses=CAMPAIGN, summary="Pause a scheduled or sending SMS campaign")
    @action(detail=True, methods=["put"])
    def pause(self, request, sms_campaign_id=None):
        campaign = services.campaign_pause(campaign=self._get(request, sms_campaign_id))
        return respond(campaign_data(request, campaign), "Your SMS Campaign has been paused.")

    @extend_schema(request=None, responses=CAMPAIGN, summary="Resume a paused SMS campaign")
    @action(detail=True, methods=["put"])
    def resume(self, request, sms_campaign_id=None):
        campaign = services.campaign_resume(campaign=self._get(request, sms_campaign_id))
        return respond(campaign_data(request, campaign), "Your SMS Campaign has been resumed.")

    @extend_schema(request=None, responses=CAMPAIGN,
                   summary="Duplicate an SMS campaign as a new draft (same content, audience and settings)")
    @action(detail=True, methods=["post"])
    def duplicate(self, request, sms_campaign_id=None):
        copy = services.campaign_duplicate(campaign=self._get(request, sms_campaign_id), by=request.auth.user)
        return respond(campaign_data(request, copy), "Your SMS Campaign has been duplicated as a draft.")

    @extend_schema(request=TestSendInSerializer, responses=SendResultSerializer,
                   summary="Send the campaign's message to your own phone now (charged as any SMS); answers as "
                           "/v3/sms/send")
    @action(detail=True, methods=["post"])
    def test(self, request, sms_campaign_id=None):
        campaign = self._get(request, sms_campaign_id)
        incoming = TestSendInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        date = int(timezone.now().timestamp())
        result = services.campaign_test_send(campaign=campaign, to=incoming.validated_data["to"],
                                             contact_id=incoming.validated_data.get("contact_id"),
                                             source=Message.Source.API)
        data = SendResultSerializer(result, context={"account": request.auth.account, "date": date}).data
        message = "Test message queued." if result.queued_count else "The test message was not sent: see its status."
        return respond(data, message)

    @extend_schema(responses=ReportSerializer,
                   summary="An SMS campaign's report: totals by status, rates, spend, per variant and per spintax "
                           "choice, and the statuses-over-time samples")
    @action(detail=True, methods=["get"])
    def report(self, request, sms_campaign_id=None):
        campaign = self._get(request, sms_campaign_id)
        report = selectors.campaign_report(campaign=campaign)
        return respond(ReportSerializer(report, context={"campaign": campaign, "account": request.auth.account}).data,
                        "Here is your SMS Campaign's report.")

    @extend_schema(request=PreviewInSerializer,
                   responses={200: PreviewSerializer, 404: OpenApiResponse(description="No such sms_campaign_id.")},
                   summary="Preview a campaign exactly as it would send: recipients, blocked, segments, cost by "
                           "country and variant, problems and rendered samples; nothing is saved. Give the content "
                           "as for send, or sms_campaign_id (with any unsaved changes to it)")
    @action(detail=False, methods=["post"])
    def preview(self, request):
        incoming = PreviewInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        validated = incoming.validated_data
        contact_id = validated.get("contact_id")
        changes = {k: v for k, v in validated.items() if k not in ("sms_campaign_id", "contact_id")}
        campaign = None
        if "sms_campaign_id" in validated:
            campaign = self._get(request, validated["sms_campaign_id"])
            if not changes:
                preview = services.campaign_preview(campaign=campaign, chosen_contact_id=contact_id)
                return respond(PreviewSerializer(preview).data, "Here is your SMS Campaign's preview.")
        if campaign is None:
            changes.setdefault("name", PRICE_NAME)
        with dry_run():
            saved = _save(request, changes, campaign)
            preview = services.campaign_preview(campaign=saved, chosen_contact_id=contact_id)
            data = PreviewSerializer(preview).data
        return respond(data, "Here is your SMS Campaign's preview.")
