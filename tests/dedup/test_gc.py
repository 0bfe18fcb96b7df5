"""Garbage collection and verification."""

import datetime
import hashlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from dedup import blobstore, chunking, services
from dedup.models import Chunk, OrgStorage, Pack
from tests.dedup.conftest import body, firmware, random_bytes
from tests.dedup.test_store import edit

pytestmark = pytest.mark.django_db


def later(hours=2):
    return timezone.now() + datetime.timedelta(hours=hours)


def chunk_ids(tenant):
    return set(Chunk.objects.filter(organization=tenant.organization).values_list("id", flat=True))


def test_delete_and_gc_free_exactly_the_unused_chunks(tenant):
    v1 = firmware(1_000_000, seed=61)
    v2 = edit(v1, seed=62)
    tenant.put("v1", v1)
    after_v1 = chunk_ids(tenant)
    tenant.put("v2", v2)
    v2_only = chunk_ids(tenant) - after_v1
    assert tenant.delete("v1").status_code == 204
    # Within the grace period nothing goes.
    assert services.collect_garbage(tenant.organization.id)["chunks_deleted"] == 0
    report = services.collect_garbage(tenant.organization.id, now=later())
    survivors = chunk_ids(tenant)
    manifest = tenant.client.get("/api/files/v2/manifest", **tenant.headers()).json()
    needed = {hashlib.sha256(b"").hexdigest()} | {c["sha256"] for c in manifest["chunks"]}
    stored = {bytes(d).hex() for d in Chunk.objects.filter(id__in=survivors).values_list("sha256", flat=True)}
    assert stored == needed - {hashlib.sha256(b"").hexdigest()}
    assert v2_only <= survivors
    assert report["chunks_deleted"] == len(after_v1 | v2_only) - len(survivors)
    assert report["refcounts_fixed"] == 0
    assert OrgStorage.objects.get(organization=tenant.organization).stored_bytes == sum(
        Chunk.objects.filter(id__in=survivors).values_list("size", flat=True)
    )
    assert body(tenant.get("v2")) == v2
    # Packs that became mostly garbage were rewritten; the data is still whole.
    services.collect_garbage(tenant.organization.id, now=later(4))
    assert body(tenant.get("v2")) == v2


def test_chunks_reported_present_survive_until_the_session_expires(tenant):
    data = random_bytes(100_000, seed=63)
    tenant.put("f", data)
    digests = [d for d, _ in chunking.chunk_digests(chunking.PROFILES["small-v1"], data)]
    tenant.delete("f")
    # A client asks "missing?" and hears "present" for all: they must survive the next GC...
    assert tenant.post_json("/api/dedup/missing", {"chunks": digests}).json()["missing"] == []
    Chunk.objects.update(protected_until=timezone.now() + datetime.timedelta(seconds=3600))
    assert services.collect_garbage(tenant.organization.id, now=later(0.5))["chunks_deleted"] == 0
    commit = tenant.post_json(
        "/api/files/again/manifest",
        {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "chunks": [
                {"sha256": d, "size": n} for d, n in chunking.chunk_digests(chunking.PROFILES["small-v1"], data)
            ],
        },
    )
    assert commit.status_code == 201
    # ...and once nothing references them and the grace period is over, they go.
    tenant.delete("again")
    assert services.collect_garbage(tenant.organization.id, now=later(3))["chunks_deleted"] == len(set(digests))


def test_crash_between_chunk_upload_and_commit_loses_nothing_and_gc_cleans_up(tenant):
    kept = random_bytes(120_000, seed=64)
    tenant.put("kept", kept)
    abandoned = random_bytes(80_000, seed=65)
    pieces = chunking.chunk_digests(chunking.PROFILES["small-v1"], abandoned)
    position = 0
    for digest, size in pieces:  # uploaded, then the client dies before committing the manifest
        tenant.client.put(
            f"/api/dedup/chunks/{digest}",
            abandoned[position : position + size],
            content_type="application/octet-stream",
            **tenant.headers(),
        )
        position += size
    before = chunk_ids(tenant)
    report = services.collect_garbage(tenant.organization.id, now=later())
    assert report["chunks_deleted"] == len(pieces)
    assert len(chunk_ids(tenant)) == len(before) - len(pieces)
    assert body(tenant.get("kept")) == kept
    # Empty packs go, and the single-chunk packs of the uploads were merged away.
    services.collect_garbage(tenant.organization.id, now=later(4))
    assert body(tenant.get("kept")) == kept
    keys = {info.key for info in blobstore.get_backend().list("packs/")}
    assert keys == set(Pack.objects.values_list("key", flat=True))


def test_gc_removes_orphan_pack_objects_and_temporaries(tenant, blob_root):
    tenant.put("a", random_bytes(50_000, seed=66))
    backend = blobstore.get_backend()
    writer = backend.open_writer(f"packs/o{tenant.organization.id}/orphan.pack")
    writer.write(b"x" * 100)
    writer.commit()
    stale = backend.open_writer("unused")
    stale.write(b"y")
    report = services.collect_garbage(tenant.organization.id, now=later())
    assert report["orphan_objects_deleted"] == 1
    assert services.remove_stale_temporaries(now=later()) == 1
    assert body(tenant.get("a")) == random_bytes(50_000, seed=66)


def test_gc_fixes_drifted_refcounts_from_the_manifests(tenant):
    data = random_bytes(70_000, seed=67)
    tenant.put("a", data)
    Chunk.objects.update(refcount=0)  # e.g. a bug or a hand edit: the manifests still reference them
    report = services.collect_garbage(tenant.organization.id, now=later())
    assert report["chunks_deleted"] == 0 and report["refcounts_fixed"] > 0
    assert body(tenant.get("a")) == data


def test_gc_task_and_command(tenant):
    from dedup.tasks import collect_garbage

    tenant.put("a", b"abc" * 1000)
    result = collect_garbage.delay().get()
    assert result["organizations"][0]["organization_id"] == tenant.organization.id
    call_command("dedup_gc", "--org", tenant.organization.slug)


def test_verify_command_detects_corruption(tenant, blob_root, capsys):
    tenant.put("a", random_bytes(90_000, seed=68))
    call_command("dedup_verify", tenant.organization.slug)
    assert '"ok": true' in capsys.readouterr().out
    chunk = Chunk.objects.filter(organization=tenant.organization).first()
    path = blob_root / chunk.pack.key
    raw = bytearray(path.read_bytes())
    raw[chunk.offset] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(CommandError):
        call_command("dedup_verify", tenant.organization.slug)
    assert bytes(chunk.sha256).hex() in capsys.readouterr().out


def test_deleting_a_namespace_frees_its_files(tenant):
    from tenants.services import delete_namespace

    data = random_bytes(80_000, seed=69)
    tenant.put("a", data)
    assert OrgStorage.objects.get(organization=tenant.organization).stored_bytes == len(data)
    delete_namespace(tenant.namespace)
    assert OrgStorage.objects.get(organization=tenant.organization).stored_bytes == 0
    assert all(c.refcount == 0 for c in Chunk.objects.all())
    services.collect_garbage(tenant.organization.id, now=later())
    assert not Chunk.objects.exists()


@pytest.mark.parametrize("declare_hash", [False, True])
def test_upload_relying_on_a_deleted_files_chunks_survives_gc(tenant, monkeypatch, declare_hash):
    """An upload found chunks that another file referenced; that file is deleted and GC runs before the
    upload commits: the chunks it relies on must not be collected (the commit succeeds, bytes read back)."""
    data = random_bytes(300_000, seed=70)
    tenant.put("x", data)
    # Every protection from storing x is long over.
    Chunk.objects.update(protected_until=timezone.now() - datetime.timedelta(hours=1))
    real_commit = services.commit_file
    gc_reports = []

    def delete_x_and_collect_then_commit(context, path, **kwargs):
        services.delete_file(context, "x")
        gc_reports.append(services.collect_garbage(tenant.organization.id, now=timezone.now()))
        return real_commit(context, path, **kwargs)

    monkeypatch.setattr(services, "commit_file", delete_x_and_collect_then_commit)
    extra = {"HTTP_X_CONTENT_SHA256": hashlib.sha256(data).hexdigest()} if declare_hash else {}
    response = tenant.put("y", data, **extra)
    assert response.status_code == 201, response.json()
    assert response.json()["new_bytes"] == 0
    assert gc_reports[0]["chunks_deleted"] == 0
    monkeypatch.undo()
    assert body(tenant.get("y")) == data
    assert tenant.get("x").status_code == 404


def test_freed_chunks_are_collected_one_grace_period_after_the_delete(tenant):
    data = random_bytes(100_000, seed=71)
    tenant.put("x", data)
    Chunk.objects.update(protected_until=timezone.now() - datetime.timedelta(hours=1))
    tenant.delete("x")
    assert services.collect_garbage(tenant.organization.id, now=later(0.5))["chunks_deleted"] == 0
    assert services.collect_garbage(tenant.organization.id, now=later(1.5))["chunks_deleted"] > 0
    assert not Chunk.objects.exists()
