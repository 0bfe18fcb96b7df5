import pytest

from cache_api import keyspace


def test_keys_are_checked_and_encoded():
    assert keyspace.check_key("ключ") == "ключ".encode()
    assert keyspace.check_key("x" * 512) == b"x" * 512
    for bad in (None, 1, "", "x" * 513, "é" * 257, "a\nb", "\x7f", "\x9f", "\ud800"):
        with pytest.raises(keyspace.InvalidField) as raised:
            keyspace.check_key(bad, "items[2].key")
        assert raised.value.field == "items[2].key"


def test_ttl_defaults_and_bounds():
    assert keyspace.check_ttl(None, 300) == 300
    assert keyspace.check_ttl(None, 0) == keyspace.FALLBACK_TTL
    assert keyspace.check_ttl(1, 300) == 1 and keyspace.check_ttl(2592000, 300) == 2592000
    for bad in (0, 2592001, 1.0, "5", True, False):
        with pytest.raises(keyspace.InvalidField):
            keyspace.check_ttl(bad, 300)


def test_layout_keeps_a_namespace_in_one_cluster_slot_and_apart_from_others():
    a = keyspace.value_key_prefix(1, 2) + b"k"
    b = keyspace.value_key_prefix(1, 3) + b"k"
    c = keyspace.value_key_prefix(11, 2) + b"k"
    assert len({a, b, c}) == 3
    assert a.startswith(b"ac:{o1:n2}:")  # the hash tag is the first {...}: user keys with braces cannot move it
    assert keyspace.value_key_prefix(1, 2) + b"{evil}" != keyspace.value_key_prefix(1, 2) + b"evil"


def test_seconds_remaining_rounds_up():
    assert keyspace.seconds_remaining(10000) == 10
    assert keyspace.seconds_remaining(9001) == 10
    assert keyspace.seconds_remaining(1) == 1
