from django.urls import include, path

from . import views

app_name = "contacts"
urlpatterns = [
    path("", views.index, name="index"),
    path("export.csv", views.export, name="export"),
    path("bulk/", views.bulk, name="bulk"),
    path("new/", views.contact_new, name="new"),
    path("<int:contact_id>/", views.contact_detail, name="detail"),
    path("<int:contact_id>/edit/", views.contact_edit, name="edit"),
    path("<int:contact_id>/delete/", views.contact_delete, name="delete"),
    path("<int:contact_id>/opt-out/", views.contact_opt, {"state": "out"}, name="opt-out"),
    path("<int:contact_id>/opt-in/", views.contact_opt, {"state": "in"}, name="opt-in"),
    path("<int:contact_id>/lists/add/", views.contact_membership, {"action": "add"}, name="list-add"),
    path("<int:contact_id>/lists/remove/", views.contact_membership, {"action": "remove"}, name="list-remove"),
    path("lists/", views.lists, name="lists"),
    path("lists/new/", views.list_create, name="list-create"),
    path("lists/<int:list_id>/", views.list_detail, name="list"),
    path("lists/<int:list_id>/rename/", views.list_rename, name="list-rename"),
    path("lists/<int:list_id>/delete/", views.list_delete, name="list-delete"),
    path("fields/", views.fields, name="fields"),
    path("fields/new/", views.field_create, name="field-create"),
    path("fields/<int:field_id>/delete/", views.field_delete, name="field-delete"),
    path("import/", include("contacts.import_urls")),
    path("segments/", include("contacts.segment_urls")),
]
