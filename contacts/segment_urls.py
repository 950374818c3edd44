from django.urls import path

from . import views_segments as views

urlpatterns = [
    path("", views.segment_index, name="segments"),
    path("new/", views.segment_new, name="segment-new"),
    path("count/", views.segment_live_count, name="segment-count"),
    path("<int:segment_id>/", views.segment_detail, name="segment"),
    path("<int:segment_id>/count/", views.segment_saved_count, name="segment-saved-count"),
    path("<int:segment_id>/delete/", views.segment_delete, name="segment-delete"),
]
