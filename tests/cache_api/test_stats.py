import datetime

import pytest

from cache_api import metering
from tests.cache_api.conftest import call

pytestmark = pytest.mark.django_db


def usage_row(tenant, days_ago, **figures):
    from portal.models import UsageDaily

    return UsageDaily.objects.create(
        organization=tenant.organization,
        namespace=tenant.namespace,
        day=metering.utc_today() - datetime.timedelta(days=days_ago),
        **figures,
    )


def test_today_comes_from_the_live_counters(store_kind, tenant):
    client = tenant.client()
    empty = call(client, "stats").json()
    assert empty == {
        "namespace": tenant.namespace.name,
        "today": {"requests": 0, "hits": 0, "misses": 0, "hit_rate": 0.0, "bytes_served": 0, "bytes_written": 0},
        "days": [],
    }
    call(client, "set", {"key": "a", "value": "abc"})  # 5 bytes
    for _ in range(3):
        call(client, "get", {"key": "a"})
    call(client, "get", {"key": "missing"})
    today = call(client, "stats").json()["today"]
    assert today == {
        "requests": 5,
        "hits": 3,
        "misses": 1,
        "hit_rate": 0.75,
        "bytes_served": 15,
        "bytes_written": 5,
    }


def test_days_come_from_rolled_up_rows_of_the_last_30_days_only(store_kind, tenant, make_tenant):
    usage_row(tenant, 3, requests=10, hits=6, misses=2, bytes_served=600, bytes_written=80)
    usage_row(tenant, 30, requests=1, hits=1)
    usage_row(tenant, 31, requests=99)  # outside the window
    other = make_tenant(namespace=tenant.namespace.name)
    usage_row(other, 2, requests=77)  # another organization's namespace of the same name
    days = call(tenant.client(), "stats").json()["days"]
    today = metering.utc_today()
    assert days == [
        {
            "date": (today - datetime.timedelta(days=30)).isoformat(),
            "requests": 1, "hits": 1, "misses": 0, "hit_rate": 1.0, "bytes_served": 0, "bytes_written": 0,
        },
        {
            "date": (today - datetime.timedelta(days=3)).isoformat(),
            "requests": 10, "hits": 6, "misses": 2, "hit_rate": 0.75, "bytes_served": 600, "bytes_written": 80,
        },
    ]  # fmt: skip


def test_today_stays_exact_across_a_rollup(store_kind, tenant):
    from portal import services as portal_services

    client = tenant.client()
    for i in range(4):
        call(client, "set", {"key": f"k{i}", "value": i})
    portal_services.rollup_usage(days=[metering.utc_today()], organization_ids=[tenant.organization.id])
    assert metering.live_counts(tenant.organization.id, tenant.namespace.id)["requests"] == 0  # moved to the row
    for i in range(3):
        call(client, "get", {"key": f"k{i}"})
    today = call(client, "stats").json()["today"]
    assert today["requests"] == 7
    assert today["hits"] == 3
    assert today["bytes_written"] == 4


def test_yesterdays_counters_not_yet_rolled_up_are_included(store_kind, tenant):
    yesterday = metering.utc_today() - datetime.timedelta(days=1)
    usage_row(tenant, 1, requests=10, hits=10, bytes_served=100)
    metering.add_counts(tenant.organization.id, tenant.namespace.id, yesterday, requests=2, misses=2)
    days = call(tenant.client(), "stats").json()["days"]
    assert days == [
        {
            "date": yesterday.isoformat(),
            "requests": 12, "hits": 10, "misses": 2, "hit_rate": 0.8333, "bytes_served": 100, "bytes_written": 0,
        }
    ]  # fmt: skip
