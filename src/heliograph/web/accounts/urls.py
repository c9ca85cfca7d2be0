from django.urls import path

from heliograph.web.accounts import invitation_views, security_page, views

app_name = "accounts"
urlpatterns = [
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("tenant/switch/", views.switch_tenant, name="switch_tenant"),
    path("members/", invitation_views.members, name="members"),
    path(
        "members/invitations/<int:invitation_id>/revoke/",
        invitation_views.revoke,
        name="revoke_invitation",
    ),
    path("invitations/<str:token>/", invitation_views.invitation, name="invitation"),
    path("security/", security_page.security, name="security"),
]
