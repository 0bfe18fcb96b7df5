import datetime

import pytest

from cache_api import metering
from portal import figures, pricing, services
from tests.factories import ApiKeyFactory, NamespaceFactory
from tests.portal.factories import UsageDailyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(organization):
    return ApiKeyFactory(organization=organization)


def get(api_client, key, query=""):
    return api_client.get(f"/api/usage{query}", HTTP_X_API_KEY=key.plaintext)


def test_rows_per_day_and_namespace_with_today_live(api_client, organization, key):
    today = metering.utc_today()
    cdn = organization.namespaces.get(name="cdn")
    storage = organization.namespaces.get(name="storage")
    UsageDailyFactory(namespace=cdn, day=today - datetime.timedelta(days=1), hits=3, misses=1, sets=0)
    metering.add_counts(organization.id, storage.id, today, requests=5, hits=2, misses=2, sets=1, bytes_served=2048)

    body = get(api_client, key).json()
    assert body["from"] == (today - datetime.timedelta(days=29)).isoformat() and body["to"] == today.isoformat()
    assert [(r["date"], r["namespace"]) for r in body["rows"]] == [
        ((today - datetime.timedelta(days=1)).isoformat(), "cdn"),
        (today.isoformat(), "storage"),
    ]
    live = body["rows"][1]
    assert (live["requests"], live["hits"], live["misses"], live["hit_rate"]) == (5, 2, 2, 0.5)
    assert live["bytes_served"] == live["bandwidth_saved_bytes"] == 2048
    assert live["cost_saved_usd"] == float(figures.cost_saved(2048, pricing.DEFAULT_EGRESS.usd_per_gb))
    assert body["totals"]["requests"] == 4 + 5
    assert body["totals"]["hit_rate"] == 5 / 8
    assert body["egress_prices"] == [
        {"namespaces": ["cdn", "storage"], "usd_per_gb": 0.09, "source": pricing.DEFAULT_EGRESS.source}
    ]

    # Rolling up changes where the numbers live, not what the API answers.
    services.rollup_usage([today])
    assert get(api_client, key).json() == body


def test_namespace_filter_and_restricted_keys(api_client, organization):
    today = metering.utc_today()
    cdn = organization.namespaces.get(name="cdn")
    storage = organization.namespaces.get(name="storage")
    metering.add_counts(organization.id, cdn.id, today, requests=1)
    metering.add_counts(organization.id, storage.id, today, requests=2)
    everything = ApiKeyFactory(organization=organization)
    assert [r["namespace"] for r in get(api_client, everything, "?namespace=cdn").json()["rows"]] == ["cdn"]

    only_storage = ApiKeyFactory(organization=organization)
    only_storage.allowed_namespaces.set([storage])
    assert [r["namespace"] for r in get(api_client, only_storage).json()["rows"]] == ["storage"]
    refused = get(api_client, only_storage, "?namespace=cdn")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "namespace_not_allowed"
    unknown = get(api_client, everything, "?namespace=nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "namespace_not_found"


@pytest.mark.parametrize(
    "query, field",
    [
        ("?from=2026-13-01", "from"),
        ("?to=yesterday", "to"),
        ("?from=2026-05-02&to=2026-05-01", "from"),
        ("?from=2000-01-01&to=2026-01-01", "from"),
    ],
)
def test_bad_dates_are_400_naming_the_field(api_client, key, query, field):
    response = get(api_client, key, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field" and response.json()["error"]["field"] == field


def test_auth_errors_are_json(api_client, key):
    anonymous = api_client.get("/api/usage")
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    bad = api_client.get("/api/usage", HTTP_X_API_KEY="ac_" + "0" * 64)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"


def test_other_organizations_usage_is_invisible(api_client, key, other_organization):
    rival_ns = NamespaceFactory(organization=other_organization, name="rival-only")
    metering.add_counts(other_organization.id, rival_ns.id, metering.utc_today(), requests=99)
    assert get(api_client, key).json()["rows"] == []
    theirs, nobodys = get(api_client, key, "?namespace=rival-only"), get(api_client, key, "?namespace=no-such")
    assert theirs.status_code == nobodys.status_code == 404  # the same answer as for a name nobody has
    assert theirs.json()["error"]["message"].replace("rival-only", "") == nobodys.json()["error"]["message"].replace(
        "no-such", ""
    )
