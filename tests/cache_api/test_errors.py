"""Every documented error of the cache API, as JSON {"error": {"code", "message"}}, never a 500."""

import datetime
import time

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tenants import keys, services
from tests.cache_api.conftest import ENDPOINT_BODIES, URL, call
from tests.factories import ApiKeyFactory, NamespaceFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = ENDPOINT_BODIES


def error_of(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_missing_and_invalid_keys_are_401(tenant, endpoint):
    body = ENDPOINTS[endpoint]
    anonymous = APIClient()
    anonymous.credentials(HTTP_X_NAMESPACE=tenant.namespace.name)
    error_of(call(anonymous, endpoint, body), 401, "missing_api_key")
    for bad in ("ac_short", "not a key at all", keys.generate_key(), tenant.plaintext.upper()):
        error_of(call(tenant.client(key=bad), endpoint, body), 401, "invalid_api_key")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_revoked_and_expired_keys_are_401(tenant, endpoint):
    body = ENDPOINTS[endpoint]
    revoked = ApiKeyFactory(organization=tenant.organization, revoked_at=timezone.now())
    expired = ApiKeyFactory(organization=tenant.organization, expires_at=timezone.now() - datetime.timedelta(seconds=1))
    error_of(call(tenant.client(key=revoked.plaintext), endpoint, body), 401, "invalid_api_key")
    error_of(call(tenant.client(key=expired.plaintext), endpoint, body), 401, "invalid_api_key")


def test_key_expiring_while_cached_stops_working(tenant):
    expires_at = timezone.now() + datetime.timedelta(seconds=2)
    soon = ApiKeyFactory(organization=tenant.organization, expires_at=expires_at)
    client = tenant.client(key=soon.plaintext)
    assert call(client, "get", {"key": "k"}).status_code == 200  # now cached in-process
    time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()) + 0.05)
    error_of(call(client, "get", {"key": "k"}), 401, "invalid_api_key")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_namespace_is_404_whether_or_not_another_org_has_it(tenant, make_tenant, endpoint):
    body = ENDPOINTS[endpoint]
    other = make_tenant(namespace="theirs")
    nowhere = error_of(call(tenant.client(namespace="nowhere"), endpoint, body), 404, "namespace_not_found")
    theirs = error_of(call(tenant.client(namespace="theirs"), endpoint, body), 404, "namespace_not_found")
    assert nowhere["message"].replace("nowhere", "X") == theirs["message"].replace("theirs", "X")
    assert call(other.client(), endpoint, body).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_key_limited_to_other_namespaces_is_403(tenant, endpoint):
    other_ns = NamespaceFactory(organization=tenant.organization, name="other")
    limited = services.create_api_key(tenant.organization, namespaces=[other_ns])
    client = tenant.client(key=limited.plaintext)
    error_of(call(client, endpoint, ENDPOINTS[endpoint]), 403, "namespace_not_allowed")
    assert (
        call(tenant.client(namespace="other", key=limited.plaintext), endpoint, ENDPOINTS[endpoint]).status_code == 200
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_missing_namespace_header_is_400(tenant, endpoint):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=tenant.plaintext)
    assert error_of(call(client, endpoint, ENDPOINTS[endpoint]), 400, "missing_namespace")["field"] == "X-Namespace"


@pytest.mark.parametrize("endpoint", ["set", "get", "delete", "mget", "mset"])
def test_bad_json_is_400_naming_the_body(tenant, endpoint):
    client = tenant.client()
    for raw in (b"{not json", b'{"key": "k",}', b"", b"NaN"):
        response = client.post(URL + endpoint, raw, content_type="application/json")
        if raw == b"":
            error_of(response, 400, "invalid_field")  # empty body: the required field is named instead
        else:
            assert error_of(response, 400, "invalid_json")["field"] == "body"
    for not_object in (b"[1, 2]", b'"key"', b"42", b"null"):
        response = client.post(URL + endpoint, not_object, content_type="application/json")
        assert error_of(response, 400, "invalid_field")["field"] == "body"


def test_non_json_content_type_is_415(tenant):
    response = tenant.client().post(URL + "get", "key=k", content_type="application/x-www-form-urlencoded")
    error_of(response, 415, "unsupported_media_type")


def test_wrong_method_is_405_json(tenant):
    error_of(tenant.client().get(URL + "set"), 405, "method_not_allowed")
    error_of(tenant.client().post(URL + "stats", {}, format="json"), 405, "method_not_allowed")


BAD_KEYS = [
    (None, "key"),
    (12, "key"),
    ("", "key"),
    ("x" * 513, "key"),
    ("é" * 257, "key"),  # 514 bytes
    ("tab\there", "key"),
    ("nul\x00", "key"),
    ("del\x7f", "key"),
    ("c1\x85", "key"),
    (["k"], "key"),
]


@pytest.mark.parametrize("bad,field", BAD_KEYS, ids=[f"k{i}" for i in range(len(BAD_KEYS))])
def test_bad_keys_are_400_naming_the_field(tenant, bad, field):
    client = tenant.client()
    for endpoint, body in (
        ("set", {"key": bad, "value": 1}),
        ("get", {"key": bad}),
        ("delete", {"key": bad}),
    ):
        assert error_of(call(client, endpoint, body), 400, "invalid_field")["field"] == field
    assert error_of(call(client, "mget", {"keys": ["ok", bad]}), 400, "invalid_field")["field"] == "keys[1]"
    mset = call(client, "mset", {"items": [{"key": "ok", "value": 1}, {"key": bad, "value": 1}]})
    assert error_of(mset, 400, "invalid_field")["field"] == "items[1].key"


@pytest.mark.parametrize("ttl", [0, -1, 2592001, 1.5, "60", True, [60]])
def test_bad_ttl_is_400(tenant, ttl):
    response = call(tenant.client(), "set", {"key": "k", "value": 1, "ttl": ttl})
    assert error_of(response, 400, "invalid_field")["field"] == "ttl"


def test_ttl_bounds_are_accepted(tenant):
    for ttl in (1, 2592000):
        assert call(tenant.client(), "set", {"key": "k", "value": 1, "ttl": ttl}).json()["ttl"] == ttl


def test_missing_value_is_400(tenant):
    assert error_of(call(tenant.client(), "set", {"key": "k"}), 400, "invalid_field")["field"] == "value"
    mset = call(tenant.client(), "mset", {"items": [{"key": "k"}]})
    assert error_of(mset, 400, "invalid_field")["field"] == "items[0].value"


def test_bad_batches_are_400(tenant):
    client = tenant.client()
    for body, field in (
        ({"keys": []}, "keys"),
        ({"keys": "k"}, "keys"),
        ({}, "keys"),
    ):
        assert error_of(call(client, "mget", body), 400, "invalid_field")["field"] == field
    for body, field in (
        ({"items": []}, "items"),
        ({"items": {"key": "k"}}, "items"),
        ({"items": [{"key": "k", "value": 1}] * 1001}, "items"),
        ({"items": ["k"]}, "items[0]"),
    ):
        assert error_of(call(client, "mset", body), 400, "invalid_field")["field"] == field


def test_value_too_deeply_nested_is_400(tenant):
    deep = 1
    for _ in range(300):
        deep = [deep]
    assert error_of(call(tenant.client(), "set", {"key": "k", "value": deep}), 400, "invalid_field")["field"] == "value"


def test_value_over_the_plan_limit_is_413_naming_the_limit(make_tenant):
    tenant = make_tenant(max_value_bytes=100)
    client = tenant.client()
    assert call(client, "set", {"key": "k", "value": "x" * 98}).status_code == 200  # exactly 100 bytes
    error = error_of(call(client, "set", {"key": "k", "value": "x" * 99}), 413, "value_too_large")
    assert error["limit"] == 100 and "100" in error["message"]
    mset = call(client, "mset", {"items": [{"key": "a", "value": 1}, {"key": "b", "value": "x" * 200}]})
    assert error_of(mset, 413, "value_too_large")["field"] == "items[1].value"
    assert call(client, "get", {"key": "a"}).json()["hit"] is False


def test_body_over_the_api_limit_is_413(tenant, settings):
    settings.CACHE_API_MAX_BODY_BYTES = 1000
    response = call(tenant.client(), "set", {"key": "k", "value": "x" * 2000})
    assert error_of(response, 413, "body_too_large")["limit"] == 1000


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(["set", "get", "delete", "mget", "mset"]),
    body=st.dictionaries(st.sampled_from(["key", "keys", "value", "ttl", "items", "other"]), json_values, max_size=4),
)
def test_arbitrary_bodies_never_cause_a_500(tenant, endpoint, body):
    response = call(tenant.client(), endpoint, body)
    assert response.status_code in (200, 400, 413), response.content
    if response.status_code != 200:
        assert response.json()["error"]["code"] in ("invalid_field", "value_too_large")


def test_benchmark_floor_view_is_not_routed_outside_the_benchmark(client):
    assert client.get("/api/cache/_floor").status_code == 404
