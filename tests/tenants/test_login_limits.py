"""The failed-login limiter shared by POST /api/auth/login and the portal login."""

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from tenants import login_limits
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"


@pytest.fixture(autouse=True)
def _fast_hashing_and_small_limit(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PORTAL_LOGIN_MAX_FAILURES = 3


@pytest.fixture
def user():
    return UserFactory(email="ops@jetty.example")


def api_login(client, email, password):
    return client.post(LOGIN, {"email": email, "password": password}, format="json")


def test_api_login_locks_out_an_email_without_checking_the_password(api_client, user, monkeypatch):
    for _ in range(3):
        assert api_login(api_client, user.email, "wrong").status_code == 401
    checked = []
    monkeypatch.setattr("tenants.views.authenticate", lambda *a, **k: checked.append(1))
    blocked = api_login(api_client, user.email, DEFAULT_PASSWORD)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_login_failures"
    assert 0 < int(blocked["Retry-After"]) <= 900
    assert checked == []  # the password was never looked at
    assert "sessionid" not in blocked.cookies


def test_api_login_locks_out_an_address_guessing_many_emails(user):
    attacker = APIClient(REMOTE_ADDR="203.0.113.9")
    for n in range(3):
        api_login(attacker, f"guess{n}@example.com", "wrong")
    assert api_login(attacker, user.email, DEFAULT_PASSWORD).status_code == 429
    assert api_login(APIClient(REMOTE_ADDR="198.51.100.7"), user.email, DEFAULT_PASSWORD).status_code == 200


def test_one_counter_for_both_surfaces(user):
    portal = Client()
    for _ in range(3):
        portal.post("/portal/login/", {"username": user.email, "password": "wrong"})
    assert api_login(APIClient(), user.email, DEFAULT_PASSWORD).status_code == 429


def test_success_clears_the_email_counter(api_client, user):
    for _ in range(2):
        api_login(api_client, user.email, "wrong")
    assert api_login(api_client, user.email, DEFAULT_PASSWORD).status_code == 200
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.7")  # a fresh address: only the email counter could block
    for _ in range(2):
        assert api_login(elsewhere, user.email, "wrong").status_code == 401


def test_portal_lockout_does_not_check_the_password(client, user, monkeypatch):
    for _ in range(3):
        client.post("/portal/login/", {"username": user.email, "password": "wrong"})
    checked = []
    monkeypatch.setattr("django.contrib.auth.forms.authenticate", lambda *a, **k: checked.append(1))
    blocked = client.post("/portal/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert blocked["Retry-After"]
    assert checked == []


def test_behind_a_proxy_each_client_is_counted_apart(settings, user):
    """All requests come from the proxy's address; with TRUSTED_PROXY_COUNT the forwarded client counts."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    attacker = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    for n in range(3):
        api_login(attacker, f"guess{n}@example.com", "wrong")
    assert api_login(attacker, user.email, DEFAULT_PASSWORD).status_code == 429
    victim = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert api_login(victim, user.email, DEFAULT_PASSWORD).status_code == 200
    portal_victim = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8")
    portal = portal_victim.post("/portal/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert portal.status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_limit(settings, user):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(3):  # the attacker prepends a fresh fake address each time; the proxy appends the real one
        client = APIClient(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.9")
        api_login(client, f"guess{n}@example.com", "wrong")
    again = APIClient(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.9")
    assert api_login(again, user.email, DEFAULT_PASSWORD).status_code == 429


@pytest.mark.parametrize(
    "trusted, forwarded, expected",
    [
        (0, "203.0.113.9", "10.0.0.2"),  # no trusted proxy: the header is the client's to forge
        (1, "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        (2, "1.1.1.1, 203.0.113.9, 10.0.0.5", "203.0.113.9"),
        (1, "", "10.0.0.2"),
    ],
)
def test_client_address(settings, trusted, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = trusted
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert login_limits.client_address(request) == expected
