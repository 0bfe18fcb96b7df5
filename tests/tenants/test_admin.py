import re

import pytest

from tenants.models import ApiKey, Namespace, Organization, User
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
        "/admin/tenants/namespace/add/",
        "/admin/tenants/user/add/",
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


def test_filter_by_plan_and_active(staff_client, org):
    other = provision_organization(
        owner_email="pro@acme.example", owner_password=DEFAULT_PASSWORD, name="Acme", sector_slug="media",
        plan_slug="professional",
    ).organization
    response = staff_client.get("/admin/tenants/organization/", {"plan__id__exact": org.plan_id, "is_active__exact": 1})
    assert response.status_code == 200
    html = response.content.decode()
    assert "JettyThunder" in html and other.name not in html


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


# --- Adding organizations goes through onboarding ---------------------------------------------


def test_add_organization_goes_to_onboarding_and_creates_nothing(staff_client):
    page = staff_client.get("/admin/tenants/organization/add/")
    assert page.status_code == 302 and page["Location"] == "/admin/tenants/organization/onboard/"
    for _ in range(2):  # a bare row used to be saved with slug "" (and the second one 500ed)
        posted = staff_client.post("/admin/tenants/organization/add/", {"name": "Bare", "sector": 1, "plan": 1})
        assert posted.status_code == 302
    assert not Organization.objects.exists()
    changelist = staff_client.get("/admin/tenants/organization/").content.decode()
    assert "/admin/tenants/organization/onboard/" in changelist


def test_onboarding_a_new_owner_without_password_emails_a_link_to_choose_one(staff_client, client):
    from django.core import mail

    response = staff_client.post(
        "/admin/tenants/organization/onboard/",
        {"name": "Acme Media", "sector": "media", "plan": "starter", "owner_email": "Boss@Acme.example",
         "owner_password": "", "description": ""},
        follow=True,
    )
    assert response.status_code == 200
    owner = User.objects.get(email="boss@acme.example")
    assert not owner.has_usable_password()
    assert Organization.objects.get(slug="acme-media").memberships.get().user == owner
    assert [m.to for m in mail.outbox] == [["boss@acme.example"]]
    link = re.search(r"http://testserver(/portal/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "brand-new-pass-77",
                                                    "new_password2": "brand-new-pass-77"})
    assert done.status_code == 302
    assert client.login(email="boss@acme.example", password="brand-new-pass-77")


def test_onboarding_with_a_weak_password_is_a_form_error(staff_client):
    response = staff_client.post(
        "/admin/tenants/organization/onboard/",
        {"name": "Acme", "sector": "media", "plan": "starter", "owner_email": "boss@acme.example",
         "owner_password": "12345678"},
    )
    assert response.status_code == 200
    assert "too common" in response.content.decode() or "entirely numeric" in response.content.decode()
    assert not Organization.objects.exists() and not User.objects.filter(email="boss@acme.example").exists()


def test_organizations_cannot_be_deleted_from_admin(staff_client, org):
    assert staff_client.get(f"/admin/tenants/organization/{org.pk}/delete/").status_code == 403
    staff_client.post("/admin/tenants/organization/", {"action": "delete_selected", "_selected_action": [org.pk]})
    assert Organization.objects.filter(pk=org.pk).exists()


# --- Namespaces through tenants.services -------------------------------------------------------


@pytest.fixture
def deleted_namespaces():
    from tenants.services import namespace_deleted

    seen = []

    def receiver(sender, namespace, **kwargs):
        seen.append(namespace.name)

    namespace_deleted.connect(receiver, dispatch_uid="test-admin-deleted")
    yield seen
    namespace_deleted.disconnect(dispatch_uid="test-admin-deleted")


def add_namespace(client, org, **overrides):
    data = {"organization": org.pk, "name": "extra", "nodes": ["kv_cache"], "default_ttl": 60, **overrides}
    return client.post("/admin/tenants/namespace/add/", data)


def test_add_namespace_page_creates_through_the_service(staff_client, org):
    response = add_namespace(staff_client, org, nodes=["metadata_cache", "kv_cache"])
    assert response.status_code == 302, response.content.decode()[:2000]
    ns = Namespace.objects.get(organization=org, name="extra")
    assert ns.nodes == ["kv_cache", "metadata_cache"] and ns.default_ttl == 60


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"default_ttl": 0}, "1 to 2592000"),
        ({"name": "Has Space"}, "lowercase"),
        ({"name": "storage"}, "already exists"),
        ({"organization": ""}, "required"),
    ],
)
def test_add_namespace_refusals_are_form_errors(staff_client, org, overrides, message):
    response = add_namespace(staff_client, org, **overrides)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Namespace.objects.filter(organization=org).count() == 3


def test_add_namespace_respects_the_plan_limit(staff_client, org):
    assert add_namespace(staff_client, org, name="four").status_code == 302
    assert add_namespace(staff_client, org, name="five").status_code == 302
    refused = add_namespace(staff_client, org, name="six")  # starter allows 5
    assert refused.status_code == 200 and "at most 5 namespaces" in refused.content.decode()
    assert Namespace.objects.filter(organization=org).count() == 5


def test_namespace_change_keeps_the_name_and_validates_ttl(staff_client, org):
    ns = org.namespaces.get(name="storage")
    url = f"/admin/tenants/namespace/{ns.pk}/change/"
    bad = staff_client.post(url, {"organization": org.pk, "name": "renamed", "nodes": ["kv_cache"], "default_ttl": 0})
    assert bad.status_code == 200 and "1 to 2592000" in bad.content.decode()
    ok = staff_client.post(url, {"organization": org.pk, "name": "renamed", "nodes": ["kv_cache"], "default_ttl": 5})
    assert ok.status_code == 302
    ns.refresh_from_db()
    assert (ns.name, ns.nodes, ns.default_ttl) == ("storage", ["kv_cache"], 5)


def test_namespace_delete_frees_data_through_the_service(staff_client, org, deleted_namespaces):
    ns = org.namespaces.get(name="storage")
    response = staff_client.post(f"/admin/tenants/namespace/{ns.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    cdn = org.namespaces.get(name="cdn")
    staff_client.post("/admin/tenants/namespace/", {"action": "delete_selected", "_selected_action": [cdn.pk],
                                                    "post": "yes"})
    assert deleted_namespaces == ["storage", "cdn"]
    assert list(org.namespaces.values_list("name", flat=True)) == ["metadata"]


def _org_change_data(org, namespace_rows):
    """The organization change form as the browser posts it, with the namespace inline rows given."""
    existing = list(org.namespaces.order_by("pk"))
    data = {
        "name": org.name, "sector": org.sector_id, "plan": org.plan_id, "description": "", "is_active": "on",
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
        "api_keys-TOTAL_FORMS": 0, "api_keys-INITIAL_FORMS": 0,
        "namespaces-TOTAL_FORMS": len(namespace_rows), "namespaces-INITIAL_FORMS": len(existing),
    }
    for i, row in enumerate(namespace_rows):
        for key, value in row.items():
            data[f"namespaces-{i}-{key}"] = value
        if i < len(existing):
            data[f"namespaces-{i}-id"] = existing[i].pk
            data[f"namespaces-{i}-organization"] = org.pk
    return data


def _existing_rows(org, delete=()):
    return [
        {"name": ns.name, "nodes": ns.nodes, "default_ttl": ns.default_ttl, **({"DELETE": "on"} if ns.name in delete
                                                                               else {})}
        for ns in org.namespaces.order_by("pk")
    ]


def test_inline_namespaces_go_through_the_services(staff_client, org, deleted_namespaces):
    url = f"/admin/tenants/organization/{org.pk}/change/"
    rows = _existing_rows(org, delete={"cdn"}) + [{"name": "logs", "nodes": ["kv_cache"], "default_ttl": 30}]
    response = staff_client.post(url, _org_change_data(org, rows))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert deleted_namespaces == ["cdn"]
    assert sorted(org.namespaces.values_list("name", flat=True)) == ["logs", "metadata", "storage"]


def test_inline_refuses_more_namespaces_than_the_plan_allows(staff_client, org):
    url = f"/admin/tenants/organization/{org.pk}/change/"
    new = [{"name": f"n{i}", "nodes": ["kv_cache"], "default_ttl": 30} for i in range(3)]  # 3 + 3 > 5
    response = staff_client.post(url, _org_change_data(org, _existing_rows(org) + new))
    assert response.status_code == 200
    assert "at most 5 namespaces" in response.content.decode()
    assert org.namespaces.count() == 3


def test_inline_refuses_a_zero_ttl(staff_client, org):
    url = f"/admin/tenants/organization/{org.pk}/change/"
    rows = _existing_rows(org)
    rows[0]["default_ttl"] = 0
    response = staff_client.post(url, _org_change_data(org, rows))
    assert response.status_code == 200 and "1 to 2592000" in response.content.decode()
    assert 0 not in org.namespaces.values_list("default_ttl", flat=True)


# --- Sector templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, message",
    [
        ('[{"nodes": ["kv_cache"]}]', "name"),
        ('[{"name": "store", "nodes": ["warp_drive"]}]', "warp_drive"),
        ('[{"name": "Bad Name", "nodes": []}]', "lowercase"),
        ('[{"name": "a", "nodes": [], "default_ttl": 0}]', "1 to 2592000"),
        ('[{"name": "a"}, {"name": "a"}]', "twice"),
        ('{"name": "a"}', "list"),
        ("[" + ", ".join(f'{{"name": "n{i}"}}' for i in range(6)) + "]", "at most 5 namespaces"),  # starter: 5
    ],
)
def test_sector_templates_are_validated_in_admin(staff_client, template, message):
    from tenants.models import Sector

    sector = Sector.objects.get(slug="media")
    before = sector.namespaces
    response = staff_client.post(
        f"/admin/tenants/sector/{sector.pk}/change/",
        {"slug": "media", "name": sector.name, "description": "", "namespaces": template},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    sector.refresh_from_db()
    assert sector.namespaces == before


def test_a_valid_sector_template_saves_and_provisions(staff_client):
    from tenants.models import Sector

    sector = Sector.objects.get(slug="media")
    response = staff_client.post(
        f"/admin/tenants/sector/{sector.pk}/change/",
        {"slug": "media", "name": sector.name, "description": "",
         "namespaces": '[{"name": "clips", "nodes": ["thumbnail_cache"], "default_ttl": 600}]'},
    )
    assert response.status_code == 302
    org = provision_organization(owner_email="m@x.example", owner_password=DEFAULT_PASSWORD, name="M",
                                 sector_slug="media").organization
    assert [(n.name, n.nodes, n.default_ttl) for n in org.namespaces.all()] == [("clips", ["thumbnail_cache"], 600)]


# --- Users ---------------------------------------------------------------------------------------


def test_admin_user_add_lowercases_and_refuses_a_case_variant(staff_client):
    data = {"email": "New.Person@Example.com", "password1": "brand-new-pass-77", "password2": "brand-new-pass-77",
            "usable_password": "true"}
    assert staff_client.post("/admin/tenants/user/add/", data).status_code == 302
    assert User.objects.filter(email="new.person@example.com").exists()
    again = staff_client.post("/admin/tenants/user/add/", {**data, "email": "NEW.person@example.com"})
    assert again.status_code == 200 and "already exists" in again.content.decode()
    assert User.objects.filter(email__iexact="new.person@example.com").count() == 1


def test_a_refusal_the_form_did_not_foresee_is_a_message_not_a_500(staff_client, org, monkeypatch):
    """E.g. a concurrent add took the last slot between the form check and the locked create."""
    from tenants import services

    for name in ("four", "five"):
        services.create_namespace(org, name, ["kv_cache"])
    monkeypatch.setattr(services, "check_new_namespace", lambda *a, **k: None)
    response = add_namespace(staff_client, org, name="six")
    assert response.status_code == 302
    assert Namespace.objects.filter(organization=org).count() == 5
    page = staff_client.get(response["Location"])
    assert "at most 5 namespaces" in page.content.decode()
