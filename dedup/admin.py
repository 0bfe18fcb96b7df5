from django import forms
from django.contrib import admin

from dedup import crypto
from dedup.models import File, NamespaceConfig, Origin, OriginPrice, Pack, StorageDaily


class OriginForm(forms.ModelForm):
    """Credentials are write-only: blank keeps the stored (encrypted) value."""

    endpoint_url = forms.URLField(assume_scheme="https", max_length=255)
    access_key_id = forms.CharField(required=False, widget=forms.PasswordInput, help_text="Leave blank to keep.")
    secret_access_key = forms.CharField(required=False, widget=forms.PasswordInput, help_text="Leave blank to keep.")

    class Meta:
        model = Origin
        fields = ["namespace", "kind", "endpoint_url", "bucket", "prefix", "region"]

    def save(self, commit=True):
        origin = super().save(commit=False)
        if self.cleaned_data.get("access_key_id"):
            origin.access_key_id_encrypted = crypto.encrypt(self.cleaned_data["access_key_id"])
        if self.cleaned_data.get("secret_access_key"):
            origin.secret_access_key_encrypted = crypto.encrypt(self.cleaned_data["secret_access_key"])
        if commit:
            origin.save()
        return origin


@admin.register(Origin)
class OriginAdmin(admin.ModelAdmin):
    form = OriginForm
    list_display = ["namespace", "kind", "endpoint_url", "bucket", "prefix"]


@admin.register(OriginPrice)
class OriginPriceAdmin(admin.ModelAdmin):
    list_display = ["organization", "kind", "egress_usd_per_gb", "storage_usd_per_gb_month", "source"]


@admin.register(NamespaceConfig)
class NamespaceConfigAdmin(admin.ModelAdmin):
    list_display = ["namespace", "chunk_profile"]


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ["path", "namespace", "size", "chunk_count", "updated_at"]
    exclude = ["manifest", "sha256"]
    search_fields = ["path"]

    def has_change_permission(self, request, obj=None):
        return False  # manifests change only through the service (reference counts)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Pack)
class PackAdmin(admin.ModelAdmin):
    list_display = ["key", "organization", "size", "state", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StorageDaily)
class StorageDailyAdmin(admin.ModelAdmin):
    list_display = ["day", "namespace", "organization", "files", "logical_bytes", "stored_bytes", "updated_at"]
    list_filter = ["day"]

    def has_add_permission(self, request):
        return False  # written by dedup.tasks.snapshot_storage

    def has_change_permission(self, request, obj=None):
        return False
