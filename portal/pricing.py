"""The egress price behind every cost-saved figure, per namespace.

The price table itself belongs to the dedup app (dedup.pricing: list prices per origin kind,
overridable per organization). A namespace with an origin uses its origin's egress price; one
without uses DEFAULT_EGRESS, the one place a price is assumed, and every page showing dollars
says which price it used. An origin with no egress charge (Seagate Lyve Cloud) saves no dollars
on bandwidth: the price is None and the pages say so instead of inventing a saving.
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class EgressPrice:
    usd_per_gb: Decimal | None  # None: the origin charges no egress
    source: str
    is_default: bool = False

    @property
    def charges_egress(self):
        return self.usd_per_gb is not None


def _default():
    try:
        from dedup.models import Origin
        from dedup.pricing import DEFAULT_PRICES

        aws = DEFAULT_PRICES[Origin.Kind.AWS_S3]
        return EgressPrice(aws["egress_usd_per_gb"], f"default: {aws['source']}", True)
    except (ImportError, KeyError, AttributeError):  # the dedup app's table is optional for the portal
        return EgressPrice(Decimal("0.09"), "default: AWS S3 internet egress list price, first 10 TB/month", True)


DEFAULT_EGRESS = _default()


def _from_table(prices, kind_label):
    egress = Decimal(prices["egress_usd_per_gb"])
    if egress == 0:
        return EgressPrice(None, f"{kind_label}: {prices['source']}")
    return EgressPrice(egress, f"{kind_label}: {prices['source']}")


def namespace_prices(organization_id, namespace_ids):
    """{namespace_id: EgressPrice} for namespaces of one organization (two queries at most)."""
    namespace_ids = list(namespace_ids)
    result = dict.fromkeys(namespace_ids, DEFAULT_EGRESS)
    try:
        from dedup.models import Origin, OriginPrice
        from dedup.pricing import DEFAULT_PRICES
    except ImportError:
        return result
    origins = dict(
        Origin.objects.filter(namespace_id__in=namespace_ids, namespace__organization_id=organization_id).values_list(
            "namespace_id", "kind"
        )
    )
    if not origins:
        return result
    own = {
        row.kind: {
            "egress_usd_per_gb": row.egress_usd_per_gb,
            "source": row.source or "your organization's prices",
        }
        for row in OriginPrice.objects.filter(organization_id=organization_id, kind__in=set(origins.values()))
    }
    labels = dict(Origin.Kind.choices)
    for namespace_id, kind in origins.items():
        prices = own.get(kind) or DEFAULT_PRICES.get(kind)
        if prices is not None:
            result[namespace_id] = _from_table(prices, labels.get(kind, kind))
    return result
