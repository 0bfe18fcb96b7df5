from django.urls import path

from tenants import views

urlpatterns = [
    path("signup", views.SignupView.as_view(), name="api-signup"),
    path("login", views.LoginView.as_view(), name="api-login"),
    path("logout", views.LogoutView.as_view(), name="api-logout"),
]
