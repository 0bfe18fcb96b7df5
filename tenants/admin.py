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


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "namespace_names"]

    @admin.display(description="Namespaces")
    def namespace_names(self, sector):
        return ", ".join(spec["name"] for spec in sector.namespaces)


class NamespaceForm(forms.ModelForm):
    nodes = forms.MultipleChoiceField(
        choices=[(n, n) for n in nodes.NODE_CHOICES], widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = Namespace
        fields = ["name", "nodes", "default_ttl"]


class NamespaceInline(admin.TabularInline):
    model = Namespace
    form = NamespaceForm
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
        widget=forms.PasswordInput, required=False, help_text="Leave empty for an existing user or to send a reset."
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
                    owner_password=data["owner_password"] or None,
                    name=data["name"],
                    sector_slug=data["sector"].slug,
                    plan_slug=data["plan"].slug,
                    description=data["description"],
                )
            except ApiError as exc:
                form.add_error(None, exc.message)
            else:
                org = provisioned.organization
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
