from django.contrib import admin
from django.urls import include, path

from smsportal.api.envelope import error_response

from reports import views as reports_views

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("v3/", include(("smsportal.api.urls", "api"), namespace="api")),
    path("admin/", admin.site.urls),
    path("contacts/", include("contacts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("inbox/", include("inbox.urls")),
    path("", reports_views.dashboard, name="dashboard"),
    path("reports/", include("reports.urls")),
    path("", include("smsportal.messaging.urls")),
    path("", include("smsportal.accounts.urls")),
]


def _is_api(request) -> bool:
    return request.path.startswith("/v3/")


def handler404(request, exception=None):
    if _is_api(request):
        return error_response(status=404, code="NOT_FOUND", description=f"No endpoint at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return error_response(status=500, code="INTERNAL_ERROR", description="Something went wrong on our side.")
    from django.views.defaults import server_error

    return server_error(request)
