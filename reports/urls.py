from django.urls import path, re_path

from . import views, views_usage

app_name = "reports"
urlpatterns = [
    path("", views.reports, name="index"),
    re_path(rf"^(?P<name>{'|'.join(views.TABLES)})\.csv$", views.table_csv, name="csv"),
    path("usage/", views_usage.usage_page, name="usage"),
    path("usage.csv", views_usage.usage_csv, name="usage-csv"),
]
