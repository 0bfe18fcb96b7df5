"""The cache API's contract, run once per store (embedded SQLite, and Redis with services)."""

import threading
import time

import pytest

from cache_api import metering
from tests.cache_api.conftest import call

pytestmark = pytest.mark.django_db

JSON_VALUES = [
    {"nested": {"list": [1, 2.5, None, True, False, "é€😀"], "empty": {}}},
    [1, "two", [3], {"four": 4}],
    'a string with "quotes", \\backslashes\\ and \n newlines',
    "",
    0,
    -17,
    2**53 + 1,
    3.141592653589793,
    1e-300,
    True,
    False,
    None,
    [],
    {},
]


def counts(tenant):
    return metering.live_counts(tenant.organization.id, tenant.namespace.id)


@pytest.mark.parametrize("value", JSON_VALUES, ids=[f"v{i}" for i in range(len(JSON_VALUES))])
def test_every_json_type_round_trips(store_kind, tenant, value):
    client = tenant.client()
    stored = call(client, "set", {"key": "k", "value": value, "ttl": 60})
    assert stored.status_code == 200, stored.content
    assert stored.json() == {"key": "k", "namespace": tenant.namespace.name, "ttl": 60, "size": stored.json()["size"]}
    got = call(client, "get", {"key": "k"}).json()
    assert got == {"hit": True, "key": "k", "value": value, "ttl_remaining": 60}
    assert type(got["value"]) is type(value)


def test_size_is_the_stored_json_bytes(store_kind, tenant):
    client = tenant.client()
    assert call(client, "set", {"key": "k", "value": "héllo"}).json()["size"] == len('"héllo"'.encode())
    assert call(client, "set", {"key": "k", "value": {"a": [1, 2]}}).json()["size"] == len(b'{"a":[1,2]}')


def test_unicode_keys_are_distinct_and_exact(store_kind, tenant):
    client = tenant.client()
    keys = ["ключ", "キー", "key ", "key", "{o1:n1}:k:x", "a" * 512, "é" * 256]
    for index, key in enumerate(keys):
        assert call(client, "set", {"key": key, "value": index}).status_code == 200
    for index, key in enumerate(keys):
        assert call(client, "get", {"key": key}).json()["value"] == index


def test_default_ttl_is_the_namespaces(store_kind, make_tenant):
    tenant = make_tenant(default_ttl=1234)
    response = call(tenant.client(), "set", {"key": "k", "value": 1})
    assert response.json()["ttl"] == 1234
    assert call(tenant.client(), "get", {"key": "k"}).json()["ttl_remaining"] == 1234
    explicit_null = call(tenant.client(), "set", {"key": "k2", "value": 1, "ttl": None})
    assert explicit_null.json()["ttl"] == 1234


def test_values_expire_after_their_ttl(store_kind, tenant):
    client = tenant.client()
    call(client, "set", {"key": "short", "value": "gone soon", "ttl": 1})
    call(client, "mset", {"items": [{"key": "batch-short", "value": 1, "ttl": 1}, {"key": "long", "value": 2}]})
    assert call(client, "get", {"key": "short"}).json()["ttl_remaining"] == 1
    time.sleep(1.1)
    assert call(client, "get", {"key": "short"}).json() == {"hit": False, "key": "short"}
    result = call(client, "mget", {"keys": ["batch-short", "long"]}).json()
    assert [item["hit"] for item in result["items"]] == [False, True]
    assert call(client, "delete", {"key": "short"}).json()["deleted"] is False


def test_overwrite_replaces_value_and_ttl(store_kind, tenant):
    client = tenant.client()
    call(client, "set", {"key": "k", "value": "old", "ttl": 1000})
    call(client, "set", {"key": "k", "value": "new", "ttl": 50})
    assert call(client, "get", {"key": "k"}).json() == {"hit": True, "key": "k", "value": "new", "ttl_remaining": 50}


def test_delete(store_kind, tenant):
    client = tenant.client()
    call(client, "set", {"key": "k", "value": 1})
    assert call(client, "delete", {"key": "k"}).json() == {"key": "k", "deleted": True}
    assert call(client, "delete", {"key": "k"}).json() == {"key": "k", "deleted": False}
    assert call(client, "get", {"key": "k"}).json()["hit"] is False


def test_mget_returns_values_and_misses_in_order(store_kind, tenant):
    client = tenant.client()
    call(client, "mset", {"items": [{"key": f"k{i}", "value": {"i": i}, "ttl": 100 + i} for i in range(0, 10, 2)]})
    keys = [f"k{i}" for i in range(10)] + ["k0"]
    result = call(client, "mget", {"keys": keys}).json()
    assert result["hits"] == 6 and result["misses"] == 5
    for key, item in zip(keys, result["items"], strict=True):
        i = int(key[1:])
        if i % 2 == 0:
            assert item == {"hit": True, "key": key, "value": {"i": i}, "ttl_remaining": 100 + i}
        else:
            assert item == {"hit": False, "key": key}


def test_mget_accepts_1000_keys_and_refuses_1001(store_kind, tenant):
    client = tenant.client()
    ok = call(client, "mget", {"keys": [f"k{i}" for i in range(1000)]})
    assert ok.status_code == 200 and ok.json()["misses"] == 1000
    too_many = call(client, "mget", {"keys": [f"k{i}" for i in range(1001)]})
    assert too_many.status_code == 400 and too_many.json()["error"]["field"] == "keys"


def test_mset_writes_all_items(store_kind, tenant):
    client = tenant.client()
    items = [{"key": f"k{i}", "value": [i] * i, "ttl": 60 + i} for i in range(1000)]
    result = call(client, "mset", {"items": items})
    assert result.status_code == 200
    assert result.json()["count"] == 1000
    assert result.json()["items"][3] == {"key": "k3", "ttl": 63, "size": len(b"[3,3,3]")}
    got = call(client, "mget", {"keys": [item["key"] for item in items]}).json()
    assert got["hits"] == 1000
    assert [item["value"] for item in got["items"]] == [[i] * i for i in range(1000)]


def test_mset_with_one_bad_item_writes_nothing(store_kind, tenant):
    client = tenant.client()
    response = call(client, "mset", {"items": [{"key": "good", "value": 1}, {"key": "bad", "value": 2, "ttl": 0}]})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "items[1].ttl"
    assert call(client, "get", {"key": "good"}).json()["hit"] is False
    assert counts(tenant)["sets"] == 0


def test_metering_counts_each_operation_and_byte(store_kind, tenant):
    client = tenant.client()
    call(client, "set", {"key": "a", "value": "x" * 98})  # 100 bytes stored
    call(client, "set", {"key": "b", "value": 1})  # 1 byte
    call(client, "get", {"key": "a"})  # hit, 100 bytes served
    call(client, "get", {"key": "nope"})  # miss
    call(client, "mget", {"keys": ["a", "b", "zz"]})  # 2 hits (101 bytes), 1 miss
    call(client, "mset", {"items": [{"key": "c", "value": [1]}, {"key": "d", "value": {}}]})  # 3 + 2 bytes
    call(client, "delete", {"key": "c"})
    call(client, "set", {"key": "", "value": 1})  # rejected: not counted
    assert counts(tenant) == {
        **dict.fromkeys(metering.COUNTER_FIELDS, 0),
        "requests": 2 + 1 + 1 + 3 + 2 + 1,
        "hits": 3,
        "misses": 2,
        "sets": 4,
        "deletes": 1,
        "bytes_served": 100 + 100 + 1,
        "bytes_written": 100 + 1 + 3 + 2,
    }


def test_metering_is_exact_under_8_concurrent_clients(store_kind, make_tenant):
    tenant = make_tenant(rps=1_000_000)
    client = tenant.client()
    call(client, "set", {"key": "hot", "value": "v" * 8})  # warms the auth cache: the threads need no SQL
    before = counts(tenant)
    per_client, errors = 40, []

    def work(n):
        worker = tenant.client()
        for i in range(per_client):
            key = "hot" if i % 2 == 0 else f"cold-{n}-{i}"
            response = call(worker, "get", {"key": key})
            if response.status_code != 200:
                errors.append(response.content)
            if i % 10 == 0:
                call(worker, "set", {"key": f"w-{n}-{i}", "value": "0123456789"})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    after = counts(tenant)
    gets, sets = 8 * per_client, 8 * (per_client // 10)
    assert after["requests"] - before["requests"] == gets + sets
    assert after["hits"] - before["hits"] == gets // 2
    assert after["misses"] - before["misses"] == gets // 2
    assert after["bytes_served"] - before["bytes_served"] == (gets // 2) * len(b'"vvvvvvvv"')
    assert after["bytes_written"] - before["bytes_written"] == sets * len(b'"0123456789"')


class FrozenClock:
    """Stands in for the `time` module in cache_api.stores: every request falls in one second."""

    def __init__(self):
        self.now = float(int(time.time()))

    def time(self):
        return self.now


def test_rate_limit_answers_429_with_retry_after(store_kind, make_tenant, monkeypatch):
    from cache_api import stores

    clock = FrozenClock()
    monkeypatch.setattr(stores, "time", clock)
    tenant = make_tenant(rps=5)
    client = tenant.client()
    responses = [call(client, "get", {"key": "k"}) for _ in range(8)]
    assert [response.status_code for response in responses] == [200] * 5 + [429] * 3
    limited = responses[-1]
    assert limited["Retry-After"] == "1"
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["limit"] == 5
    assert limited.json()["error"]["limit_scope"] == "namespace"
    assert "5 requests per second per namespace" in limited.json()["error"]["message"]
    assert counts(tenant)["requests"] == 5  # refused requests are not metered
    other = make_tenant(rps=5)  # another organization's budget is its own
    assert call(other.client(), "get", {"key": "k"}).status_code == 200
    clock.now += 1
    assert call(client, "get", {"key": "k"}).status_code == 200


def test_rate_limit_applies_to_each_namespace_separately(store_kind, make_tenant, monkeypatch):
    """The documented scope: plan.requests_per_second per namespace (each namespace is its own Redis slot)."""
    from cache_api import stores
    from tests.factories import NamespaceFactory

    monkeypatch.setattr(stores, "time", FrozenClock())
    tenant = make_tenant(rps=3)
    NamespaceFactory(organization=tenant.organization, name="second")
    first, second = tenant.client(), tenant.client(namespace="second")
    assert [call(first, "get", {"key": "k"}).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [call(second, "get", {"key": "k"}).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_stats_counts_against_the_rate_window_but_is_not_metered(store_kind, make_tenant, monkeypatch):
    from cache_api import stores

    clock = FrozenClock()
    monkeypatch.setattr(stores, "time", clock)
    tenant = make_tenant(rps=3)
    client = tenant.client()
    assert [call(client, "stats").status_code for _ in range(3)] == [200, 200, 200]
    limited = call(client, "stats")
    assert limited.status_code == 429 and limited["Retry-After"] == "1"
    assert limited.json()["error"]["code"] == "rate_limited"
    assert call(client, "get", {"key": "k"}).status_code == 429  # the stats calls used this second's budget
    assert not any(counts(tenant).values())  # and none of them was metered
    clock.now += 1
    assert call(client, "stats").json()["today"]["requests"] == 0


def test_isolated_between_stores_of_two_organizations(store_kind, make_tenant):
    """Two organizations, same namespace name, same key: neither can read, overwrite, delete or count the
    other's data through any endpoint (get, set, delete, mget, mset, stats)."""
    first, second = make_tenant(namespace="app"), make_tenant(namespace="app")
    a, b = first.client(), second.client()

    def stats(client):
        return call(client, "stats").json()["today"]

    assert call(a, "set", {"key": "shared", "value": "first's"}).status_code == 200
    assert call(a, "mset", {"items": [{"key": "m", "value": "a-m"}, {"key": "only-a", "value": 1}]}).status_code == 200
    assert call(a, "get", {"key": "shared"}).json()["value"] == "first's"
    assert stats(b)["requests"] == 0  # A's traffic moves none of B's figures

    # B, same namespace name and keys, sees nothing of A's.
    assert call(b, "get", {"key": "shared"}).json() == {"hit": False, "key": "shared"}
    assert call(b, "mget", {"keys": ["shared", "m", "only-a"]}).json()["hits"] == 0
    assert call(b, "delete", {"key": "only-a"}).json()["deleted"] is False
    assert call(a, "get", {"key": "only-a"}).json()["value"] == 1  # B's delete did not reach A's key

    # B writes the same keys: A's values stay A's.
    assert call(b, "set", {"key": "shared", "value": "second's"}).status_code == 200
    assert call(b, "mset", {"items": [{"key": "m", "value": "b-m"}, {"key": "only-b", "value": 1}]}).status_code == 200
    a_got = call(a, "mget", {"keys": ["shared", "m", "only-b"]}).json()["items"]
    assert [item.get("value") for item in a_got] == ["first's", "a-m", None]
    b_got = call(b, "mget", {"keys": ["shared", "m", "only-a"]}).json()["items"]
    assert [item.get("value") for item in b_got] == ["second's", "b-m", None]

    # A deletes: B's copies survive.
    assert call(a, "delete", {"key": "shared"}).json()["deleted"] is True
    assert call(a, "delete", {"key": "m"}).json()["deleted"] is True
    assert call(b, "get", {"key": "shared"}).json()["value"] == "second's"
    assert call(b, "get", {"key": "m"}).json()["value"] == "b-m"

    # Counters: each organization's stats are its own traffic only, and B's do not move with A's.
    first_counts, second_counts = counts(first), counts(second)
    assert (first_counts["sets"], first_counts["deletes"]) == (3, 2)
    assert (second_counts["sets"], second_counts["deletes"]) == (3, 1)
    b_before = stats(b)
    assert b_before["requests"] == second_counts["requests"] == 1 + 3 + 1 + 1 + 2 + 3 + 2
    for _ in range(5):
        call(a, "get", {"key": "only-a"})
    call(a, "set", {"key": "more", "value": "x" * 100})
    assert stats(b) == b_before
    a_stats = stats(a)
    assert a_stats["requests"] == counts(first)["requests"] == first_counts["requests"] + 6
    assert a_stats["hits"] == counts(first)["hits"]


def test_deleting_a_namespace_frees_its_values_and_counters_only(
    store_kind, tenant, django_capture_on_commit_callbacks
):
    from cache_api import stores
    from tenants import services
    from tests.factories import NamespaceFactory

    kept = NamespaceFactory(organization=tenant.organization, name="kept")
    call(tenant.client(), "mset", {"items": [{"key": f"k{i}", "value": i} for i in range(700)]})
    call(tenant.client(namespace="kept"), "set", {"key": "k1", "value": "stays"})
    organization_id, namespace_id = tenant.organization.id, tenant.namespace.id
    # A rollup interrupted mid-way leaves a pending batch beside today's live counters.
    assert metering.begin_drain(organization_id, namespace_id, metering.utc_today()) is not None
    call(tenant.client(), "get", {"key": "k1"})
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_namespace(tenant.namespace)
    assert stores.get_store().drop_namespace(organization_id, namespace_id) == 0  # nothing was left behind
    assert metering.drop_namespace_counters(organization_id, namespace_id) == 0
    assert not any(metering.live_counts(organization_id, namespace_id).values())
    assert call(tenant.client(namespace="kept"), "get", {"key": "k1"}).json()["value"] == "stays"
    assert metering.live_counts(organization_id, kept.id)["sets"] == 1
    assert kept.id != namespace_id
