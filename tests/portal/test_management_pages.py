"""Keys, namespaces and members pages: what owners/admins can do, and what members cannot."""

import re

import pytest
from django.core import mail

from tenants import keys
from tenants.models import ApiKey, Membership, Namespace, User
from tests.factories import ApiKeyFactory, MembershipFactory, NamespaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def as_member(client, organization):
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER)
    client.force_login(member.user)
    return client


def test_create_key_shows_it_once_with_label_and_namespaces(as_owner, organization):
    cdn = organization.namespaces.get(name="cdn")
    response = as_owner.post("/portal/keys/", {"label": "CI runner", "namespaces": [cdn.id]})
    assert response.status_code == 200
    plaintext = re.search(r'value="(ac_[0-9a-f]{64})"', response.content.decode()).group(1)
    api_key = ApiKey.objects.get(digest=keys.digest(plaintext))
    assert api_key.label == "CI runner"
    assert list(api_key.allowed_namespaces.all()) == [cdn]
    listing = as_owner.get("/portal/keys/").content.decode()
    assert api_key.prefix in listing and plaintext not in listing


def test_edit_key_label_and_namespaces(as_owner, organization):
    api_key = ApiKeyFactory(organization=organization)
    storage = organization.namespaces.get(name="storage")
    response = as_owner.post(f"/portal/keys/{api_key.id}/", {"label": "renamed", "namespaces": [storage.id]})
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.label == "renamed" and list(api_key.allowed_namespaces.all()) == [storage]


def test_key_cannot_be_restricted_to_another_organizations_namespace(as_owner, organization, other_organization):
    foreign = other_organization.namespaces.get()
    response = as_owner.post("/portal/keys/", {"label": "x", "namespaces": [foreign.id]})
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.filter(label="x").exists()


def test_revoke_key(as_owner, organization):
    api_key = ApiKeyFactory(organization=organization)
    assert as_owner.post(f"/portal/keys/{api_key.id}/revoke/").status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_key_plan_limit_is_explained(as_owner, organization):
    organization.plan.max_api_keys = 1
    organization.plan.save()
    ApiKeyFactory(organization=organization)
    response = as_owner.post("/portal/keys/", {"label": "one too many"})
    assert "allows at most 1 active API keys" in response.content.decode()


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/portal/keys/"),
        ("post", "/portal/keys/"),
        ("post", "/portal/keys/{key}/revoke/"),
        ("get", "/portal/keys/{key}/"),
        ("post", "/portal/namespaces/"),
        ("get", "/portal/namespaces/{ns}/delete/"),
        ("post", "/portal/namespaces/{ns}/delete/"),
        ("post", "/portal/members/"),
        ("post", "/portal/members/{m}/remove/"),
    ],
)
def test_members_cannot_manage(as_member, organization, owner, method, path):
    api_key = ApiKeyFactory(organization=organization)
    ns = organization.namespaces.first()
    owner_membership = Membership.objects.get(user=owner)
    url = path.format(key=api_key.id, ns=ns.id, m=owner_membership.id)
    response = getattr(as_member, method)(url, {"label": "x", "name": "new", "confirm_name": ns.name, "email": "a@b.c"})
    assert response.status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None and Namespace.objects.filter(pk=ns.pk).exists()
    assert Membership.objects.filter(pk=owner_membership.pk).exists()


def test_members_see_dashboard_and_namespaces(as_member):
    assert as_member.get("/portal/dashboard/").status_code == 200
    page = as_member.get("/portal/namespaces/").content.decode()
    assert "Create a namespace" not in page


def test_create_namespace_within_plan_limit(as_owner, organization):
    response = as_owner.post(
        "/portal/namespaces/", {"name": "sessions", "nodes": ["kv_cache", "session_cache"], "default_ttl": 600}
    )
    assert response.status_code == 302
    ns = Namespace.objects.get(organization=organization, name="sessions")
    assert ns.nodes == ["kv_cache", "session_cache"] and ns.default_ttl == 600

    organization.plan.max_namespaces = 3
    organization.plan.save()
    refused = as_owner.post("/portal/namespaces/", {"name": "fourth", "nodes": [], "default_ttl": 60})
    assert "allows at most 3 namespaces" in refused.content.decode()
    assert not Namespace.objects.filter(name="fourth").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "Bad Name", "default_ttl": 60}, "Namespace names are"),
        ({"name": "ok", "default_ttl": 0}, "greater than or equal to 1"),
        ({"name": "ok", "nodes": ["warp_drive"], "default_ttl": 60}, "Select a valid choice"),
        ({"name": "cdn", "default_ttl": 60}, "already exists"),
    ],
)
def test_namespace_form_errors(as_owner, data, message):
    response = as_owner.post("/portal/namespaces/", data)
    assert response.status_code == 200 and message in response.content.decode()


def test_edit_namespace_nodes_and_ttl(as_owner, organization):
    ns = organization.namespaces.get(name="cdn")
    response = as_owner.post(f"/portal/namespaces/{ns.id}/", {"nodes": ["desktop_cdn"], "default_ttl": 120})
    assert response.status_code == 302
    ns.refresh_from_db()
    assert ns.nodes == ["desktop_cdn"] and ns.default_ttl == 120


def test_delete_namespace_needs_its_name(as_owner, organization):
    ns = organization.namespaces.get(name="cdn")
    page = as_owner.get(f"/portal/namespaces/{ns.id}/delete/")
    assert "cannot be undone" in page.content.decode()
    wrong = as_owner.post(f"/portal/namespaces/{ns.id}/delete/", {"confirm_name": "cdnx"})
    assert wrong.status_code == 400 and Namespace.objects.filter(pk=ns.pk).exists()
    assert as_owner.post(f"/portal/namespaces/{ns.id}/delete/", {"confirm_name": "cdn"}).status_code == 302
    assert not Namespace.objects.filter(pk=ns.pk).exists()


def test_invite_new_user_by_email_sets_password_through_the_link(as_owner, organization, client):
    response = as_owner.post("/portal/members/", {"email": "New.Person@Example.com", "role": "admin"})
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user, organization=organization).role == "admin"
    message = mail.outbox[-1]
    assert message.to == ["new.person@example.com"] and organization.name in message.subject
    assert message.alternatives[0][1] == "text/html"
    link = re.search(r"http://testserver(/portal/reset/\S+/)", message.body).group(1)
    client.logout()
    form = client.get(link, follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": "invited-pass-123", "new_password2": "invited-pass-123"})
    assert client.login(email="new.person@example.com", password="invited-pass-123")


def test_invite_existing_user_and_duplicates(as_owner, organization, other_organization):
    rival_owner = User.objects.get(email="rival@example.com")
    as_owner.post("/portal/members/", {"email": rival_owner.email, "role": "member"})
    assert Membership.objects.filter(user=rival_owner, organization=organization).exists()
    again = as_owner.post("/portal/members/", {"email": rival_owner.email, "role": "member"})
    assert "already a member" in again.content.decode()


def test_roles_rules(client, organization, owner):
    admin = MembershipFactory(organization=organization, role=Membership.Role.ADMIN)
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER)
    owner_membership = Membership.objects.get(user=owner)
    client.force_login(admin.user)
    client.post(f"/portal/members/{member.id}/role/", {"role": "admin"})
    member.refresh_from_db()
    assert member.role == "admin"
    client.post(f"/portal/members/{member.id}/role/", {"role": "owner"})  # admins cannot make owners
    member.refresh_from_db()
    assert member.role == "admin"
    client.post(f"/portal/members/{owner_membership.id}/remove/")  # nor remove owners
    assert Membership.objects.filter(pk=owner_membership.pk).exists()

    client.force_login(owner)
    client.post(f"/portal/members/{owner_membership.id}/role/", {"role": "member"})  # the last owner stays
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"
    client.post(f"/portal/members/{member.id}/remove/")
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_quickstart_uses_the_organizations_namespaces(as_owner, organization):
    NamespaceFactory(organization=organization, name="zeta-space")
    html = as_owner.get("/portal/quickstart/").content.decode()
    assert "X-Namespace: cdn" in html and "zeta-space" in html
    assert "/api/docs/" in html
    assert "curl" in html and "import requests" in html and "await fetch" in html
