import datetime

import factory

from portal import figures, pricing
from portal.models import UsageDaily
from tests.factories import NamespaceFactory


class UsageDailyFactory(factory.django.DjangoModelFactory):
    """A rolled-up day; derived fields computed like the rollup does."""

    class Meta:
        model = UsageDaily

    namespace = factory.SubFactory(NamespaceFactory)
    organization = factory.LazyAttribute(lambda o: o.namespace.organization)
    day = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    hits = 80
    misses = 20
    sets = 10
    deletes = 0
    requests = factory.LazyAttribute(lambda o: o.hits + o.misses + o.sets + o.deletes)
    bytes_served = factory.LazyAttribute(lambda o: o.hits * 1000)
    bytes_written = factory.LazyAttribute(lambda o: o.sets * 1000)
    dedup_bytes_saved = 0
    upload_bytes_saved = 0
    origin_bytes = 0
    file_bytes_served = 0
    origin_hit_bytes = 0
    bandwidth_saved_bytes = factory.LazyAttribute(
        lambda o: figures.bandwidth_saved(o.bytes_served, o.upload_bytes_saved, o.file_bytes_served, o.origin_hit_bytes)
    )
    cost_saved_usd = factory.LazyAttribute(
        lambda o: figures.cost_saved(o.bandwidth_saved_bytes, pricing.DEFAULT_EGRESS.usd_per_gb)
    )
