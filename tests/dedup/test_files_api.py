import hashlib

import pytest

from dedup import chunking
from tests.dedup.conftest import body, random_bytes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        chunking.PROFILES["small-v1"].min_size,
        chunking.PROFILES["small-v1"].max_size,
        chunking.PROFILES["small-v1"].max_size + 1,
        3 * 1024 * 1024 + 17,
    ],
)
def test_round_trip_is_byte_identical(tenant, size):
    data = random_bytes(size, seed=size)
    response = tenant.put("fw/image.bin", data)
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["size"] == size
    assert reply["sha256"] == hashlib.sha256(data).hexdigest()
    assert reply["new_bytes"] + reply["dedup_bytes"] == size
    got = tenant.get("fw/image.bin")
    assert got.status_code == 200
    assert body(got) == data
    assert got["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert int(got["Content-Length"]) == size


@pytest.fixture
def stored(tenant):
    data = random_bytes(300_000, seed=7)
    assert tenant.put("fw/v1.bin", data).status_code == 201
    return data


@pytest.mark.parametrize(
    ("header", "lo", "hi"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199999", 100, 199999),
        ("bytes=299990-", 299990, 299999),
        ("bytes=-10", 299990, 299999),
        ("bytes=5-999999", 5, 299999),
        ("bytes=65530-65545", 65530, 65545),
    ],
)
def test_range_requests(tenant, stored, header, lo, hi):
    response = tenant.get("fw/v1.bin", HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == stored[lo : hi + 1]
    assert response["Content-Range"] == f"bytes {lo}-{hi}/{len(stored)}"
    assert int(response["Content-Length"]) == hi - lo + 1


def test_unsatisfiable_range_is_416_json(tenant, stored):
    response = tenant.get("fw/v1.bin", HTTP_RANGE="bytes=300000-")
    assert response.status_code == 416
    assert response.json()["error"]["code"] == "range_not_satisfiable"
    assert response["Content-Range"] == "bytes */300000"


def test_multi_range_serves_whole_file(tenant, stored):
    response = tenant.get("fw/v1.bin", HTTP_RANGE="bytes=0-1,5-6")
    assert response.status_code == 200
    assert body(response) == stored


def test_if_none_match_and_head(tenant, stored):
    etag = f'"{hashlib.sha256(stored).hexdigest()}"'
    assert tenant.get("fw/v1.bin", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert tenant.get("fw/v1.bin", HTTP_IF_NONE_MATCH='"other"').status_code == 200
    head = tenant.head("fw/v1.bin")
    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Length"] == str(len(stored))
    assert head["ETag"] == etag


def test_content_type_is_sensible(tenant):
    form = "application/x-www-form-urlencoded"  # what curl --data-binary sends: not a real type
    assert tenant.client.put("/api/files/docs/a.json", b"{}", content_type=form, **tenant.headers()).status_code == 201
    assert tenant.get("docs/a.json")["Content-Type"] == "application/json"
    tenant.client.put("/api/files/v.mp4", b"x", content_type="video/mp4", **tenant.headers())
    assert tenant.get("v.mp4")["Content-Type"] == "video/mp4"


def test_overwrite_and_delete(tenant, stored):
    assert tenant.put("fw/v1.bin", b"new").status_code == 201
    assert body(tenant.get("fw/v1.bin")) == b"new"
    assert tenant.delete("fw/v1.bin").status_code == 204
    assert tenant.get("fw/v1.bin").status_code == 404
    assert tenant.delete("fw/v1.bin").status_code == 404


def test_list_with_prefix_and_cursor(tenant):
    for name in ["a/1", "a/2", "a/3", "b/1"]:
        assert tenant.put(name, name.encode()).status_code == 201
    first = tenant.client.get("/api/files", {"prefix": "a/", "limit": 2}, **tenant.headers()).json()
    assert [f["path"] for f in first["files"]] == ["a/1", "a/2"]
    assert first["files"][0]["sha256"] == hashlib.sha256(b"a/1").hexdigest()
    assert first["files"][0]["size"] == 3 and first["files"][0]["updated"]
    second = tenant.client.get(
        "/api/files", {"prefix": "a/", "limit": 2, "cursor": first["next_cursor"]}, **tenant.headers()
    ).json()
    assert [f["path"] for f in second["files"]] == ["a/3"]
    assert second["next_cursor"] is None
    bad = tenant.client.get("/api/files", {"cursor": "%%%"}, **tenant.headers())
    assert bad.status_code == 400


@pytest.mark.parametrize(
    "path", ["a/../b", "..", "a/./b", "a//b", "x/" + "y" * 1100, "bad%01name", "bad%7Fname", "a/manifest/"]
)
def test_bad_paths_are_400(tenant, path):
    response = tenant.client.put(
        f"/api/files/{path}", b"x", content_type="application/octet-stream", **tenant.headers()
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_path"


def test_empty_path_is_400(tenant):
    response = tenant.client.get("/api/files/", **tenant.headers())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_path"


def test_auth_errors(tenant, api_client):
    assert api_client.get("/api/files/x").json()["error"]["code"] == "missing_api_key"
    bad = api_client.get("/api/files/x", HTTP_X_API_KEY="ac_nope", HTTP_X_NAMESPACE="storage")
    assert bad.status_code == 401
    missing_ns = api_client.get("/api/files/x", HTTP_X_API_KEY=tenant.key.plaintext, HTTP_X_NAMESPACE="nope")
    assert missing_ns.status_code == 404
    assert missing_ns.json()["error"]["code"] == "namespace_not_found"


def test_namespace_without_node_is_403(tenant):
    from tests.factories import NamespaceFactory

    NamespaceFactory(organization=tenant.organization, name="kv", nodes=["kv_cache"])
    response = tenant.client.put(
        "/api/files/a", b"x", content_type="application/octet-stream", **tenant.headers(namespace="kv")
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "node_not_enabled"


def test_storage_quota_is_413_naming_it(tenant):
    plan = tenant.organization.plan
    plan.storage_quota_bytes = 100_000
    plan.save()
    assert tenant.put("small", random_bytes(60_000, 1)).status_code == 201
    response = tenant.put("big", random_bytes(60_000, 2))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "storage_quota_exceeded" and "storage_quota_bytes" in error["message"]
    assert tenant.get("big").status_code == 404
    # Deduplicated content costs no quota.
    assert tenant.put("copy", random_bytes(60_000, 1)).status_code == 201


def test_unreachable_backend_is_503_and_writes_nothing(tenant, tmp_path, settings):
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    settings.BLOB_ROOT = blocker / "blobs"
    response = tenant.put("a.bin", random_bytes(50_000, 3))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    from dedup.models import Chunk, File

    assert not File.objects.exists() and not Chunk.objects.exists()


def test_missing_file_is_404_json(tenant):
    response = tenant.get("nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "file_not_found"


def test_declared_known_hash_skips_chunking_but_is_verified(tenant, stored, monkeypatch):
    from dedup import services

    digest = hashlib.sha256(stored).hexdigest()

    def no_chunking(*args, **kwargs):
        raise AssertionError("chunked although the whole-file hash was known")

    monkeypatch.setattr(services, "ingest_stream", no_chunking)
    reply = tenant.put("fw/copy.bin", stored, HTTP_X_CONTENT_SHA256=digest)
    assert reply.status_code == 201 and reply.json()["new_bytes"] == 0
    assert body(tenant.get("fw/copy.bin")) == stored
    lie = tenant.put("fw/lie.bin", stored[:-1] + b"!", HTTP_X_CONTENT_SHA256=digest)
    assert lie.status_code == 400 and lie.json()["error"]["code"] == "digest_mismatch"
    assert tenant.get("fw/lie.bin").status_code == 404


def test_body_ending_early_commits_nothing(tenant):
    from io import BytesIO

    from dedup.models import File

    class Dropping(BytesIO):
        def read(self, size=-1):
            data = super().read(size)
            if not data or self.tell() > 100_000:
                raise OSError("connection reset by peer")
            return data

    response = tenant.client.generic(
        "PUT",
        "/api/files/cut.bin",
        b"",
        content_type="application/octet-stream",
        **tenant.headers(),
        CONTENT_LENGTH="400000",
        **{"wsgi.input": Dropping(random_bytes(400_000, 9))},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "incomplete_body"
    assert not File.objects.exists()
