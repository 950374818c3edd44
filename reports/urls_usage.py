from django.urls import path

from . import views_usage

urlpatterns = [
    path("usage/", views_usage.usage_page, name="usage"),
    path("usage.csv", views_usage.usage_csv, name="usage-csv"),
]
