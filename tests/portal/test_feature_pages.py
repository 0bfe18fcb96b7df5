"""Dedup stats and CDN evaluation pages draw what those apps produce."""

import pytest

from cache_api import metering
from portal import figures, selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


def test_dedup_page_shows_the_dedup_apps_stats_and_daily_savings(as_owner, organization):
    from dedup.models import NamespaceTotals
    from dedup.pricing import namespace_stats

    storage = organization.namespaces.get(name="storage")
    NamespaceTotals.objects.create(namespace=storage, bytes_uploaded=4_000_000, upload_bytes_saved=3_500_000)
    metering.add_counts(
        organization.id, storage.id, requests=2, dedup_bytes_saved=7_000_000, upload_bytes_saved=3_500_000
    )

    html = as_owner.get("/portal/dedup/").content.decode()
    stats = namespace_stats(selectors.namespace_context(storage))
    assert stats["upload_bytes_saved"] == 3_500_000
    table = html[html.index('data-testid="dedup-table"') : html.index("</table>")]
    assert "<code>storage</code>" in table and "<code>cdn</code>" not in table  # cdn has no dedup node
    assert figures.human_bytes(3_500_000) in table
    assert f": {figures.human_bytes(7_000_000)}</title>" in html  # today's bar in the duplicate-bytes chart


def test_dedup_page_charts_the_daily_storage_snapshots(as_owner, organization):
    from dedup.models import StorageDaily

    storage = organization.namespaces.get(name="storage")
    StorageDaily.objects.create(
        organization=organization,
        namespace=storage,
        day=metering.utc_today(),
        files=3,
        logical_bytes=9_100_000,
        stored_bytes=2_900_000,
    )
    html = as_owner.get("/portal/dedup/").content.decode()
    logical = html[html.index("Logical bytes held in storage") : html.index("Stored bytes held in storage")]
    stored = html[html.index("Stored bytes held in storage") :]
    assert f": {figures.human_bytes(9_100_000)}</title>" in logical
    assert f": {figures.human_bytes(2_900_000)}</title>" in stored
    # The other 29 days have no snapshot: no bar at all, rather than a zero that reads as "emptied".
    assert logical.count("<rect") == 1 and stored.split("</svg>")[0].count("<rect") == 1


def test_dashboard_shows_storage_used_against_the_quota(as_owner, organization):
    from dedup.models import OrgStorage

    OrgStorage.objects.create(organization=organization, stored_bytes=3 * 1024**3)
    html = as_owner.get("/portal/dashboard/").content.decode()
    assert 'data-testid="storage-used">3.00 GiB<' in html


def test_cdn_pages_draw_a_real_evaluation(as_owner, organization):
    from cdn_eval import services as cdn_services

    cdn = organization.namespaces.get(name="cdn")
    records = [
        {"timestamp": 1_700_000_000_000 + i * 1000, "path": f"/fw/{i % 7}.bin", "size": 1000 * (1 + i % 7)}
        for i in range(400)
    ]
    options = cdn_services.engine_options({})
    evaluation = cdn_services.evaluate_now(
        selectors.namespace_context(cdn), cdn_services.parse_inline(records), {}, options
    )

    listing = as_owner.get("/portal/cdn/").content.decode()
    assert f"/portal/cdn/{evaluation.id}/" in listing and "400" in listing
    page = as_owner.get(f"/portal/cdn/{evaluation.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    curve = evaluation.result["curve"]
    assert html.count("<polyline") == 2  # hit ratio and byte hit ratio
    assert "Exact LRU miss-ratio curve" in html
    assert evaluation.result["recommended"]["policy"].upper() in html
    for tier in evaluation.result["tiers"]:
        assert f"<td>{tier['tier']}</td>" in html
    assert len(curve) >= 2


def test_file_store_hits_count_as_bandwidth_saved_only_for_origin_files(as_owner, organization):
    """The dashboard's bandwidth and dollars: key/value hits and origin-file hits save egress; the file
    store's other bytes served (hits on uploaded files, the miss that fetched) do not."""
    from portal import services

    storage = organization.namespaces.get(name="storage")
    metering.add_counts(
        organization.id,
        storage.id,
        requests=9,
        hits=7,
        bytes_served=10_000_000,  # 4,000,000 key/value hits + 6,000,000 from the file store
        file_bytes_served=6_000_000,
        origin_hit_bytes=2_000_000,  # of which 2,000,000 on hits of origin-fetched files
        upload_bytes_saved=1_000_000,
    )
    saved = 4_000_000 + 2_000_000 + 1_000_000

    def shown():
        html = as_owner.get("/portal/dashboard/").content.decode()
        start = html.index('data-testid="bandwidth-saved">') + len('data-testid="bandwidth-saved">')
        return html[start : html.index("<", start)], html

    figure, html = shown()
    assert figure == figures.human_bytes(saved)
    assert f"{figures.human_bytes(4_000_000)} served from cache" in html
    assert f"{figures.human_bytes(2_000_000)} of origin files served from the store" in html
    today = metering.utc_today()
    live = selectors.summary(organization, today, today, today=today)["totals"]
    assert live["bandwidth_saved_bytes"] == saved
    assert live["cost_saved_usd"] == figures.cost_saved(saved, "0.09")  # no origin: the default AWS price
    services.rollup_usage(days=[today])
    from portal.models import UsageDaily

    row = UsageDaily.objects.get(namespace=storage, day=today)
    assert (row.file_bytes_served, row.origin_hit_bytes, row.bandwidth_saved_bytes) == (6_000_000, 2_000_000, saved)
    assert shown()[0] == figures.human_bytes(saved)
    (api_row,) = [r for r in as_owner.get("/api/usage").json()["rows"] if r["namespace"] == "storage"]
    assert (api_row["file_bytes_served"], api_row["origin_hit_bytes"]) == (6_000_000, 2_000_000)
    assert api_row["bandwidth_saved_bytes"] == saved
    # The dedup page charts the new counter per day.
    page = as_owner.get("/portal/dedup/").content.decode()
    chart = page[page.index("Origin files served from the store") :]
    assert f": {figures.human_bytes(2_000_000)}</title>" in chart
