"""A URLconf with one endpoint that fails, to see the 500 envelope through the real stack."""

from django.urls import include, path
from rest_framework.views import APIView


class Boom(APIView):
    capabilities = {"GET": "account.view"}

    def get(self, request):
        raise RuntimeError("kaboom: internal detail that must not leak")


urlpatterns = [
    path("v3/boom", Boom.as_view()),
    path("", include("smsportal.urls")),
]
