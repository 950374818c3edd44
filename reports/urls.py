from django.urls import path, re_path

from . import views

app_name = "reports"
urlpatterns = [
    path("", views.reports, name="index"),
    re_path(rf"^(?P<name>{'|'.join(views.TABLES)})\.csv$", views.table_csv, name="csv"),
]
from .urls_usage import urlpatterns as _usage; urlpatterns += _usage
