"""smsportal's /v3/segments (saved dynamic audiences, with live counts) and /v3/custom-fields."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from smsportal.api.pagination import ClickSendPagination
from smsportal.errors import NotFound

from .. import segments, selectors, services
from .serializers import (
    CustomFieldSerializer,
    CustomFieldWriteSerializer,
    SegmentCountSerializer,
    SegmentRulesSerializer,
    SegmentSerializer,
    SegmentUpdateSerializer,
    SegmentWriteSerializer,
)

READ, WRITE = "contacts.view", "contacts.edit"


def _respond(data, message: str) -> Response:
    response = Response(data)
    response.response_msg = message
    return response


class SegmentViewSet(viewsets.ViewSet):
    """Rules errors name their path: `rules.conditions.2.value`. Another workspace's segment ids answer 404."""

    capabilities = {
        "list": READ, "retrieve": READ, "count": READ, "count_rules": READ,
        "create": WRITE, "update": WRITE, "destroy": WRITE,
    }
    lookup_field = "segment_id"
    lookup_value_regex = "[0-9]+"

    def _get(self, request, segment_id):
        return selectors.segment_get(access=request.auth, segment_id=segment_id)

    @extend_schema(responses=SegmentSerializer(many=True), summary="View segments")
    def list(self, request):
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(selectors.segment_queryset(access=request.auth), request, view=self)
        return paginator.get_paginated_response(SegmentSerializer(page, many=True).data)

    @extend_schema(request=SegmentWriteSerializer, responses=SegmentSerializer, summary="Create a segment")
    def create(self, request):
        incoming = SegmentWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        segment = segments.segment_create(account=request.auth.account, **incoming.validated_data)
        return _respond(SegmentSerializer(segment).data, "New segment has been created.")

    @extend_schema(responses=SegmentSerializer, summary="View a segment")
    def retrieve(self, request, segment_id=None):
        return Response(SegmentSerializer(self._get(request, segment_id)).data)

    @extend_schema(request=SegmentUpdateSerializer, responses=SegmentSerializer,
                   summary="Update a segment's name and/or rules")
    def update(self, request, segment_id=None):
        segment = self._get(request, segment_id)
        incoming = SegmentUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        segment = segments.segment_update(segment=segment, **incoming.validated_data)
        return _respond(SegmentSerializer(segment).data, f"Segment #{segment.pk} has been updated.")

    @extend_schema(responses=OpenApiTypes.BOOL, summary="Delete a segment")
    def destroy(self, request, segment_id=None):
        segments.segment_delete(segment=self._get(request, segment_id))
        return _respond(True, f"Segment #{segment_id} has been deleted.")

    @extend_schema(responses=SegmentCountSerializer, summary="Count a segment's contacts now")
    @action(detail=True, methods=["get"], url_path="count")
    def count(self, request, segment_id=None):
        segment = self._get(request, segment_id)
        return Response(segments.segment_count(request.auth.account, segment.rules))

    @extend_schema(request=SegmentRulesSerializer, responses=SegmentCountSerializer,
                   summary="Count the contacts unsaved rules would match (the editor's live count)")
    @action(detail=False, methods=["post"], url_path="count")
    def count_rules(self, request):
        incoming = SegmentRulesSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _respond(segments.segment_count(request.auth.account, incoming.validated_data["rules"]), "Counted.")


class CustomFieldViewSet(viewsets.ViewSet):
    """The workspace's named contact fields (text, number or date), set on contacts as `fields.<key>`."""

    capabilities = {"list": READ, "create": WRITE, "destroy": WRITE}
    lookup_field = "field_id"
    lookup_value_regex = "[0-9]+"

    @extend_schema(responses=CustomFieldSerializer(many=True), summary="View custom fields")
    def list(self, request):
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(selectors.custom_field_queryset(access=request.auth), request, view=self)
        return paginator.get_paginated_response(CustomFieldSerializer(page, many=True).data)

    @extend_schema(request=CustomFieldWriteSerializer, responses=CustomFieldSerializer,
                   summary="Create a custom field")
    def create(self, request):
        incoming = CustomFieldWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        field = services.custom_field_create(account=request.auth.account, **incoming.validated_data)
        return _respond(CustomFieldSerializer(field).data, "New custom field has been created.")

    @extend_schema(responses=OpenApiTypes.BOOL, summary="Delete a custom field")
    def destroy(self, request, field_id=None):
        field = selectors.custom_field_queryset(access=request.auth).filter(pk=int(field_id)).first()
        if field is None:
            raise NotFound(f"No custom field with id {field_id}.", field="field_id")
        services.custom_field_delete(field=field)
        return _respond(True, f"Custom field #{field_id} has been deleted.")
