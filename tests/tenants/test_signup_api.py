import pytest

from tenants.models import Organization
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/api/auth/signup"


def body(**overrides):
    org = {"name": "JettyThunder", "sector": "filestorage", "description": "Desktop file sync"}
    org_overrides = overrides.pop("organization", {})
    if org_overrides is None:
        org = None
    else:
        org.update(org_overrides)
    data = {"email": "ops@jettythunder.example", "password": DEFAULT_PASSWORD, "organization": org}
    data.update(overrides)
    return data


def test_signup_provisions_jettythunder(api_client):
    response = api_client.post(SIGNUP, body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["organization"] == {
        "name": "JettyThunder",
        "slug": "jettythunder",
        "sector": "filestorage",
        "description": "Desktop file sync",
        "plan": "starter",
    }
    assert {ns["name"]: sorted(ns["nodes"]) for ns in data["namespaces"]} == {
        "storage": ["file_dedup_cache", "seagate_lyve_connector"],
        "cdn": ["cdn_accelerator", "desktop_cdn"],
        "metadata": ["audit_log_cache", "metadata_cache"],
    }
    assert data["api_key"].startswith("ac_") and len(data["api_key"]) == 67
    assert data["api_key_prefix"] == data["api_key"][:11]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "12345678"}, "password"),  # Django's numeric/common validators
        ({"password": "password"}, "password"),
        ({"organization": {"sector": "astrology"}}, "organization.sector"),
        ({"organization": {"name": ""}}, "organization.name"),
        ({"organization": None}, "organization"),
    ],
)
def test_bad_signup_inputs_name_the_field(api_client, overrides, field):
    data = body(**overrides)
    response = api_client.post(SIGNUP, data, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["field"] == field
    assert not Organization.objects.exists()


def test_duplicate_email_is_a_400_on_email(api_client):
    UserFactory(email="ops@jettythunder.example")
    response = api_client.post(SIGNUP, body(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "email"


def test_malformed_json_is_a_json_400(api_client):
    response = api_client.post(SIGNUP, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_login_starts_a_session_and_lists_organizations(api_client):
    api_client.post(SIGNUP, body(), format="json")
    bad = api_client.post("/api/auth/login", {"email": "ops@jettythunder.example", "password": "wrong"}, format="json")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_credentials"
    ok = api_client.post(
        "/api/auth/login", {"email": "OPS@jettythunder.example", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert ok.status_code == 200
    assert [o["slug"] for o in ok.json()["organizations"]] == ["jettythunder"]
    assert "sessionid" in ok.cookies


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_email_longer_than_the_column_is_a_400_on_email(api_client):
    """255-320 characters pass the email syntax check; the varchar(254) column would raise on PostgreSQL."""
    email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".example"
    assert 254 < len(email) <= 320
    response = api_client.post(SIGNUP, body(email=email), format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == "email"
    assert not Organization.objects.exists()


def test_service_refuses_an_overlong_email_for_every_caller():
    from config.errors import ApiError
    from tenants import services

    with pytest.raises(ApiError) as err:
        services.validate_new_user("a" * 250 + "@x.example", DEFAULT_PASSWORD)
    assert err.value.extra["field"] == "email"


def test_passwords_are_not_trimmed(api_client):
    padded = "  " + DEFAULT_PASSWORD + "  "
    assert api_client.post(SIGNUP, body(password=padded), format="json").status_code == 201
    login = "/api/auth/login"
    trimmed = api_client.post(login, {"email": "ops@jettythunder.example", "password": DEFAULT_PASSWORD}, format="json")
    assert trimmed.status_code == 401
    exact = api_client.post(login, {"email": "ops@jettythunder.example", "password": padded}, format="json")
    assert exact.status_code == 200


def test_emails_are_lowercased_on_every_save_path_and_login_ignores_case(api_client, client):
    from tenants.models import User

    by_manager = User.objects.create_user("Mixed.Case@Example.COM", DEFAULT_PASSWORD)
    assert by_manager.email == "mixed.case@example.com"
    by_factory = UserFactory(email="Factory@Example.com")  # a plain save(), as the admin's forms do
    by_factory.refresh_from_db()
    assert by_factory.email == "factory@example.com"
    for email in ("MIXED.case@example.com", "mixed.case@example.com"):
        response = api_client.post("/api/auth/login", {"email": email, "password": DEFAULT_PASSWORD}, format="json")
        assert response.status_code == 200, email
        assert client.login(email=email, password=DEFAULT_PASSWORD)
    portal = client.post("/portal/login/", {"username": "FACTORY@example.com", "password": DEFAULT_PASSWORD})
    assert portal.status_code == 302


def test_a_legacy_mixed_case_row_can_still_log_in(api_client):
    from tenants.models import User

    user = UserFactory()
    User.objects.filter(pk=user.pk).update(email="Legacy@Example.com")  # saved before lowercasing existed
    response = api_client.post("/api/auth/login", {"email": "legacy@example.com", "password": DEFAULT_PASSWORD},
                               format="json")
    assert response.status_code == 200
