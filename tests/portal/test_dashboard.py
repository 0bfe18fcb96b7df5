import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cache_api import metering
from portal import figures, pricing
from tests.portal.factories import UsageDailyFactory

pytestmark = pytest.mark.django_db


def figure(html, testid):
    return re.search(rf'data-testid="{testid}">([^<]*)<', html).group(1)


@pytest.fixture
def logged_in(client, owner):
    client.force_login(owner)
    return client


def test_figures_are_rows_plus_live_counters(logged_in, organization):
    today = metering.utc_today()
    cdn = organization.namespaces.get(name="cdn")
    storage = organization.namespaces.get(name="storage")
    UsageDailyFactory(namespace=cdn, day=today - datetime.timedelta(days=3), hits=70, misses=30, sets=5)
    UsageDailyFactory(namespace=storage, day=today - datetime.timedelta(days=1), hits=10, misses=0, sets=0)
    UsageDailyFactory(namespace=cdn, day=today - datetime.timedelta(days=40), hits=999)  # outside 30 days
    metering.add_counts(organization.id, cdn.id, today, requests=6, hits=4, misses=2, bytes_served=4000)

    html = logged_in.get("/portal/dashboard/?days=30").content.decode()

    requests = 105 + 10 + 6
    hits, misses = 70 + 10 + 4, 30 + 0 + 2
    assert figure(html, "total-requests") == f"{requests:,}"
    assert figure(html, "hit-rate") == f"{hits / (hits + misses) * 100:.1f}%"
    bandwidth = 70_000 + 10_000 + 4000
    assert figure(html, "bandwidth-saved") == figures.human_bytes(bandwidth)
    expected_cost = (
        figures.cost_saved(70_000, pricing.DEFAULT_EGRESS.usd_per_gb)
        + figures.cost_saved(10_000, pricing.DEFAULT_EGRESS.usd_per_gb)
        + figures.cost_saved(4000, pricing.DEFAULT_EGRESS.usd_per_gb)
    )
    assert figure(html, "cost-saved") == f"${expected_cost:,.4f}"
    assert "default egress price of $0.09/GB" in html  # the assumed price is stated

    api = logged_in.get(f"/api/usage?from={today - datetime.timedelta(days=29)}&to={today}").json()
    assert api["totals"]["requests"] == requests
    assert api["totals"]["hits"] == hits
    assert Decimal(str(api["totals"]["cost_saved_usd"])) == expected_cost


def test_charts_are_inline_svg_with_one_bar_per_active_day(logged_in, organization):
    today = metering.utc_today()
    cdn = organization.namespaces.get(name="cdn")
    for back in (0, 2, 5):
        UsageDailyFactory(namespace=cdn, day=today - datetime.timedelta(days=back))
    html = logged_in.get("/portal/dashboard/?days=7").content.decode()
    requests_chart = html[html.index('aria-label="Requests per day"') : html.index("</svg>")]
    assert requests_chart.count("<rect") == 7  # every day drawn, zeros included
    assert requests_chart.count(": 110</title>") == 3
    assert "cdn.jsdelivr" not in html and '<script src="http' not in html


def test_range_errors_are_shown_not_raised(logged_in):
    response = logged_in.get("/portal/dashboard/?start=2026-05-10&end=2026-05-01")
    assert response.status_code == 200
    assert "before the start date" in response.content.decode()
    assert logged_in.get("/portal/dashboard/?start=garbage&end=2026-05-01").status_code == 200


@pytest.mark.parametrize("days", [7, 365])
def test_365_days_render_in_under_20_queries(logged_in, organization, days):
    today = metering.utc_today()
    namespaces = list(organization.namespaces.all())
    from portal.models import UsageDaily

    UsageDaily.objects.bulk_create(
        [
            UsageDailyFactory.build(namespace=ns, organization=organization, day=today - datetime.timedelta(days=k))
            for ns in namespaces
            for k in range(365)
        ]
    )
    metering.add_counts(organization.id, namespaces[0].id, today, requests=1, hits=1)
    with CaptureQueriesContext(connection) as queries:
        response = logged_in.get(f"/portal/dashboard/?days={days}")
    assert response.status_code == 200
    assert len(queries) < 20, [q["sql"] for q in queries]
    expected = sum(110 for _ in namespaces) * days + 1
    assert figure(response.content.decode(), "total-requests") == f"{expected:,}"
