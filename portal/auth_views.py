"""Signup, login (rate-limited), logout and password reset: Django's auth views with portal templates."""

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorDict
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from config.errors import ApiError
from portal.access import SESSION_ORG_KEY
from portal.forms import LoginForm, SignupForm
from tenants import login_limits
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


class LoginView(auth_views.LoginView):
    """Django's login view, behind the shared failed-login limiter (tenants.login_limits)."""

    template_name = "portal/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        email = request.POST.get("username")
        wait = login_limits.locked_out(request, email)
        if wait:
            # An unbound form: binding it would authenticate, i.e. check the password while locked out.
            form = self.get_form_class()(request, initial={"username": email or ""})
            message = form.error_class([login_limits.lockout_message(wait)], error_class="nonfield")
            form._errors = ErrorDict({NON_FIELD_ERRORS: message})
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        login_limits.record_failure(self.request, self.request.POST.get("username"))
        return super().form_invalid(form)

    def form_valid(self, form):
        login_limits.record_success(self.request, form.get_user().email)
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
