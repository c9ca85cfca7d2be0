from django.urls import path

from heliograph.web.dashboards import views

app_name = "dashboards"
urlpatterns = [
    path("<int:site_id>/overview/", views.overview, name="overview"),
    path("<int:site_id>/pages/", views.pages, name="pages"),
    path("<int:site_id>/sources/", views.sources, name="sources"),
    path("<int:site_id>/devices/", views.devices, name="devices"),
    path("<int:site_id>/heatmap/", views.heatmap, name="heatmap"),
    path("<int:site_id>/scroll/", views.scroll, name="scroll"),
]
