"""Invalidation of the auth cache: every change that can alter how a key resolves moves the version
tokens of its organization and of all the organization's namespaces (cache_api.authcache).

`tenant_auth_changed` (sent by tenants.services after commit) is the authority. The model
signals below fire earlier, inside the writing transaction, so changes made outside the
services (admin, shell) and inside not-yet-committed test transactions are seen too; the
after-commit bump closes the window in which another process could re-read the old rows
under the new token.
"""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from cache_api import authcache
from tenants.models import ApiKey, Namespace, Organization, Plan
from tenants.services import namespace_deleted, tenant_auth_changed


def changed(organization_id, also=()):
    """Invalidate now (visible inside this transaction) and again once it commits.

    `also`: namespaces the database no longer lists (deleted here) whose tokens must move too.
    """
    authcache.invalidate_organization(organization_id, also)
    transaction.on_commit(lambda: authcache.invalidate_organization(organization_id, also))


def on_tenant_auth_changed(sender, organization_id, key_digests=(), **kwargs):
    authcache.invalidate_organization(organization_id)


def on_key_or_namespace_saved(sender, instance, **kwargs):
    changed(instance.organization_id)


def on_namespace_row_deleted(sender, instance, **kwargs):
    # Also reached for each namespace of a deleted organization (the cascade sends post_delete).
    changed(instance.organization_id, also=(instance.id,))


def on_organization_saved(sender, instance, created=False, **kwargs):
    if not created:
        changed(instance.id)


def on_organization_deleted(sender, instance, **kwargs):
    changed(instance.id)


def on_plan_saved(sender, instance, created=False, **kwargs):
    if not created:
        for organization_id in Organization.objects.filter(plan=instance).values_list("id", flat=True):
            changed(organization_id)


def on_allowed_namespaces_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_"):
        return
    # Forward: instance is the ApiKey. Reverse: instance is a Namespace of the same organization.
    changed(instance.organization_id)


def on_namespace_deleted(sender, namespace, **kwargs):
    """Free the namespace's values once its deletion commits (ids are never reused, so this is hygiene)."""
    from cache_api import tasks

    organization_id, namespace_id = namespace.organization_id, namespace.id
    transaction.on_commit(lambda: tasks.drop_namespace_values.delay(organization_id, namespace_id))


def connect():
    tenant_auth_changed.connect(on_tenant_auth_changed, dispatch_uid="cache_api.auth_changed")
    namespace_deleted.connect(on_namespace_deleted, dispatch_uid="cache_api.namespace_deleted")
    for model in (ApiKey, Namespace):
        post_save.connect(on_key_or_namespace_saved, sender=model, dispatch_uid=f"cache_api.saved.{model.__name__}")
    post_delete.connect(on_key_or_namespace_saved, sender=ApiKey, dispatch_uid="cache_api.deleted.ApiKey")
    post_delete.connect(on_namespace_row_deleted, sender=Namespace, dispatch_uid="cache_api.deleted.Namespace")
    post_save.connect(on_organization_saved, sender=Organization, dispatch_uid="cache_api.org_saved")
    post_delete.connect(on_organization_deleted, sender=Organization, dispatch_uid="cache_api.org_deleted")
    post_save.connect(on_plan_saved, sender=Plan, dispatch_uid="cache_api.plan_saved")
    m2m_changed.connect(
        on_allowed_namespaces_changed, sender=ApiKey.allowed_namespaces.through, dispatch_uid="cache_api.allowed"
    )
