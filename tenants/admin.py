from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config.errors import ApiError
from tenants import nodes, selectors, services
from tenants.models import ApiKey, Membership, Namespace, Organization, Plan, Sector, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "date_joined"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "max_namespaces",
        "max_api_keys",
        "requests_per_second",
        "max_value_bytes",
        "storage_quota_bytes",
    ]


def _form_error(exc):
    """(form field or None, message) for an ApiError from tenants.services."""
    field = exc.extra.get("field")
    prefix = f"{field}: "
    message = exc.message[len(prefix) :] if field and exc.message.startswith(prefix) else exc.message
    return field, message


class SectorForm(forms.ModelForm):
    class Meta:
        model = Sector
        fields = ["slug", "name", "description", "namespaces"]

    def clean_namespaces(self):
        template = self.cleaned_data["namespaces"]
        try:
            services.validate_sector_template(template)
        except ApiError as exc:  # a template that cannot provision would fail every signup for the sector
            raise forms.ValidationError(exc.message) from exc
        signup_plan = Plan.objects.filter(slug=services.DEFAULT_PLAN_SLUG).first()
        limit = signup_plan.max_namespaces if signup_plan else None
        if limit is not None and len(template) > limit:
            raise forms.ValidationError(
                f"Self-serve signups get the {signup_plan.name} plan, which allows at most {limit} namespaces."
            )
        return template


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    form = SectorForm
    list_display = ["name", "slug", "namespace_names"]

    @admin.display(description="Namespaces")
    def namespace_names(self, sector):
        specs = sector.namespaces if isinstance(sector.namespaces, list) else []
        return ", ".join(str(spec.get("name", "?")) for spec in specs if isinstance(spec, dict))


class NamespaceForm(forms.ModelForm):
    """Namespace rows in admin: validated by tenants.services (names, nodes, TTL, plan limit).

    The name (and the organization) of an existing namespace is fixed, as in the portal.
    """

    nodes = forms.MultipleChoiceField(
        choices=[(n, n) for n in nodes.NODE_CHOICES], widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = Namespace
        fields = ["organization", "name", "nodes", "default_ttl"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for fixed in ("organization", "name"):
                if fixed in self.fields:
                    self.fields[fixed].disabled = True

    def clean(self):
        data = super().clean()
        organization = data.get("organization") or getattr(self.instance, "organization", None)
        name, node_list, ttl = data.get("name"), data.get("nodes") or [], data.get("default_ttl")
        if self.errors or (self.instance.pk is None and organization is None) or ttl is None:
            return data
        try:
            if self.instance.pk:
                services._validate_namespace(self.instance.name, node_list, ttl)
            else:
                # In an inline the formset checks the plan limit for all new rows at once.
                services.check_new_namespace(organization, name, node_list, ttl, adding=0 if self.in_formset else 1)
        except ApiError as exc:
            field, message = _form_error(exc)
            self.add_error(field if field in self.fields else None, message)
        return data

    in_formset = False


class InlineNamespaceForm(NamespaceForm):
    in_formset = True

    class Meta(NamespaceForm.Meta):
        fields = ["name", "nodes", "default_ttl"]


class NamespaceFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        organization = self.instance
        if organization.pk is None:
            return
        adding = sum(
            1 for f in self.forms if f.instance.pk is None and f.has_changed() and not self._should_delete_form(f)
        )
        removing = sum(1 for f in self.forms if f.instance.pk is not None and self._should_delete_form(f))
        limit = organization.plan.max_namespaces
        if adding and limit is not None and selectors.namespace_count(organization) - removing + adding > limit:
            raise forms.ValidationError(
                f"The {organization.plan.name} plan allows at most {limit} namespaces; "
                f"this would make {selectors.namespace_count(organization) - removing + adding}."
            )


class NamespaceInline(admin.TabularInline):
    model = Namespace
    form = InlineNamespaceForm
    formset = NamespaceFormSet
    extra = 0


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ["prefix", "label", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class OnboardForm(forms.Form):
    name = forms.CharField(max_length=120)
    sector = forms.ModelChoiceField(queryset=Sector.objects.all(), to_field_name="slug")
    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), to_field_name="slug")
    owner_email = forms.EmailField()
    owner_password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        strip=False,
        help_text="Ignored for an existing user. For a new owner, leave empty to email them a link to choose "
        "their own password.",
    )
    description = forms.CharField(widget=forms.Textarea, required=False)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "plan", "sector", "namespace_total", "active_key_total", "is_active", "created_at"]
    list_filter = ["plan", "sector", "is_active"]
    search_fields = ["name", "slug", "memberships__user__email"]
    readonly_fields = ["slug", "created_at"]
    fields = ["name", "slug", "sector", "plan", "description", "is_active", "created_at"]
    inlines = [MembershipInline, NamespaceInline, ApiKeyInline]
    actions = ["issue_key", "revoke_all_keys", "deactivate", "activate"]

    def get_queryset(self, request):
        return selectors.organizations_with_counts()

    def add_view(self, request, form_url="", extra_context=None):
        # A bare Organization row has no slug, owner, namespaces or key: adding always means onboarding.
        return redirect("admin:tenants_organization_onboard")

    def has_delete_permission(self, request, obj=None):
        # Deleting would cascade past tenants.services.delete_namespace and strand the namespaces' stored
        # data (dedup files, spooled logs, cache entries). Deactivate instead: keys stop working at once.
        return False

    def save_formset(self, request, form, formset, change):
        if formset.model is not Namespace:
            return super().save_formset(request, form, formset, change)
        # Through tenants.services: the plan limit, the validation and freeing a deleted namespace's data.
        instances = formset.save(commit=False)
        for namespace in formset.deleted_objects:
            services.delete_namespace(namespace)
        for namespace in instances:
            if namespace.pk is None:
                services.create_namespace(form.instance, namespace.name, namespace.nodes, namespace.default_ttl)
            else:
                services.update_namespace(namespace, node_list=namespace.nodes, default_ttl=namespace.default_ttl)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return _refusing_service_errors(self, request, super().changeform_view, object_id, form_url, extra_context)

    @admin.display(description="Namespaces", ordering="namespace_total")
    def namespace_total(self, org):
        return org.namespace_total

    @admin.display(description="Active keys", ordering="active_key_total")
    def active_key_total(self, org):
        return org.active_key_total

    def get_actions(self, request):
        actions = super().get_actions(request)
        for plan in Plan.objects.all():
            name = f"change_plan_to_{plan.slug}"
            actions[name] = (self._plan_action(plan), name, f"Change plan to {plan.name}")
        return actions

    @staticmethod
    def _plan_action(plan):
        def action(modeladmin, request, queryset):
            for org in queryset:
                services.change_plan(org, plan)
            modeladmin.message_user(request, f"{queryset.count()} organization(s) moved to {plan.name}.")

        return action

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:  # plan or active flag may have changed: resolved keys must be re-read
            services.set_active(obj, obj.is_active)

    @admin.action(description="Issue a new API key (shown once)")
    def issue_key(self, request, queryset):
        for org in queryset:
            try:
                issued = services.create_api_key(org, label="Issued by staff", created_by=request.user)
            except ApiError as exc:
                self.message_user(request, f"{org.name}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request, f"{org.name}: new API key {issued.plaintext} — shown once, copy it now.", messages.WARNING
            )

    @admin.action(description="Revoke every active API key")
    def revoke_all_keys(self, request, queryset):
        count = 0
        for key in ApiKey.objects.filter(organization__in=queryset).active():
            services.revoke_api_key(key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")

    @admin.action(description="Deactivate (API keys stop working at once)")
    def deactivate(self, request, queryset):
        for org in queryset:
            services.set_active(org, False)
        self.message_user(request, f"Deactivated {queryset.count()} organization(s).")

    @admin.action(description="Reactivate")
    def activate(self, request, queryset):
        for org in queryset:
            services.set_active(org, True)
        self.message_user(request, f"Reactivated {queryset.count()} organization(s).")

    def get_urls(self):
        return [
            path("onboard/", self.admin_site.admin_view(self.onboard_view), name="tenants_organization_onboard")
        ] + super().get_urls()

    def onboard_view(self, request):
        form = OnboardForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            existing = User.objects.filter(email__iexact=data["owner_email"]).first()
            try:
                provisioned = services.provision_organization(
                    owner=existing,
                    owner_email=data["owner_email"],
                    owner_password=data["owner_password"] or None,  # None: unusable until they choose one
                    name=data["name"],
                    sector_slug=data["sector"].slug,
                    plan_slug=data["plan"].slug,
                    description=data["description"],
                )
            except ApiError as exc:
                field, message = _form_error(exc)
                field = {"email": "owner_email", "password": "owner_password", "organization.name": "name",
                         "organization.sector": "sector"}.get(field, field)
                form.add_error(field if field in form.fields else None, message)
            else:
                org = provisioned.organization
                if existing is None and not data["owner_password"]:
                    services.send_set_password_email(provisioned.owner, request)
                    self.message_user(request, f"Emailed {provisioned.owner.email} a link to choose a password.")
                self.message_user(
                    request,
                    f"Onboarded {org.name} ({org.slug}). API key {provisioned.issued_key.plaintext} — "
                    "shown once, copy it now.",
                    messages.WARNING,
                )
                return redirect(reverse("admin:tenants_organization_change", args=[org.pk]))
        context = {**self.admin_site.each_context(request), "title": "Onboard an organization", "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/tenants/organization/onboard.html", context)


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    form = NamespaceForm
    list_display = ["name", "organization", "nodes", "default_ttl", "created_at"]
    list_filter = ["organization__plan"]
    search_fields = ["name", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]

    def save_model(self, request, obj, form, change):
        # NamespaceForm.clean has shown any refusal as a form error; the services check again under a lock.
        if change:
            services.update_namespace(obj, node_list=obj.nodes, default_ttl=obj.default_ttl)
        else:
            created = services.create_namespace(obj.organization, obj.name, obj.nodes, obj.default_ttl)
            # The admin's log entry, message and redirect use `obj`: make it the saved row.
            obj.pk, obj.nodes, obj.created_at = created.pk, created.nodes, created.created_at
            obj._state = created._state

    def delete_model(self, request, obj):
        services.delete_namespace(obj)  # frees the namespace's data (namespace_deleted)

    def delete_queryset(self, request, queryset):
        for namespace in queryset:
            services.delete_namespace(namespace)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return _refusing_service_errors(self, request, super().changeform_view, object_id, form_url, extra_context)


def _refusing_service_errors(model_admin, request, view, *args):
    """A refusal the form could not foresee (a concurrent change hit the plan limit): message, not a 500.

    The admin's change view runs in one transaction, so nothing of the refused save is kept.
    """
    try:
        return view(request, *args)
    except ApiError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return redirect(request.get_full_path())


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "label", "organization", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "label", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = ["organization", "digest", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    fields = readonly_fields + ["label", "expires_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are issued through the organization action, which shows the plaintext once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.revoke_api_key(key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
