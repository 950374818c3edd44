from django.urls import path

from . import views

app_name = "campaigns"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new, name="new"),
    path("preview/", views.preview, name="preview"),
    path("<int:campaign_id>/", views.detail, name="detail"),
    path("<int:campaign_id>/edit/", views.edit, name="edit"),
    path("<int:campaign_id>/launch/", views.launch, name="launch"),
    path("<int:campaign_id>/test/", views.test_send, name="test"),
    path("<int:campaign_id>/pause/", views.pause, name="pause"),
    path("<int:campaign_id>/resume/", views.resume, name="resume"),
    path("<int:campaign_id>/cancel/", views.cancel, name="cancel"),
    path("<int:campaign_id>/duplicate/", views.duplicate, name="duplicate"),
    path("<int:campaign_id>/delete/", views.delete, name="delete"),
    path("<int:campaign_id>/export.csv", views.export, name="export"),
]
