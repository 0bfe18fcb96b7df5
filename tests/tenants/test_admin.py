import re

import pytest

from tenants.models import ApiKey, Organization
from tenants.services import provision_organization
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.fixture
def org():
    return provision_organization(
        owner_email="owner@jetty.example", owner_password=DEFAULT_PASSWORD, name="JettyThunder",
        sector_slug="filestorage",
    ).organization


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/tenants/organization/",
        "/admin/tenants/organization/?q=owner@jetty.example",
        "/admin/tenants/organization/?plan__id__exact=1&is_active__exact=1",
        "/admin/tenants/organization/onboard/",
        "/admin/tenants/plan/",
        "/admin/tenants/sector/",
        "/admin/tenants/namespace/",
        "/admin/tenants/apikey/",
        "/admin/tenants/user/",
    ],
)
def test_admin_pages_render(staff_client, org, url):
    response = staff_client.get(url)
    assert response.status_code == 200


def test_organization_change_page_shows_namespaces_and_keys_read_only(staff_client, org):
    response = staff_client.get(f"/admin/tenants/organization/{org.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "storage" in html and "metadata" in html
    assert ApiKey.objects.get(organization=org).prefix in html


def test_search_by_member_email_finds_the_organization(staff_client, org):
    response = staff_client.get("/admin/tenants/organization/", {"q": "owner@jetty.example"})
    assert "JettyThunder" in response.content.decode()


def test_onboard_action_provisions_and_shows_key_once(staff_client):
    response = staff_client.post(
        "/admin/tenants/organization/onboard/",
        {"name": "Acme Media", "sector": "media", "plan": "professional", "owner_email": "boss@acme.example",
         "owner_password": DEFAULT_PASSWORD, "description": ""},
        follow=True,
    )
    assert response.status_code == 200
    org = Organization.objects.get(slug="acme-media")
    assert org.plan.slug == "professional"
    assert sorted(org.namespaces.values_list("name", flat=True)) == ["assets", "manifests", "thumbnails"]
    shown = re.findall(r"ac_[0-9a-f]{64}", response.content.decode())
    assert len(set(shown)) == 1
    assert ApiKey.objects.get(organization=org).digest == __import__("hashlib").sha256(shown[0].encode()).hexdigest()
    again = staff_client.get(f"/admin/tenants/organization/{org.pk}/change/")
    assert shown[0] not in again.content.decode()


def test_admin_actions_change_plan_deactivate_revoke(staff_client, org):
    changelist = "/admin/tenants/organization/"
    staff_client.post(changelist, {"action": "change_plan_to_professional", "_selected_action": [org.pk]})
    org.refresh_from_db()
    assert org.plan.slug == "professional"
    staff_client.post(changelist, {"action": "issue_key", "_selected_action": [org.pk]})
    assert ApiKey.objects.filter(organization=org).active().count() == 2
    staff_client.post(changelist, {"action": "revoke_all_keys", "_selected_action": [org.pk]})
    assert ApiKey.objects.filter(organization=org).active().count() == 0
    staff_client.post(changelist, {"action": "deactivate", "_selected_action": [org.pk]})
    org.refresh_from_db()
    assert org.is_active is False
