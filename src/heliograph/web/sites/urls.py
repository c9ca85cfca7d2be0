from django.urls import path

from heliograph.web.sites import views

app_name = "sites"
urlpatterns = [
    path("", views.site_list, name="list"),
    path("new/", views.site_new, name="new"),
    path("<int:site_id>/", views.site_detail, name="detail"),
    path("<int:site_id>/rotate-key/", views.site_rotate, name="rotate_key"),
]
