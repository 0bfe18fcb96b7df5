"""Reads of tenant data."""

import hmac

from django.db.models import Count, Q
from django.utils import timezone

from tenants import keys
from tenants.models import ApiKey, Membership, Namespace, Organization


def active_key_count(organization):
    return ApiKey.objects.filter(organization=organization).active().count()


def namespace_count(organization):
    return Namespace.objects.filter(organization=organization).count()


def find_api_key(plaintext, now=None):
    """The active ApiKey for a plaintext key (with org and plan loaded), or None.

    Looked up by digest (indexed), then compared in constant time so the
    comparison itself leaks nothing about how much of a digest matched.
    """
    if not keys.looks_like_key(plaintext):
        return None
    wanted = keys.digest(plaintext)
    api_key = ApiKey.objects.select_related("organization__plan").filter(digest=wanted).first()
    if api_key is None or not hmac.compare_digest(api_key.digest, wanted):
        return None
    if not api_key.is_active(now) or not api_key.organization.is_active:
        return None
    return api_key


def organizations_for_user(user):
    return Organization.objects.filter(memberships__user=user).select_related("plan", "sector")


def membership(user, organization):
    return Membership.objects.filter(user=user, organization=organization).first()


def organizations_with_counts():
    now = timezone.now()
    active_keys = Q(api_keys__revoked_at__isnull=True) & (
        Q(api_keys__expires_at__isnull=True) | Q(api_keys__expires_at__gt=now)
    )
    return Organization.objects.select_related("plan", "sector").annotate(
        namespace_total=Count("namespaces", distinct=True),
        active_key_total=Count("api_keys", filter=active_keys, distinct=True),
    )
