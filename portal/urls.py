from django.urls import path

from portal import api, auth_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("api/usage", api.UsageView.as_view(), name="api-usage"),
    path("portal/", views.home),
    path("portal/signup.html", auth_views.legacy_redirect("portal:signup")),
    path("portal/dashboard.html", auth_views.legacy_redirect("portal:dashboard")),
    path("portal/signup/", auth_views.signup, name="signup"),
    path("portal/login/", auth_views.LoginView.as_view(), name="login"),
    path("portal/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("portal/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("portal/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "portal/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("portal/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("portal/dashboard/", views.dashboard, name="dashboard"),
    path("portal/switch/", views.switch_organization, name="switch"),
    path("portal/keys/", views.keys, name="keys"),
    path("portal/keys/<int:key_id>/", views.key_edit, name="key_edit"),
    path("portal/keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("portal/namespaces/", views.namespaces, name="namespaces"),
    path("portal/namespaces/<int:namespace_id>/", views.namespace_edit, name="namespace_edit"),
    path("portal/namespaces/<int:namespace_id>/delete/", views.namespace_delete, name="namespace_delete"),
    path("portal/members/", views.members, name="members"),
    path("portal/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("portal/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("portal/quickstart/", views.quickstart, name="quickstart"),
    path("portal/reports/weekly/", views.weekly_report, name="weekly_report"),
    path("portal/dedup/", views.dedup_stats, name="dedup"),
    path("portal/cdn/", views.cdn_evaluations, name="cdn"),
    path("portal/cdn/<uuid:evaluation_id>/", views.cdn_evaluation, name="cdn_evaluation"),
]
