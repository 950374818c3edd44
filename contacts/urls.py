from django.urls import include, path

from . import views

app_name = "contacts"
urlpatterns = [
    path("", views.index, name="index"),
    path("import/", include("contacts.import_urls")),
    path("segments/", include("contacts.segment_urls")),
]
