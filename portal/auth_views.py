"""Signup, login (rate-limited), logout and password reset: Django's auth views with portal templates."""

import hashlib

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from config.errors import ApiError
from portal.access import SESSION_ORG_KEY
from portal.forms import LoginForm, SignupForm
from tenants import services as tenant_services
from tenants.models import Sector


def _sector_templates():
    return [
        {"slug": s.slug, "name": s.name, "description": s.description, "namespaces": s.namespaces}
        for s in Sector.objects.all()
    ]


@sensitive_post_parameters("password")
@csrf_protect
def signup(request):
    form = SignupForm(request.POST or None, initial={"sector": "filestorage"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            provisioned = tenant_services.provision_organization(
                owner_email=data["email"],
                owner_password=data["password"],
                name=data["organization_name"],
                sector_slug=data["sector"].slug,
                description=data["description"],
            )
        except ApiError as exc:
            field = (exc.extra.get("field") or "").replace("organization.name", "organization_name")
            field = field.replace("organization.sector", "sector")
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            login(request, provisioned.owner, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_ORG_KEY] = provisioned.organization.id
            # Rendered, not redirected: the plaintext key is never stored, not even in the session.
            response = render(
                request,
                "portal/key_created.html",
                {
                    "plaintext": provisioned.issued_key.plaintext,
                    "api_key": provisioned.issued_key.api_key,
                    "organization": provisioned.organization,
                    "namespaces": provisioned.namespaces,
                    "after_signup": True,
                },
            )
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "portal/signup.html", {"form": form, "sectors": _sector_templates()})


def _failure_keys(request, email):
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]
    address = request.META.get("REMOTE_ADDR", "")
    return [f"portal:login-fail:email:{digest}", f"portal:login-fail:addr:{address}"]


class LoginView(auth_views.LoginView):
    """Django's login view; after PORTAL_LOGIN_MAX_FAILURES failures for one email or one address, pause."""

    template_name = "portal/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        keys = _failure_keys(request, request.POST.get("username"))
        if any((cache.get(key) or 0) >= settings.PORTAL_LOGIN_MAX_FAILURES for key in keys):
            form = self.get_form()
            minutes = max(1, settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60)
            form.errors.clear()
            form.add_error(None, f"Too many failed sign-in attempts. Try again in {minutes} minutes.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        for key in _failure_keys(self.request, self.request.POST.get("username")):
            if not cache.add(key, 1, settings.PORTAL_LOGIN_LOCKOUT_SECONDS):
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.add(key, 1, settings.PORTAL_LOGIN_LOCKOUT_SECONDS)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete(_failure_keys(self.request, form.get_user().email)[0])
        return super().form_valid(form)


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset.html"
    email_template_name = "portal/email/password_reset.txt"
    html_email_template_name = "portal/email/password_reset.html"
    subject_template_name = "portal/email/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/password_reset_complete.html"


def legacy_redirect(target):
    def view(request):
        return redirect(target, permanent=True)

    return view
