"""Client-side dedup: missing?, chunk uploads, manifest commits, and the Python client over real HTTP."""

import hashlib
import struct
from pathlib import Path

import pytest

from dedup import chunking
from dedup.models import Chunk
from tests.dedup.conftest import body, firmware, make_tenant, random_bytes
from tests.dedup.test_store import edit

pytestmark = pytest.mark.django_db


def pieces(data):
    return chunking.chunk_digests(chunking.PROFILES["small-v1"], data)


def put_chunk(tenant, digest, data):
    return tenant.client.put(
        f"/api/dedup/chunks/{digest}", data, content_type="application/octet-stream", **tenant.headers()
    )


def commit(tenant, path, data, chunks, sha=None):
    return tenant.post_json(
        f"/api/files/{path}/manifest",
        {
            "size": len(data),
            "sha256": sha or hashlib.sha256(data).hexdigest(),
            "chunks": [{"sha256": d, "size": n} for d, n in chunks],
        },
    )


def test_missing_upload_commit_round_trip(tenant):
    data = random_bytes(200_000, seed=41)
    chunks = pieces(data)
    digests = [d for d, _ in chunks]
    assert tenant.post_json("/api/dedup/missing", {"chunks": digests}).json()["missing"] == digests
    position = 0
    for digest, size in chunks:
        response = put_chunk(tenant, digest, data[position : position + size])
        assert response.status_code == 201 and response.json()["stored"]
        position += size
    assert tenant.post_json("/api/dedup/missing", {"chunks": digests}).json()["missing"] == []
    again = put_chunk(tenant, digests[0], data[: chunks[0][1]])
    assert again.status_code == 200 and not again.json()["stored"]
    response = commit(tenant, "up/a.bin", data, chunks)
    assert response.status_code == 201, response.content
    assert response.json()["upload_bytes_saved"] == 0
    assert body(tenant.get("up/a.bin")) == data
    manifest = tenant.client.get("/api/files/up/a.bin/manifest", **tenant.headers()).json()
    assert [(c["sha256"], c["size"]) for c in manifest["chunks"]] == chunks
    # The same content under a second name crosses the wire as a manifest only.
    second = commit(tenant, "up/b.bin", data, chunks).json()
    assert second["upload_bytes_saved"] == len(data) and second["new_bytes"] == 0
    assert tenant.stats()["upload_bytes_saved"] == len(data)


def test_chunk_with_wrong_digest_is_400(tenant):
    data = b"hello chunk"
    wrong = hashlib.sha256(b"other").hexdigest()
    response = put_chunk(tenant, wrong, data)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "digest_mismatch"
    assert not Chunk.objects.exists()


def test_manifest_naming_missing_chunk_is_400(tenant):
    data = random_bytes(100_000, seed=42)
    chunks = pieces(data)
    put_chunk(tenant, chunks[0][0], data[: chunks[0][1]])
    response = commit(tenant, "m.bin", data, chunks)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_chunks"
    assert error["missing"] == [d for d, _ in chunks[1:]]


def test_manifest_with_wrong_sha256_is_409(tenant):
    data = random_bytes(90_000, seed=43)
    chunks = pieces(data)
    position = 0
    for digest, size in chunks:
        put_chunk(tenant, digest, data[position : position + size])
        position += size
    response = commit(tenant, "m.bin", data, chunks, sha=hashlib.sha256(b"not it").hexdigest())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sha256_mismatch"
    bad_size = tenant.post_json("/api/files/m.bin/manifest", {"size": 5, "sha256": "0" * 64, "chunks": []})
    assert bad_size.status_code == 400


def test_batch_upload_verifies_every_chunk(tenant):
    good = b"a" * 5000
    frame = struct.pack(">32sI", hashlib.sha256(good).digest(), len(good)) + good
    bad = struct.pack(">32sI", hashlib.sha256(b"x").digest(), 3) + b"yyy"
    response = tenant.client.post(
        "/api/dedup/chunks", frame + bad, content_type="application/octet-stream", **tenant.headers()
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "digest_mismatch"
    assert not Chunk.objects.exists()
    response = tenant.client.post(
        "/api/dedup/chunks", frame, content_type="application/octet-stream", **tenant.headers()
    )
    assert response.json() == {"received": 1, "stored": 1, "stored_bytes": 5000}


def test_bad_missing_queries_are_400(tenant):
    assert tenant.post_json("/api/dedup/missing", {"chunks": ["xyz"]}).status_code == 400
    assert tenant.post_json("/api/dedup/missing", {"nope": 1}).status_code == 400
    raw = tenant.client.post("/api/dedup/missing", b"{not json", content_type="application/json", **tenant.headers())
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "invalid_json"


@pytest.mark.django_db(transaction=True)
def test_python_client_sends_only_new_chunks(live_server, tmp_path):
    from agentcache import Client
    from agentcache.cli import main
    from rest_framework.test import APIClient

    tenant = make_tenant(APIClient())
    client = Client(live_server.url, tenant.key.plaintext, "storage", cache_dir=tmp_path / "cache")
    v1 = firmware(4_000_000, seed=51)
    v2 = edit(v1, seed=52)
    (tmp_path / "v1.bin").write_bytes(v1)
    (tmp_path / "v2.bin").write_bytes(v2)
    first = client.upload(tmp_path / "v1.bin", "fw/v1.bin")
    assert first["bytes_uploaded"] == len(v1)
    second = client.upload(tmp_path / "v2.bin", "fw/v2.bin")
    assert 0 < second["bytes_uploaded"] < 0.15 * len(v2)
    assert second["upload_bytes_saved"] == len(v2) - second["new_bytes"]
    # Downloads: v1 fills the local chunk cache, then v2 fetches only its changed chunks.
    got = client.download("fw/v1.bin", tmp_path / "out1.bin")
    assert (tmp_path / "out1.bin").read_bytes() == v1 and got["bytes_fetched"] == len(v1)
    got = client.download("fw/v2.bin", tmp_path / "out2.bin")
    assert (tmp_path / "out2.bin").read_bytes() == v2
    assert got["bytes_fetched"] < 0.15 * len(v2)
    client.close()
    # The CLI: sync a folder (unchanged files are skipped the second time).
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.bin").write_bytes(v1)
    args = [
        "--url",
        live_server.url,
        "--api-key",
        tenant.key.plaintext,
        "--namespace",
        "storage",
        "--cache-dir",
        str(tmp_path / "cache2"),
        "--no-progress",
    ]
    assert main([*args, "sync", str(folder), "mirror"]) == 0
    assert main([*args, "download", "mirror/a.bin", str(tmp_path / "a.out")]) == 0
    assert (tmp_path / "a.out").read_bytes() == v1
    listing = Client(live_server.url, tenant.key.plaintext, "storage").sync(folder, "mirror")
    assert listing == [{"path": "mirror/a.bin", "skipped": True, "bytes_uploaded": 0}]


@pytest.mark.services
def test_metering_counts_written_saved_and_served_bytes_exactly(tenant):
    from cache_api import metering

    data = random_bytes(120_000, seed=44)
    tenant.put("m/a.bin", data)
    tenant.put("m/b.bin", data)  # stored again: nothing new written
    chunks = pieces(data)
    assert commit(tenant, "m/c.bin", data, chunks).status_code == 201  # client-side dedup: nothing uploaded
    body(tenant.get("m/a.bin"))
    tenant.get("m/none.bin")
    counts = metering.live_counts(tenant.organization.id, tenant.namespace.id)
    assert counts["bytes_written"] == len(data)
    assert counts["dedup_bytes_saved"] == 2 * len(data)
    assert counts["upload_bytes_saved"] == len(data)
    assert counts["requests"] == 2 and counts["hits"] == 1 and counts["misses"] == 1
    assert counts["bytes_served"] == len(data)


def test_config_names_the_namespaces_chunk_profile(tenant, other_tenant):
    from dedup.models import NamespaceConfig

    response = tenant.client.get("/api/dedup/config", **tenant.headers())
    assert response.status_code == 200
    assert response.json() == {
        "namespace": "storage",
        "chunk_profile": {
            "name": "small-v1",
            "version": 1,
            "algorithm": "fastcdc-2020",
            "min_size": 4096,
            "avg_size": 16384,
            "max_size": 65536,
            "normalized_chunking": 1,
            "chunk_hash": "sha256",
        },
    }
    NamespaceConfig.objects.create(namespace=other_tenant.namespace, chunk_profile="large-v1")
    large = other_tenant.client.get("/api/dedup/config", **other_tenant.headers()).json()["chunk_profile"]
    assert (large["name"], large["min_size"], large["avg_size"], large["max_size"]) == (
        "large-v1",
        256 * 1024,
        1024 * 1024,
        4 * 1024 * 1024,
    )
    # Each organization sees its own namespace's profile only.
    assert tenant.client.get("/api/dedup/config", **tenant.headers()).json()["chunk_profile"]["name"] == "small-v1"
    tenant.namespace.nodes = ["kv_cache"]
    tenant.namespace.save()
    refused = tenant.client.get("/api/dedup/config", **tenant.headers())
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "node_not_enabled"


@pytest.mark.django_db(transaction=True)
def test_python_client_uses_the_namespaces_large_profile(live_server, tmp_path):
    import agentcache
    from agentcache import Client
    from rest_framework.test import APIClient

    from dedup.models import NamespaceConfig

    assert agentcache.__file__.startswith(str(Path(__file__).resolve().parents[2]))  # this checkout's client
    tenant = make_tenant(APIClient())
    NamespaceConfig.objects.create(namespace=tenant.namespace, chunk_profile="large-v1")
    large = chunking.PROFILES["large-v1"]
    v1 = random_bytes(14 * 1024 * 1024, seed=61)
    # A server PUT of the content first: the client's chunks must be the very chunks the server cut.
    assert tenant.put("media/by-put.bin", v1).status_code == 201
    (tmp_path / "v1.bin").write_bytes(v1)
    client = Client(live_server.url, tenant.key.plaintext, "storage")
    first = client.upload(tmp_path / "v1.bin", "media/v1.bin")
    assert client.profile.name == "large-v1"
    assert first["bytes_uploaded"] == 0 and first["new_bytes"] == 0 and first["upload_bytes_saved"] == len(v1)

    def manifest(path):
        return tenant.client.get(f"/api/files/{path}/manifest", **tenant.headers()).json()

    put_manifest, client_manifest = manifest("media/by-put.bin"), manifest("media/v1.bin")
    assert client_manifest["chunks"] == put_manifest["chunks"]
    assert [(c["sha256"], c["size"]) for c in client_manifest["chunks"]] == chunking.chunk_digests(large, v1)
    assert len(client_manifest["chunks"]) >= 8 and client_manifest["chunk_profile"] == "large-v1"
    # A second version with an edit in the middle: only the chunks it changed cross the wire.
    v2 = bytearray(v1)
    v2[7_000_000:7_000_000] = b"patched release notes"
    v2 = bytes(v2)
    (tmp_path / "v2.bin").write_bytes(v2)
    known = {digest for digest, _ in chunking.chunk_digests(large, v1)}
    changed = [(digest, size) for digest, size in chunking.chunk_digests(large, v2) if digest not in known]
    second = client.upload(tmp_path / "v2.bin", "media/v2.bin")
    assert 1 <= len(changed) <= 2
    assert second["bytes_uploaded"] == second["new_bytes"] == sum(size for _, size in changed)
    assert second["upload_bytes_saved"] == len(v2) - second["bytes_uploaded"]
    assert body(tenant.get("media/v2.bin")) == v2
    client.close()


def test_python_client_refuses_a_profile_it_does_not_know(monkeypatch, tmp_path):
    from agentcache import Client, UnsupportedProfile

    client = Client("http://127.0.0.1:9", "key", "storage")
    asked = []

    def fake_json(method, path, body=None):
        asked.append((method, path))
        return {"chunk_profile": {"name": "huge-v9", "min_size": 1, "avg_size": 2, "max_size": 3}}

    monkeypatch.setattr(client, "json", fake_json)
    (tmp_path / "a.bin").write_bytes(b"data")
    with pytest.raises(UnsupportedProfile) as raised:
        client.upload(tmp_path / "a.bin", "a.bin")
    assert raised.value.code == "unsupported_chunk_profile" and "huge-v9" in str(raised.value)
    assert asked == [("GET", "dedup/config")]  # refused before asking for or sending any chunk
    # Known name, other numbers (a server with a re-tuned profile under an old name): refused too.
    monkeypatch.setattr(
        client,
        "json",
        lambda *args: {"chunk_profile": {"name": "small-v1", "min_size": 1, "avg_size": 16384, "max_size": 65536}},
    )
    with pytest.raises(UnsupportedProfile):
        client.upload(tmp_path / "a.bin", "a.bin")
