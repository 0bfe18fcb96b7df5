"""Numbers beyond int64 in an access log are a 400 naming the field, never a 500."""

import pytest

from tenants import services
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_key():
    return services.provision_organization(
        owner_email="ranges@example.com", owner_password=DEFAULT_PASSWORD, name="Ranges", sector_slug="filestorage"
    ).issued_key.plaintext


@pytest.mark.parametrize(
    "record, field",
    [
        ({"timestamp": 1e30, "path": "a", "size": 1}, "timestamp"),
        ({"timestamp": 1, "path": "a", "size": 99999999999999999999999}, "size"),
    ],
)
def test_cdn_records_beyond_int64_are_400_naming_the_field(client, api_key, record, field):
    response = client.post(
        "/api/cdn/evaluate",
        {"accessHistory": [record]},
        content_type="application/json",
        HTTP_X_API_KEY=api_key,
        HTTP_X_NAMESPACE="cdn",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
