"""A member of one organization never sees another's pages or data, whatever ids they put in URLs."""

import datetime
import re

import pytest
from django.urls import URLPattern

from cache_api import metering
from cdn_eval.models import Evaluation
from portal import urls as portal_urls
from tenants.models import ApiKey, Membership, Namespace
from tests.factories import ApiKeyFactory, MembershipFactory, NamespaceFactory, UserFactory
from tests.portal.factories import UsageDailyFactory

pytestmark = pytest.mark.django_db

PUBLIC = {
    "home",
    "signup",
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    None,  # the legacy .html redirects and /portal/
}
# Views taking an id: each is requested with the other organization's object.
BY_ID = {
    "key_edit": ("get", "/portal/keys/{key}/"),
    "key_revoke": ("post", "/portal/keys/{key}/revoke/"),
    "namespace_edit": ("post", "/portal/namespaces/{ns}/"),
    "namespace_delete": ("post", "/portal/namespaces/{ns}/delete/"),
    "member_role": ("post", "/portal/members/{member}/role/"),
    "member_remove": ("post", "/portal/members/{member}/remove/"),
    "switch": ("post", "/portal/switch/"),
    "cdn_evaluation": ("get", "/portal/cdn/{evaluation}/"),
}
# Views without ids: the other organization's names must not appear in them.
LISTINGS = {
    "dashboard": "/portal/dashboard/?days=365",
    "keys": "/portal/keys/",
    "namespaces": "/portal/namespaces/",
    "members": "/portal/members/",
    "quickstart": "/portal/quickstart/",
    "weekly_report": "/portal/reports/weekly/",
    "api-usage": "/api/usage?from=2026-01-01&to=2026-12-31",
    "dedup": "/portal/dedup/",
    "cdn": "/portal/cdn/",
}
EXTRA = set()  # names added by later pages register here via test_every_portal_view_is_covered


@pytest.fixture
def foreign():
    """Another organization with recognisable data everywhere."""
    member = MembershipFactory(user=UserFactory(email="secret-owner@rival.example"), role=Membership.Role.OWNER)
    org = member.organization
    org.name = "RivalCorp"
    org.save()
    ns = NamespaceFactory(organization=org, name="rival-secret-ns", nodes=["file_dedup_cache", "cdn_accelerator"])
    key = ApiKeyFactory(organization=org, label="rival-secret-key")
    UsageDailyFactory(namespace=ns, day=metering.utc_today() - datetime.timedelta(days=8), hits=7777)
    metering.add_counts(org.id, ns.id, metering.utc_today(), requests=4242)
    evaluation = Evaluation.objects.create(
        organization=org, namespace=ns, status=Evaluation.Status.DONE, requests=4242, result={"requests": 4242}
    )
    return {"org": org, "ns": ns, "key": key, "member": member, "evaluation": evaluation}


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


def test_every_portal_view_is_covered():
    names = {p.name for p in portal_urls.urlpatterns if isinstance(p, URLPattern)}
    private = names - PUBLIC
    assert private <= set(BY_ID) | set(LISTINGS) | EXTRA, private - set(BY_ID) - set(LISTINGS) - EXTRA


@pytest.mark.parametrize("name", sorted(BY_ID))
def test_foreign_ids_answer_404_and_change_nothing(as_owner, foreign, name):
    method, path = BY_ID[name]
    url = path.format(
        key=foreign["key"].id, ns=foreign["ns"].id, member=foreign["member"].id, evaluation=foreign["evaluation"].id
    )
    data = {
        "label": "hijacked",
        "nodes": ["kv_cache"],
        "default_ttl": 5,
        "confirm_name": foreign["ns"].name,
        "role": "member",
        "organization": foreign["org"].id,
    }
    response = getattr(as_owner, method)(url, data)
    assert response.status_code == 404
    body = response.content.decode()
    assert "RivalCorp" not in body and "rival-secret" not in body
    key = ApiKey.objects.get(pk=foreign["key"].pk)
    assert key.revoked_at is None and key.label == "rival-secret-key"
    ns = Namespace.objects.get(pk=foreign["ns"].pk)
    assert ns.default_ttl == 86400
    assert Membership.objects.get(pk=foreign["member"].pk).role == "owner"


def test_foreign_and_missing_ids_look_the_same(as_owner, foreign):
    missing = as_owner.get("/portal/keys/999999/")
    theirs = as_owner.get(f"/portal/keys/{foreign['key'].id}/")
    assert missing.status_code == theirs.status_code == 404

    def without_csrf(body):  # the masked CSRF token differs on every response
        return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", body)

    assert without_csrf(missing.content) == without_csrf(theirs.content)


@pytest.mark.parametrize("name", sorted(LISTINGS))
def test_listings_show_only_the_users_organization(as_owner, foreign, name):
    response = as_owner.get(LISTINGS[name])
    assert response.status_code == 200
    body = response.content.decode()
    for secret in ("RivalCorp", "rival-secret-ns", "rival-secret-key", "secret-owner@rival.example", "7777", "4242"):
        assert secret not in body, f"{secret} leaked into {name}"
    assert foreign["key"].prefix not in body


def test_usage_api_namespace_of_another_org_is_not_found(as_owner, foreign):
    response = as_owner.get("/api/usage?namespace=rival-secret-ns")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "namespace_not_found"


def test_a_member_of_both_sees_each_only_when_switched(client, owner, organization, foreign):
    MembershipFactory(user=owner, organization=foreign["org"], role=Membership.Role.MEMBER)
    client.force_login(owner)
    assert "rival-secret-ns" not in client.get("/portal/namespaces/").content.decode()
    assert client.post("/portal/switch/", {"organization": foreign["org"].id}).status_code == 302
    assert "rival-secret-ns" in client.get("/portal/namespaces/").content.decode()
    assert client.get("/portal/keys/").status_code == 403  # a member there, not an admin
