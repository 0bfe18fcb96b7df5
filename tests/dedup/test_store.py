"""Dedup behaviour of the store: sharing, isolation, integrity, crash safety."""

import pytest

from dedup import blobstore, services
from dedup.models import Chunk, File, Pack
from tests.dedup.conftest import body, firmware, random_bytes

pytestmark = pytest.mark.django_db


def edit(data, seed):
    """A new firmware version: a few regions rewritten, bytes inserted and deleted (offsets shift)."""
    import random

    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(3):
        at = rng.randrange(len(out) - 5000)
        out[at : at + 2000] = rng.randbytes(2000)
    at = rng.randrange(len(out))
    out[at:at] = rng.randbytes(777)
    at = rng.randrange(len(out) - 5000)
    del out[at : at + 1234]
    return bytes(out)


def test_near_duplicate_versions_share_chunks(tenant):
    v1 = firmware(2_000_000, seed=1)
    v2 = edit(v1, seed=2)
    first = tenant.put("fw/1.bin", v1).json()
    second = tenant.put("fw/2.bin", v2).json()
    assert first["new_bytes"] == len(v1)  # nothing known before
    assert second["new_bytes"] < len(v2) * 0.15, second
    assert second["dedup_bytes"] == len(v2) - second["new_bytes"]
    assert body(tenant.get("fw/2.bin")) == v2
    exact = tenant.put("fw/copy.bin", v1).json()
    assert exact["new_bytes"] == 0 and exact["new_chunks"] == 0
    stats = tenant.stats()
    assert stats["files"] == 3
    assert stats["logical_bytes"] == 2 * len(v1) + len(v2)
    unique = Chunk.objects.filter(organization=tenant.organization)
    assert stats["stored_bytes"] == sum(c.size for c in unique)
    assert stats["dedup_ratio"] == pytest.approx(stats["logical_bytes"] / stats["stored_bytes"], rel=1e-3)


def test_tenants_with_identical_files_share_nothing(tenant, other_tenant):
    data = random_bytes(200_000, seed=11)
    assert tenant.put("same.bin", data).status_code == 201
    reply = other_tenant.put("same.bin", data).json()
    # The second organization pays for its own copy: nothing reveals that another one holds it.
    assert reply["new_bytes"] == len(data) and reply["dedup_bytes"] == 0
    mine = set(Chunk.objects.filter(organization=tenant.organization).values_list("id", flat=True))
    theirs = set(Chunk.objects.filter(organization=other_tenant.organization).values_list("id", flat=True))
    assert mine and theirs and not (mine & theirs)
    assert not set(Pack.objects.filter(organization=tenant.organization).values_list("key", flat=True)) & set(
        Pack.objects.filter(organization=other_tenant.organization).values_list("key", flat=True)
    )
    # Probing with "missing?" only ever answers about one's own organization.
    secret = random_bytes(100_000, seed=12)
    tenant.put("secret.bin", secret)
    manifest = tenant.client.get("/api/files/secret.bin/manifest", **tenant.headers()).json()
    digests = [c["sha256"] for c in manifest["chunks"]]
    probe = other_tenant.post_json("/api/dedup/missing", {"chunks": digests}).json()
    assert probe["missing"] == digests
    assert other_tenant.client.get(f"/api/dedup/chunks/{digests[0]}", **other_tenant.headers()).status_code == 404
    assert other_tenant.get("secret.bin").status_code == 404


def corrupt_first_chunk(tenant, blob_root):
    """Flip one stored byte of the tenant's first chunk on disk; returns that chunk."""
    chunk = Chunk.objects.filter(organization=tenant.organization).order_by("offset").first()
    path = blob_root / chunk.pack.key
    raw = bytearray(path.read_bytes())
    raw[chunk.offset + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
    return chunk


def test_corrupted_chunk_on_disk_is_detected(tenant, blob_root):
    data = random_bytes(150_000, seed=21)
    tenant.put("c.bin", data)
    chunk = corrupt_first_chunk(tenant, blob_root)
    response = tenant.get("c.bin")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "chunk_corrupted"
    chunk.refresh_from_db()
    assert chunk.corrupt
    # Re-uploading the same content repairs it.
    assert tenant.put("c.bin", data).status_code == 201
    assert body(tenant.get("c.bin")) == data


def test_crash_between_pack_and_manifest_leaves_no_dangling_manifest(tenant, monkeypatch):
    data = random_bytes(400_000, seed=31)

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(services, "commit_file", crash)
    with pytest.raises(RuntimeError):
        tenant.put("crash.bin", data)
    assert not File.objects.exists()
    orphans = Chunk.objects.filter(organization=tenant.organization)
    assert orphans.exists() and all(c.refcount == 0 for c in orphans)
    monkeypatch.undo()
    # The retry reuses the durable chunks and commits.
    reply = tenant.put("crash.bin", data).json()
    assert reply["new_bytes"] == 0
    assert body(tenant.get("crash.bin")) == data


def test_crash_before_index_rows_leaves_only_a_pack_object(tenant, monkeypatch, blob_root):
    data = random_bytes(100_000, seed=32)

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(Pack.objects, "create", crash)
    with pytest.raises(RuntimeError):
        tenant.put("crash2.bin", data)
    assert not Chunk.objects.exists() and not File.objects.exists()
    assert list(blobstore.get_backend().list("packs/"))  # durable but unreferenced: GC's job


def test_declared_hash_of_content_with_a_corrupt_chunk_repairs_it(tenant, blob_root):
    import hashlib

    data = random_bytes(150_000, seed=22)
    tenant.put("c.bin", data)
    chunk = corrupt_first_chunk(tenant, blob_root)
    assert tenant.get("c.bin").status_code == 500
    chunk.refresh_from_db()
    assert chunk.corrupt
    # The declared hash names known content, but one of its chunks is corrupt: it must not be reused blindly.
    reply = tenant.put("d.bin", data, HTTP_X_CONTENT_SHA256=hashlib.sha256(data).hexdigest())
    assert reply.status_code == 201
    assert reply.json()["new_bytes"] == chunk.size
    chunk.refresh_from_db()
    assert not chunk.corrupt
    assert body(tenant.get("d.bin")) == data
    assert body(tenant.get("c.bin")) == data


def _put_checked(tenant, path, data):
    import hashlib

    reply = tenant.put(path, data)
    assert reply.status_code == 201, reply.json()
    assert reply.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert File.objects.get(path=path).sha256 == hashlib.sha256(data).digest()
    assert body(tenant.get(path)) == data
    return reply.json()


def test_same_size_files_get_their_own_sha256(tenant):
    """Stored files of the same size are candidates whose hash an upload may reuse: only identical chunks may."""
    size = services.SPECULATE_MIN_BYTES + 200_000
    a = firmware(size, seed=41)
    _put_checked(tenant, "a", a)
    _put_checked(tenant, "b", random_bytes(size, seed=42))  # new from the first chunk
    assert _put_checked(tenant, "a2", a)["new_bytes"] == 0  # identical: a's hash, without hashing the body
    # Same size, every chunk but the last ones shared with a.
    c = a[:-3000] + random_bytes(3000, seed=43)
    assert _put_checked(tenant, "c", c)["new_bytes"] < 100_000


def test_same_size_file_that_diverges_after_the_first_window(tenant):
    """The first window (8 MiB) matches a stored file, the rest does not: the hash of the prefix is
    caught up from the stored chunks, and the stored sha256 is still that of the bytes."""
    size = chunking_window() + 1_500_000
    a = random_bytes(size, seed=44)
    _put_checked(tenant, "a", a)
    b = a[: size - 200_000] + random_bytes(200_000, seed=45)
    reply = _put_checked(tenant, "b", b)
    assert 0 < reply["new_bytes"] < 400_000
    # A same-size file made of the very same chunks in another order is not the same file either.
    c = b[size - 200_000 :] + b[: size - 200_000]
    _put_checked(tenant, "c", c)


def chunking_window():
    from dedup import chunking

    return chunking.READ_BLOCK + 5 * chunking.PROFILES["small-v1"].max_size


@pytest.mark.parametrize("declare_hash", [False, True])
def test_put_file_reading_into_the_buffer(tenant, declare_hash):
    """put_file with a readinto (the store's zero-copy read): new, then already-stored content, several windows."""
    import hashlib
    import io

    from tenants.auth import resolve

    context = resolve(tenant.key.plaintext, tenant.namespace.name)
    data = firmware(chunking_window() + 2_345_678, seed=46)
    digest = hashlib.sha256(data).digest()
    for path in ("first", "second"):
        stream = io.BytesIO(data)
        _, ingested = services.put_file(
            context,
            path,
            stream.read,
            declared_sha256=digest if declare_hash and path == "second" else None,
            expected_size=len(data),
            readinto=stream.readinto,
        )
        assert ingested.sha256 == digest and ingested.size == len(data)
        assert body(tenant.get(path)) == data
    assert ingested.new_bytes == 0


def test_running_totals_count_every_uploaded_byte(tenant):
    from dedup.models import NamespaceTotals, OrgStorage

    a, b = random_bytes(120_000, seed=47), random_bytes(80_000, seed=48)
    tenant.put("a", a)  # the namespace's first totals row is created here
    tenant.put("b", b)
    tenant.put("a-again", a)
    assert NamespaceTotals.objects.get(pk=tenant.namespace.id).bytes_uploaded == 2 * len(a) + len(b)
    assert OrgStorage.objects.get(organization=tenant.organization).stored_bytes == len(a) + len(b)


def test_already_stored_content_is_proven_by_its_chunks_without_the_whole_file_hash(tenant, monkeypatch):
    """The speed-up itself: a re-upload whose chunks equal a stored file's never computes the whole-file hash."""
    data = firmware(chunking_window() + 1_000_000, seed=49)
    _put_checked(tenant, "a", data)
    hashed = []
    monkeypatch.setattr(services.BackgroundSha256, "update", lambda self, block: hashed.append("update"))
    monkeypatch.setattr(services.BackgroundSha256, "digest", lambda self: hashed.append("digest"))
    assert tenant.put("b", data).json()["sha256"] == File.objects.get(path="a").sha256.hex()
    assert hashed == []
    monkeypatch.undo()
    _put_checked(tenant, "b", data)


def test_corrupt_stored_chunk_met_while_catching_up_the_hash_asks_for_a_retry_that_repairs(tenant, blob_root):
    size = chunking_window() + 1_500_000
    a = random_bytes(size, seed=50)
    _put_checked(tenant, "a", a)
    chunk = Chunk.objects.filter(organization=tenant.organization).order_by("pack_id", "offset").first()
    path = blob_root / chunk.pack.key
    raw = bytearray(path.read_bytes())
    raw[chunk.offset + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
    b = a[: size - 200_000] + random_bytes(200_000, seed=51)  # diverges after the first window
    reply = tenant.put("b", b)
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "retry_upload"
    assert not File.objects.filter(path="b").exists()
    chunk.refresh_from_db()
    assert chunk.corrupt
    _put_checked(tenant, "b", b)  # the retry stores the chunk again
    chunk.refresh_from_db()
    assert not chunk.corrupt
    assert body(tenant.get("a")) == a


# --- Already-stored content proven at a stored file's chunk boundaries (services._prove) -----------


def _stored_digests(path):
    from dedup import manifests

    ids = manifests.decode(File.objects.get(path=path).manifest)["id"].tolist()
    by_id = dict(Chunk.objects.filter(id__in=ids).values_list("id", "sha256"))
    return [bytes(by_id[chunk_id]) for chunk_id in ids]


def _cdc_digests(data):
    from dedup import chunking

    return [bytes.fromhex(digest) for digest, _ in chunking.chunk_digests(chunking.PROFILES["small-v1"], data)]


@pytest.fixture
def small_windows(monkeypatch):
    """Proof windows of 256 KiB, so that a 1.5 MiB file spans several of them."""
    monkeypatch.setattr(services, "PROOF_WINDOW", 256 * 1024)
    return 256 * 1024


def _window_starts(path):
    """Byte offsets of the chunks that begin a proof window of the stored file."""
    from dedup import manifests

    sizes = manifests.decode(File.objects.get(path=path).manifest)["size"].tolist()
    offsets = [sum(sizes[:index]) for index in range(len(sizes) + 1)]
    return [offsets[first] for first, _, _ in services._windows(sizes, services.PROOF_WINDOW)]


@pytest.mark.parametrize("where", ["window start", "inside a window", "last byte", "first byte"])
def test_same_size_upload_that_differs_is_cut_exactly_as_if_nothing_were_stored(tenant, small_windows, where):
    """The chunks before a difference are taken from the stored file; the cut resumes one chunk earlier
    (FastCDC reads the byte after a cut), so the manifest equals a plain CDC of the new body."""
    size = services.SPECULATE_MIN_BYTES + 500_000
    a = firmware(size, seed=60)
    _put_checked(tenant, "a", a)
    starts = _window_starts("a")
    assert len(starts) >= 4
    at = {"window start": starts[2], "inside a window": starts[2] + 70_000, "last byte": size - 1, "first byte": 0}
    b = bytearray(a)
    b[at[where]] ^= 0x5A  # the first byte of the chunk: the cut before it may move
    reply = _put_checked(tenant, "b", bytes(b))
    assert _stored_digests("b") == _cdc_digests(bytes(b))
    assert 0 < reply["new_bytes"] < 200_000


def test_upload_longer_or_shorter_than_the_same_size_candidate_is_stored_as_sent(tenant, small_windows):
    """Content-Length is what selects candidates; a body that is not that long is refused, nothing stored."""
    size = services.SPECULATE_MIN_BYTES + 300_000
    a = firmware(size, seed=61)
    _put_checked(tenant, "a", a)
    from io import BytesIO

    for sent in (a[:-1000], a + b"more"):
        response = tenant.client.generic(
            "PUT",
            "/api/files/odd.bin",
            b"",
            content_type="application/octet-stream",
            **tenant.headers(),
            CONTENT_LENGTH=str(size),
            **{"wsgi.input": BytesIO(sent)},
        )
        if len(sent) < size:
            assert response.status_code == 400 and response.json()["error"]["code"] == "incomplete_body"
            assert not File.objects.filter(path="odd.bin").exists()
        else:  # the server reads Content-Length bytes: the stored file is those, i.e. `a`
            assert response.status_code == 201 and body(tenant.get("odd.bin")) == a


def test_the_stored_file_starting_like_the_upload_is_the_one_compared(tenant, small_windows, monkeypatch):
    """Several stored files have the upload's size; the one whose first chunk it shares is proven,
    without the whole-file hash, whichever is newest."""
    size = services.SPECULATE_MIN_BYTES + 300_000
    a, other = firmware(size, seed=62), random_bytes(size, seed=63)
    _put_checked(tenant, "a", a)
    _put_checked(tenant, "newest", other)
    hashed = []
    monkeypatch.setattr(services.BackgroundSha256, "update", lambda self, block: hashed.append("update"))

    def no_cutting(*args, **kwargs):
        raise AssertionError("cut although a stored file starting alike was there to be proven")

    monkeypatch.setattr(services, "_cut_and_store", no_cutting)
    reply = tenant.put("a-again", a)
    assert reply.status_code == 201 and reply.json()["new_bytes"] == 0
    assert hashed == []
    monkeypatch.undo()
    assert body(tenant.get("a-again")) == a
    assert _stored_digests("a-again") == _stored_digests("a")


def test_declared_hash_with_a_body_that_differs_late_names_the_bodys_sha256(tenant, small_windows):
    import hashlib

    size = services.SPECULATE_MIN_BYTES + 300_000
    a = firmware(size, seed=64)
    _put_checked(tenant, "a", a)
    lie = bytearray(a)
    lie[_window_starts("a")[3] + 5] ^= 1
    reply = tenant.put("lie", bytes(lie), HTTP_X_CONTENT_SHA256=hashlib.sha256(a).hexdigest())
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "digest_mismatch"
    assert hashlib.sha256(bytes(lie)).hexdigest() in reply.json()["error"]["message"]
    assert not File.objects.filter(path="lie").exists()
    assert tenant.put("a2", a, HTTP_X_CONTENT_SHA256=hashlib.sha256(a).hexdigest()).json()["new_bytes"] == 0


@pytest.mark.parametrize("change", ["shorter", "longer", "same"])
def test_a_stream_not_as_long_as_announced_is_cut_and_hashed_as_it_is(tenant, small_windows, change):
    """ingest_stream with expected_size (Content-Length) naming a stored file's size, and a stream that
    ends earlier or goes on: what it returns is what a plain cut and hash of the bytes give."""
    import hashlib
    import io

    from dedup import chunking

    size = services.SPECULATE_MIN_BYTES + 300_000
    a = firmware(size, seed=65)
    _put_checked(tenant, "a", a)
    sent = {"shorter": a[:-1000], "longer": a + b"more bytes", "same": a}[change]
    stream = io.BytesIO(sent)
    profile = chunking.PROFILES["small-v1"]
    ingested = services.ingest_stream(tenant.organization.id, stream.read, profile, expected_size=size)
    assert ingested.size == len(sent) and ingested.sha256 == hashlib.sha256(sent).digest()
    assert ingested.digests == _cdc_digests(sent)
    assert ingested.new_bytes < 150_000
    if change == "same":
        assert ingested.new_bytes == 0


def test_declared_hash_of_a_stored_row_that_disagrees_with_its_chunks_stores_nothing(tenant):
    """Should a stored row's sha256 not be its chunks' (a damaged row), an upload declaring that hash
    with other bytes of the same size is refused, never committed without chunks."""
    import hashlib

    a, b = random_bytes(300_000, seed=66), random_bytes(300_000, seed=67)
    _put_checked(tenant, "a", a)
    File.objects.filter(path="a").update(sha256=hashlib.sha256(b).digest())
    reply = tenant.put("b", b, HTTP_X_CONTENT_SHA256=hashlib.sha256(b).hexdigest())
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "digest_mismatch"
    assert not File.objects.filter(path="b").exists()


def test_declared_hash_reuses_content_cut_with_another_profile_and_says_so(tenant):
    """Content stored in a large-v1 namespace, uploaded with its hash into a small-v1 one: its chunks are
    reused and the new file records the profile they were cut with (never taken as small-v1 cuts)."""
    import hashlib

    from tests.factories import NamespaceConfigFactory, NamespaceFactory

    media = NamespaceFactory(organization=tenant.organization, name="media", nodes=tenant.namespace.nodes)
    NamespaceConfigFactory(namespace=media, chunk_profile="large-v1")
    data = random_bytes(3_000_000, seed=68)
    put = tenant.client.put(
        "/api/files/m.bin", data, content_type="application/octet-stream", **tenant.headers(namespace="media")
    )
    assert put.status_code == 201
    reply = tenant.put("copy.bin", data, HTTP_X_CONTENT_SHA256=hashlib.sha256(data).hexdigest())
    assert reply.status_code == 201 and reply.json()["new_bytes"] == 0
    copy = File.objects.get(path="copy.bin")
    assert copy.chunk_profile == "large-v1" and copy.manifest == File.objects.get(path="m.bin").manifest
    assert body(tenant.get("copy.bin")) == data


def _edited(rng, data, keep_size):
    """A random edit: bytes flipped or rewritten, a shift (delete + insert), or, unless keep_size, a
    truncation or an extension."""
    out = bytearray(data)
    kinds = ["flip", "rewrite", "shift", "none"] + ([] if keep_size else ["truncate", "extend"])
    kind = rng.choice(kinds)
    at = rng.randrange(len(out)) if out else 0
    if kind == "flip" and out:
        out[at] ^= 1 + rng.randrange(255)
    elif kind == "rewrite" and out:
        out[at : at + 150_000] = rng.randbytes(len(out[at : at + 150_000]))
    elif kind == "shift" and len(out) > 10:
        count = rng.randint(1, 5)
        del out[at : at + count]
        place = rng.randrange(len(out) + 1)
        out[place:place] = rng.randbytes(count)
    elif kind == "truncate":
        del out[at:]
    elif kind == "extend":
        out += rng.randbytes(rng.randint(1, 80_000))
    return bytes(out)


@pytest.mark.parametrize("seed", range(24))
def test_ingest_always_gives_the_plain_cut_and_hash_of_the_bytes(tenant, monkeypatch, seed):
    """Differential: whatever is stored already (same-size files, several alike), whatever window and
    thread split, read or readinto, and whatever Content-Length says, ingest_stream returns exactly the
    chunks and SHA-256 of a plain cut of the bytes sent, and hash_only the bytes' SHA-256."""
    import hashlib
    import io
    import random

    from dedup import chunking

    rng = random.Random(seed)
    monkeypatch.setattr(services, "PROOF_WINDOW", rng.choice([1, 70_000, 300_000]))
    monkeypatch.setattr(services, "PROOF_SHARE_HERE", rng.choice([0, 40, 100]))
    monkeypatch.setattr(services, "SPECULATE_MIN_BYTES", 1)
    size = rng.choice([1, 5000, 70_000, 600_000])
    base = (firmware if seed % 2 else random_bytes)(size, seed=100 + seed)
    stored = [base] + [_edited(rng, base, keep_size=True) for _ in range(rng.randint(0, 3))]
    for index, data in enumerate(stored):
        assert tenant.put(f"s{index}", data).status_code == 201
    organization = tenant.organization.id
    for _ in range(4):
        sent = _edited(rng, rng.choice(stored), keep_size=rng.random() < 0.7)
        readinto = rng.random() < 0.5
        stream = io.BytesIO(sent)
        ingested = services.ingest_stream(
            organization,
            stream.read,
            chunking.PROFILES["small-v1"],
            expected_size=rng.choice([len(sent), size]),
            readinto=stream.readinto if readinto else None,
        )
        assert ingested.sha256 == hashlib.sha256(sent).digest() and ingested.size == len(sent)
        assert [bytes(Chunk.objects.get(id=i).sha256) for i in ingested.ids] == _cdc_digests(sent)
        known = services.known_content(organization, hashlib.sha256(rng.choice(stored)).digest())
        stream = io.BytesIO(sent)
        hashed = services.hash_only(stream.read, known, readinto=stream.readinto if readinto else None)
        assert hashed.sha256 == hashlib.sha256(sent).digest() and hashed.size == len(sent)
        assert hashed.proven == (hashed.sha256 == known.sha256)
