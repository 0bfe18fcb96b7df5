"""Dollars come from the dedup app's price table: per origin kind, overridable per organization."""

import re
from decimal import Decimal

import pytest

from cache_api import metering
from dedup import models as dedup_models
from portal import figures, pricing, services
from portal.models import UsageDaily
from portal.templatetags.portal_tags import usd

pytestmark = pytest.mark.django_db

GB = 10**9


def add_origin(namespace, kind):
    return dedup_models.Origin.objects.create(
        namespace=namespace,
        kind=kind,
        endpoint_url="https://s3.example.test",
        bucket="firmware",
        access_key_id_encrypted="sealed",
        secret_access_key_encrypted="sealed",
    )


def test_lyve_origin_saves_bandwidth_but_no_dollars_and_the_dashboard_says_so(client, owner, organization):
    storage = organization.namespaces.get(name="storage")
    cdn = organization.namespaces.get(name="cdn")
    add_origin(storage, dedup_models.Origin.Kind.LYVE)
    today = metering.utc_today()
    metering.add_counts(organization.id, storage.id, today, requests=1, hits=1, bytes_served=5 * GB)
    metering.add_counts(organization.id, cdn.id, today, requests=1, hits=1, bytes_served=2 * GB)

    prices = pricing.namespace_prices(organization.id, [storage.id, cdn.id])
    assert prices[storage.id].usd_per_gb is None and not prices[storage.id].charges_egress
    assert prices[cdn.id] == pricing.DEFAULT_EGRESS

    client.force_login(owner)
    html = client.get("/portal/dashboard/").content.decode()
    assert re.search(r"storage</strong>: the origin charges no egress", html)
    expected = figures.cost_saved(2 * GB, pricing.DEFAULT_EGRESS.usd_per_gb)  # only cdn's bandwidth earns dollars
    assert re.search(r'data-testid="cost-saved">([^<]*)<', html).group(1) == usd(expected)

    services.rollup_usage([today])
    assert UsageDaily.objects.get(namespace=storage).cost_saved_usd == 0
    assert UsageDaily.objects.get(namespace=storage).bandwidth_saved_bytes == 5 * GB
    assert UsageDaily.objects.get(namespace=cdn).cost_saved_usd == expected


def test_organizations_own_price_wins(organization, other_organization):
    storage = organization.namespaces.get(name="storage")
    add_origin(storage, dedup_models.Origin.Kind.AWS_S3)
    dedup_models.OriginPrice.objects.create(
        organization=organization,
        kind=dedup_models.Origin.Kind.AWS_S3,
        egress_usd_per_gb=Decimal("0.05"),
        storage_usd_per_gb_month=Decimal("0.02"),
        source="negotiated contract",
    )
    price = pricing.namespace_prices(organization.id, [storage.id])[storage.id]
    assert price.usd_per_gb == Decimal("0.05") and "negotiated contract" in price.source and not price.is_default
    # Another organization's namespace id never picks up this organization's prices or origins.
    assert pricing.namespace_prices(other_organization.id, [storage.id])[storage.id] == pricing.DEFAULT_EGRESS

    metering.add_counts(organization.id, storage.id, metering.utc_today(), requests=1, hits=1, bytes_served=GB)
    services.rollup_usage([metering.utc_today()])
    assert UsageDaily.objects.get(namespace=storage).cost_saved_usd == Decimal("0.05")
