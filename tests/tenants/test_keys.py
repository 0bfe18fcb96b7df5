import datetime
import re

import pytest
from django.utils import timezone

from tenants import keys, selectors, services
from tests.factories import ApiKeyFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_key_format_and_digest():
    plaintext = keys.generate_key()
    assert re.fullmatch(r"^ac_[0-9a-f]{64}$", plaintext)
    assert keys.digest(plaintext) == __import__("hashlib").sha256(plaintext.encode()).hexdigest()
    assert keys.generate_key() != plaintext


def test_issued_key_stores_only_digest_and_prefix():
    issued = services.create_api_key(OrganizationFactory(), label="ci")
    row = issued.api_key
    row.refresh_from_db()
    assert row.digest == keys.digest(issued.plaintext)
    assert row.prefix == issued.plaintext[:11]
    assert issued.plaintext not in repr(row.__dict__)


def test_lookup_finds_active_key_and_rejects_wrong_ones():
    key = ApiKeyFactory()
    assert selectors.find_api_key(key.plaintext) == key
    assert selectors.find_api_key(key.plaintext[:-1] + ("0" if key.plaintext[-1] != "0" else "1")) is None
    assert selectors.find_api_key("ac_not-a-key") is None
    assert selectors.find_api_key("") is None


def test_revoked_key_stops_working_at_once():
    key = ApiKeyFactory()
    services.revoke_api_key(key)
    assert selectors.find_api_key(key.plaintext) is None


def test_expired_key_is_rejected():
    key = ApiKeyFactory(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert selectors.find_api_key(key.plaintext) is None
    fresh = ApiKeyFactory(expires_at=timezone.now() + datetime.timedelta(hours=1))
    assert selectors.find_api_key(fresh.plaintext) == fresh


def test_expired_key_is_refused_over_http(api_client):
    from tests.factories import NamespaceFactory

    namespace = NamespaceFactory(name="storage")
    expired = ApiKeyFactory(
        organization=namespace.organization, expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    fresh = ApiKeyFactory(organization=namespace.organization)
    for key, status, code in [(expired, 401, "invalid_api_key"), (fresh, 200, None)]:
        response = api_client.post(
            "/api/cache/get", {"key": "k"}, format="json", HTTP_X_API_KEY=key.plaintext, HTTP_X_NAMESPACE="storage"
        )
        assert response.status_code == status, response.content
        if code:
            assert response.json()["error"]["code"] == code


def test_key_of_deactivated_organization_is_rejected():
    key = ApiKeyFactory()
    services.set_active(key.organization, False)
    assert selectors.find_api_key(key.plaintext) is None


def test_last_used_is_written_at_most_once_a_minute():
    key = ApiKeyFactory()
    now = timezone.now()
    assert services.touch_last_used(key.id, now) == 1
    assert services.touch_last_used(key.id, now + datetime.timedelta(seconds=30)) == 0
    assert services.touch_last_used(key.id, now + datetime.timedelta(seconds=61)) == 1


def test_key_namespaces_must_belong_to_the_organization():
    from tests.factories import NamespaceFactory

    org = OrganizationFactory()
    other = NamespaceFactory()
    with pytest.raises(Exception) as err:
        services.create_api_key(org, namespaces=[other])
    assert "namespaces" in str(err.value.extra.get("field"))
