"""Inputs at the edges of the calendar and of int64 get a 4xx (or a sane default), never a 500."""

import pytest

from portal import figures, reports
from tenants import services
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client):
    provisioned = services.provision_organization(
        owner_email="edge@example.com", owner_password=DEFAULT_PASSWORD, name="Edge", sector_slug="filestorage"
    )
    client.force_login(provisioned.owner)
    client.api_key = provisioned.issued_key.plaintext
    return client


@pytest.mark.parametrize("query", ["to=0001-01-05", "from=0001-01-01&to=0001-01-01", "to=9999-12-31"])
def test_usage_dates_outside_the_calendar_window_are_400(owner_client, query):
    response = owner_client.get(f"/api/usage?{query}", HTTP_X_API_KEY=owner_client.api_key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"


@pytest.mark.parametrize("week", ["0001-01-01", "9999-12-31"])
def test_weekly_report_at_the_calendar_edges_falls_back_to_last_week(owner_client, week):
    response = owner_client.get(f"/portal/reports/weekly/?week={week}")
    assert response.status_code == 200
    assert reports.parse_week(week, reports.datetime.date(2026, 11, 25)) == reports.last_full_week(
        reports.datetime.date(2026, 11, 25)
    )


def test_switching_to_a_non_numeric_organization_is_404(owner_client):
    assert owner_client.post("/portal/switch/", {"organization": "abc"}).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "start=9999-12-31&end=9999-12-31",
        "start=0001-01-01&end=0001-01-05",
        "start=8999-12-31&end=9999-12-31",
        "start=1969-12-31&end=1970-01-01",
    ],
)
def test_dashboard_dates_outside_the_calendar_window_are_a_form_error(owner_client, query):
    response = owner_client.get(f"/portal/dashboard/?{query}")
    assert response.status_code == 200
    assert "Choose a date between 1970-01-01 and 9000-12-31." in response.content.decode()
    assert response.context["start"] == response.context["end"] - reports.datetime.timedelta(days=29)


@pytest.mark.parametrize("query", ["start=9000-12-31&end=9000-12-31", "start=1970-01-01&end=1970-01-01"])
def test_dashboard_at_the_calendar_window_edges_renders_that_day(owner_client, query):
    response = owner_client.get(f"/portal/dashboard/?{query}")
    assert response.status_code == 200
    assert response.context["start"] == response.context["end"] and not response.context["range_form"].errors


@pytest.mark.parametrize("query", ["days=99999", "days=-1", "days=abc", "start=2026-13-40&end=2026-01-01"])
def test_dashboard_junk_range_is_a_form_error(owner_client, query):
    response = owner_client.get(f"/portal/dashboard/?{query}")
    assert response.status_code == 200 and response.context["range_form"].errors


def test_date_range_reaches_the_last_day_of_the_calendar():
    last = reports.datetime.date.max
    assert list(figures.date_range(last - reports.datetime.timedelta(days=1), last))[-1] == last
