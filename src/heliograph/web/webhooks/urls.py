from django.urls import path

from heliograph.web.webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("", views.webhook_list, name="list"),
    path("new/", views.webhook_new, name="new"),
    path("<int:webhook_id>/test/", views.webhook_test, name="test"),
    path("<int:webhook_id>/replace-secret/", views.webhook_replace, name="replace_secret"),
    path("<int:webhook_id>/delete/", views.webhook_remove, name="delete"),
]
