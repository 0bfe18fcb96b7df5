from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from cache_api import authcache, stores
from tests.factories import ApiKeyFactory, NamespaceFactory, OrganizationFactory, PlanFactory

URL = "/api/cache/"


@pytest.fixture(autouse=True)
def _fresh_auth_cache():
    authcache.clear()
    stores.reset()
    yield
    authcache.clear()
    stores.reset()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.services)])
def store_kind(request, settings):
    """Runs a test once per store: the embedded SQLite store and (with services) Redis."""
    if request.param == "local":
        settings.REDIS_URL = ""
    elif not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    stores.reset()
    return request.param


@dataclass
class Tenant:
    organization: object
    namespace: object
    api_key: object
    plaintext: str

    def client(self, namespace=None, key=None):
        client = APIClient()
        client.credentials(
            HTTP_X_API_KEY=key if key is not None else self.plaintext,
            HTTP_X_NAMESPACE=namespace if namespace is not None else self.namespace.name,
        )
        return client


def call(client, endpoint, body=None, **extra):
    if endpoint == "stats":
        return client.get(URL + "stats", **extra)
    return client.post(URL + endpoint, body, format="json", **extra)


@pytest.fixture
def make_tenant(db):
    def make(namespace="shared", plan="starter", default_ttl=86400, rps=None, max_value_bytes=None, **plan_fields):
        plan_obj = PlanFactory(slug=plan)
        changed = {}
        if rps is not None:
            changed["requests_per_second"] = rps
        if max_value_bytes is not None:
            changed["max_value_bytes"] = max_value_bytes
        if changed or plan_fields:
            plan_obj = PlanFactory(slug=f"{plan}-test-{len(changed)}-{rps}-{max_value_bytes}", **changed, **plan_fields)
        organization = OrganizationFactory(plan=plan_obj)
        ns = NamespaceFactory(organization=organization, name=namespace, default_ttl=default_ttl)
        key = ApiKeyFactory(organization=organization)
        return Tenant(organization, ns, key, key.plaintext)

    return make


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()


# One minimal valid body per endpoint (None: GET stats), for tests that walk every endpoint.
ENDPOINT_BODIES = {
    "set": {"key": "k", "value": 1},
    "get": {"key": "k"},
    "delete": {"key": "k"},
    "mget": {"keys": ["k"]},
    "mset": {"items": [{"key": "k", "value": 1}]},
    "stats": None,
}
