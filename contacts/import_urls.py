from django.urls import path

from . import views_import as views

urlpatterns = [
    path("", views.upload, name="import"),
    path("history/", views.history, name="import-history"),
    path("<int:job_id>/", views.mapping, name="import-mapping"),
    path("<int:job_id>/preview/", views.preview, name="import-preview"),
    path("<int:job_id>/progress/", views.job, name="import-job"),
    path("<int:job_id>/errors.csv", views.errors_csv, name="import-errors"),
]
