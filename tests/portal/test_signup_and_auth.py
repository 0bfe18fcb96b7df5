import re

import pytest
from django.core import mail
from django.test import Client

from tenants import keys
from tenants.models import ApiKey, Membership, Organization, User
from tests.factories import DEFAULT_PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "ops@jettythunder.example",
    "password": "thunder-sync-2026",
    "organization_name": "JettyThunder",
    "sector": "filestorage",
    "description": "Desktop sync for firmware",
}


def test_signup_provisions_and_shows_the_key_once(client):
    page = client.get("/portal/signup/")
    assert page.status_code == 200
    assert b"storage" in page.content and b"file_dedup_cache" in page.content  # what the sector provisions

    response = client.post("/portal/signup/", SIGNUP)
    assert response.status_code == 200
    html = response.content.decode()
    plaintext = re.search(r'value="(ac_[0-9a-f]{64})"', html).group(1)
    assert "shown only once" in html and 'data-copy-target="api-key"' in html
    assert response["Cache-Control"] == "no-store"

    org = Organization.objects.get(slug="jettythunder")
    assert sorted(org.namespaces.values_list("name", flat=True)) == ["cdn", "metadata", "storage"]
    api_key = ApiKey.objects.get(organization=org)
    assert api_key.digest == keys.digest(plaintext)  # the page showed the real key; only its digest is stored
    assert Membership.objects.get(organization=org).role == "owner"

    dashboard = client.get("/portal/dashboard/")  # logged in by the signup
    assert dashboard.status_code == 200
    assert plaintext not in dashboard.content.decode()  # never shown again
    assert api_key.prefix in dashboard.content.decode()


@pytest.mark.parametrize(
    "change, field_message",
    [
        ({"password": "short"}, "at least 8"),
        ({"email": "not-an-email"}, "valid email"),
        ({"organization_name": ""}, "required"),
        ({"sector": "nope"}, "Select a valid choice"),
    ],
)
def test_signup_rejects_bad_input_with_the_form(client, change, field_message):
    response = client.post("/portal/signup/", {**SIGNUP, **change})
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert not Organization.objects.exists()


def test_signup_with_a_taken_email_names_the_problem(client):
    client.post("/portal/signup/", SIGNUP)
    other = Client()
    response = other.post("/portal/signup/", {**SIGNUP, "organization_name": "Copycat"})
    assert "already exists" in response.content.decode()
    assert Organization.objects.count() == 1


def test_signup_needs_csrf():
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/portal/signup/", SIGNUP).status_code == 403
    assert not User.objects.exists()


def test_legacy_pages_redirect(client):
    assert client.get("/portal/signup.html")["Location"] == "/portal/signup/"
    assert client.get("/portal/dashboard.html")["Location"] == "/portal/dashboard/"
    login_redirect = client.get("/portal/dashboard/")
    assert login_redirect.status_code == 302 and login_redirect["Location"].startswith("/portal/login/")


def test_login_and_logout(client, owner):
    response = client.post("/portal/login/", {"username": owner.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/portal/dashboard/"
    assert client.get("/portal/dashboard/").status_code == 200
    assert client.post("/portal/logout/").status_code == 302
    assert client.get("/portal/dashboard/").status_code == 302


def test_failed_logins_are_rate_limited_per_email(client, owner, settings):
    settings.PORTAL_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert client.post("/portal/login/", {"username": owner.email, "password": "wrong"}).status_code == 200
    blocked = client.post("/portal/login/", {"username": owner.email, "password": DEFAULT_PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert client.get("/portal/dashboard/").status_code == 302  # the right password did not get in while paused


def test_failed_logins_are_rate_limited_per_address(client, owner, settings):
    settings.PORTAL_LOGIN_MAX_FAILURES = 3
    for n in range(3):
        client.post("/portal/login/", {"username": f"guess{n}@example.com", "password": "wrong"})
    assert client.post("/portal/login/", {"username": owner.email, "password": DEFAULT_PASSWORD}).status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert elsewhere.post("/portal/login/", {"username": owner.email, "password": DEFAULT_PASSWORD}).status_code == 302


def test_login_needs_csrf(owner):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/portal/login/", {"username": owner.email, "password": DEFAULT_PASSWORD}).status_code == 403


def test_password_reset_by_email(client, owner):
    response = client.post("/portal/password-reset/", {"email": owner.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner.email]
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    link = re.search(r"http://testserver(/portal/reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "brand-new-pass-77", "new_password2": "brand-new-pass-77"}
    )
    assert done.status_code == 302
    assert Client().login(email=owner.email, password="brand-new-pass-77")


def test_user_without_organization_sees_an_explanation(client):
    membership = MembershipFactory()
    user = membership.user
    membership.delete()
    client.force_login(user)
    assert client.get("/portal/dashboard/").status_code == 403
