"""Redis Cluster safety: every key one store script (or the stats pipeline) touches hashes to one slot.

On a cluster, a script whose KEYS span slots fails with CROSSSLOT. The keys are captured where they
are handed to Redis (the script invocation and the pipeline's command stack), so this checks what is
really sent, and the slot is computed with redis-py's own cluster hash (CRC16-XMODEM of the hash tag).
"""

import pytest
from redis.client import Pipeline
from redis.crc import key_slot

from cache_api import keyspace, stores
from tests.cache_api.conftest import call

pytestmark = [pytest.mark.django_db, pytest.mark.services]

REQUESTS = {
    "set": {"key": "k", "value": 1},
    "get": {"key": "k"},
    "delete": {"key": "k"},
    "mget": {"keys": ["k", "{o1:n1}:other-tag-in-the-key", "x"]},
    "mset": {"items": [{"key": "a", "value": 1}, {"key": "{b}", "value": 2}]},
    "stats": None,
}


@pytest.fixture
def redis_store(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    stores.reset()


@pytest.fixture
def sent(monkeypatch):
    """Every script call's KEYS and every pipeline's keys, as sent to Redis."""
    calls = []
    run, execute = stores._Script.run, Pipeline.execute

    def recording_run(script, client, keys, args):
        calls.append(("script", list(keys)))
        return run(script, client, keys, args)

    def recording_execute(pipe, *args, **kwargs):
        calls.append(("pipeline", [command[1] for command, _options in pipe.command_stack if len(command) > 1]))
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(stores._Script, "run", recording_run)
    monkeypatch.setattr(Pipeline, "execute", recording_execute)
    return calls


def slot(key):
    return key_slot(key if isinstance(key, bytes) else key.encode())


@pytest.mark.parametrize("endpoint", REQUESTS)
def test_every_key_of_a_request_is_in_the_namespace_slot(redis_store, make_tenant, sent, endpoint):
    tenant = make_tenant(rps=1000)  # a limit, so the rate window key is used too
    client = tenant.client()
    call(client, "get", {"key": "warm-up"})  # cold load (auth token, shared copy) is not the request under test
    sent.clear()
    response = call(client, endpoint, REQUESTS[endpoint])
    assert response.status_code == 200, response.content
    scripts = [keys for kind, keys in sent if kind == "script"]
    assert len(scripts) == 1  # one EVALSHA per request, stats included
    tag = keyspace.namespace_tag(tenant.organization.id, tenant.namespace.id)
    expected = key_slot(tag.encode())
    for kind, keys in sent:
        assert keys, kind
        assert {slot(key) for key in keys} == {expected}, (kind, keys)
    script_keys = scripts[0]
    assert script_keys[0] == keyspace.auth_version_key(tenant.organization.id, tenant.namespace.id)
    assert script_keys[1].startswith(f"ac:{tag}:rl:")
    if endpoint == "stats":
        assert any(kind == "pipeline" for kind, _ in sent)  # the live counters were read, in the same slot


def test_namespaces_of_one_organization_use_their_own_slots(redis_store, make_tenant, sent):
    from tests.factories import NamespaceFactory

    tenant = make_tenant()
    second = NamespaceFactory(organization=tenant.organization, name="second")
    for namespace in (tenant.namespace, second):
        sent.clear()
        assert call(tenant.client(namespace=namespace.name), "get", {"key": "k"}).status_code == 200
        scripts = [keys for kind, keys in sent if kind == "script"]
        prefix = f"ac:{keyspace.namespace_tag(tenant.organization.id, namespace.id)}:"
        # No organization-level key ties the namespaces' slots together.
        assert [key for key in scripts[-1] if not _text(key).startswith(prefix)] == []


def _text(key):
    return key.decode() if isinstance(key, bytes) else key
