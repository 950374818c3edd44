from django.urls import path

from . import views

app_name = "inbox"
urlpatterns = [
    path("", views.index, name="index"),
    path("list/", views.conversation_list, name="list"),
    path("templates/", views.templates, name="templates"),
    path("templates/new/", views.template_save, name="template-new"),
    path("templates/keywords/", views.keyword_settings, name="keyword-settings"),
    path("templates/<int:template_id>/", views.template_save, name="template-save"),
    path("templates/<int:template_id>/delete/", views.template_delete, name="template-delete"),
    path("<int:conversation_id>/", views.conversation, name="conversation"),
    path("<int:conversation_id>/items/", views.thread_fragment, name="items"),
    path("<int:conversation_id>/reply/", views.reply, name="reply"),
    path("<int:conversation_id>/reply/preview/", views.reply_preview, name="reply-preview"),
    path("<int:conversation_id>/assign/", views.assign, name="assign"),
    path("<int:conversation_id>/close/", views.close, name="close"),
    path("<int:conversation_id>/reopen/", views.reopen, name="reopen"),
    path("<int:conversation_id>/unread/", views.unread, name="unread"),
    path("<int:conversation_id>/note/", views.note, name="note"),
]
