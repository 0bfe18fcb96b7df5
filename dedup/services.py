"""Writes of the dedup store: ingest, manifest commits, deletes, chunk uploads, GC, verification.

Crash order of every write (so a crash at any point leaves no manifest pointing at a missing chunk):
  1. chunk bytes are appended to a pack, which is made durable (fsync + rename, or the S3 PUT returns);
  2. the pack and its chunk index rows are inserted (refcount 0, protected for the grace period);
  3. the manifest and the reference counts change together in one transaction, under the
     organization's OrgStorage row lock (the same lock garbage collection takes).
A crash after 1 leaves an unreferenced pack object; after 2, unreferenced chunks: GC removes both
once the grace period has passed.
"""

import datetime
import hashlib
import logging
import mimetypes
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status

from config.errors import ApiError
from dedup import blobstore, chunking, manifests, packs, selectors, sql
from dedup.models import Chunk, File, NamespaceConfig, NamespaceTotals, OrgStorage, Pack, StorageDaily

log = logging.getLogger(__name__)

IN_BATCH = 2000  # ids per IN (...) query: under every database's parameter limit


def grace_period():
    return datetime.timedelta(seconds=settings.DEDUP_UPLOAD_GRACE_SECONDS)


def _batches(items, size=IN_BATCH):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def storage_unavailable(exc):
    log.warning("blob storage unavailable: %s", exc)
    return ApiError(
        "storage_unavailable",
        "The file storage backend is unreachable; nothing was written. Retry later.",
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def quota_exceeded(plan_name, quota, needed):
    return ApiError(
        "storage_quota_exceeded",
        f"This upload needs {needed} bytes of storage; the {plan_name} plan's storage quota is {quota} bytes "
        "(storage_quota_bytes).",
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        limit="storage_quota_bytes",
        limit_value=quota,
    )


def count_usage(context, **fields):
    """Per-day usage counters (cache_api.metering); a counting failure never fails the data operation."""
    from cache_api import metering

    try:
        metering.add_counts(context.organization_id, context.namespace.id, **fields)
    except Exception:  # noqa: BLE001 - metering is best effort by design: the data write already happened
        log.exception("could not record dedup usage counts")


def _add_totals(namespace_id, **amounts):
    amounts = {name: value for name, value in amounts.items() if value}
    if not amounts:
        return
    updated = NamespaceTotals.objects.filter(pk=namespace_id).update(
        **{name: F(name) + value for name, value in amounts.items()}
    )
    if not updated:
        NamespaceTotals.objects.get_or_create(pk=namespace_id)
        NamespaceTotals.objects.filter(pk=namespace_id).update(
            **{name: F(name) + value for name, value in amounts.items()}
        )


def record_served(namespace_id, served, hit=True, origin_file=False):
    """Running totals of bytes served; `hit` = served from the store without going to the origin;
    `origin_file` = the file's content was read through from the origin (its hits are egress avoided)."""
    if hit:
        _add_totals(
            namespace_id, served_bytes=served, hit_bytes=served, hits=1, origin_hit_bytes=served if origin_file else 0
        )
    else:
        _add_totals(namespace_id, served_bytes=served)


def record_miss(context, origin_bytes=0, request=False):
    """A GET that did not find the file in the store (read through from the origin, or 404)."""
    count_usage(context, requests=1 if request else 0, misses=1, origin_bytes=origin_bytes)
    _add_totals(context.namespace.id, misses=1, origin_bytes=origin_bytes)


def namespace_profile(namespace_id):
    config = NamespaceConfig.objects.filter(namespace_id=namespace_id).values_list("chunk_profile", flat=True).first()
    return chunking.get_profile(config or chunking.DEFAULT_PROFILE)


def guess_content_type(path, declared=None):
    declared = (declared or "").strip()
    if declared and declared != "application/x-www-form-urlencoded":
        return declared[:255]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


# --- Storing chunks ------------------------------------------------------------------


class ChunkSink:
    """Stores the new chunks of one upload session in packs and indexes them after each pack is durable."""

    def __init__(self, organization_id, backend=None, quota_room=None, relaxed=True):
        # relaxed: the index rows only need to be durable together with the manifest this session commits.
        # Chunk uploads answer "stored" on their own, so they commit synchronously (relaxed=False).
        self.relaxed = relaxed
        self.organization_id = organization_id
        self.backend = backend or blobstore.get_backend()
        self.known = {}  # digest -> chunk row id (already stored, or indexed by this session)
        self.pending = {}  # digest -> raw size, in the open pack and not yet indexed
        self.repair = set()  # digests whose stored copy is marked corrupt: this session rewrites them
        self.builder = None
        self.compressor = packs.Compressor()
        self.new_chunks = 0
        self.new_bytes = 0
        self.quota_room = quota_room

    def _lookup(self, digests):
        found = {}
        needs_protection = []
        for digest, chunk_id, refcount, corrupt in sql.lookup(self.organization_id, digests):
            if corrupt:
                self.repair.add(digest)
                continue
            found[digest] = chunk_id
            if refcount == 0:
                needs_protection.append(chunk_id)
        if needs_protection:
            # An unreferenced chunk we are about to use must survive until our commit. GC deletes only
            # rows still unprotected at its DELETE, so once protected (and re-read) it is ours to use;
            # one collected in between is simply stored again from the bytes we hold.
            sql.protect(needs_protection, timezone.now() + grace_period())
            still_there = {chunk_id for _, chunk_id, _, _ in sql.lookup(self.organization_id, list(found))}
            found = {digest: chunk_id for digest, chunk_id in found.items() if chunk_id in still_there}
        return found

    def add(self, pieces):
        """pieces: [(digest, data)] in file order. Returns nothing; ids are resolved by ids_for()."""
        unseen = list({digest for digest, _ in pieces if digest not in self.known and digest not in self.pending})
        if unseen:
            self.known.update(self._lookup(unseen))
        for digest, data in pieces:
            if digest in self.known or digest in self.pending:
                continue
            if self.quota_room is not None and self.new_bytes + len(data) > self.quota_room:
                raise QuotaRoomExceeded()
            if self.builder is None:
                self.builder = packs.PackBuilder(self.backend, self.organization_id)
            payload, compression = self.compressor.encode(data)
            self.builder.add(digest, len(data), payload, compression)
            self.pending[digest] = len(data)
            self.new_chunks += 1
            self.new_bytes += len(data)
            if self.builder.full:
                self.flush()

    def flush(self):
        """Seal the open pack (durable), then insert it and its chunk rows."""
        builder, self.builder = self.builder, None
        if builder is None:
            return
        try:
            builder.seal()
        except blobstore.BlobUnavailable:
            builder.abort()
            raise
        now = timezone.now()
        protected = now + grace_period()
        with transaction.atomic():
            if self.relaxed:
                sql.relaxed_commit()
            pack = Pack.objects.create(organization_id=self.organization_id, key=builder.key, size=builder.size)
            fresh = []
            for digest, raw_size, stored_size, compression, offset in builder.entries:
                if digest in self.repair:
                    Chunk.objects.filter(organization_id=self.organization_id, sha256=digest).update(
                        pack=pack,
                        offset=offset,
                        stored_size=stored_size,
                        compression=compression,
                        corrupt=False,
                        protected_until=protected,
                    )
                    self.repair.discard(digest)
                    continue
                fresh.append((digest, raw_size, stored_size, compression, offset))
            # A concurrent upload of the same chunk may have won: its row stays, our copy is garbage.
            sql.insert(self.organization_id, pack.id, fresh, protected, now)
        digests = [entry[0] for entry in builder.entries]
        for digest, chunk_id, _, _ in sql.lookup(self.organization_id, digests):
            self.known[digest] = chunk_id
        for digest in digests:
            self.pending.pop(digest, None)

    def abort(self):
        if self.builder is not None:
            self.builder.abort()
            self.builder = None

    # `with ChunkSink(...) as sink:` drops the open (unsealed) pack on any exception.
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()

    def ids_for(self, digests):
        return [self.known[digest] for digest in digests]


class QuotaRoomExceeded(Exception):
    pass


@dataclass
class Ingested:
    size: int
    sha256: bytes
    digests: list
    sizes: list
    new_chunks: int
    new_bytes: int
    ids: list = field(default_factory=list)
    proven: bool = True  # False: hash_only found a body that is not the declared content (never committed)


# Share of each window's chunk hashes computed by the request thread; the helper thread, which also
# computes the whole-file hash, takes the rest (benchmarks/dedup.py, "already stored").
HASH_SHARE_HERE = 60


def _digests(pieces):
    sha = hashlib.sha256
    return [sha(piece).digest() for piece in pieces]


class BackgroundSha256:
    """A whole-file SHA-256 fed block by block and computed on a helper thread (hashlib releases the
    GIL on large buffers), so the caller reads, cuts and hashes chunks meanwhile. One block in flight."""

    def __init__(self, pool):
        self.pool = pool
        self.hash = hashlib.sha256()
        self.size = 0
        self.pending = None

    def update(self, block):
        self.wait()
        self.pending = self.pool.submit(self.hash.update, block)
        self.size += len(block)

    def wait(self):
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def digest(self):
        self.wait()
        return self.hash.digest()


# Stored files of the upload's size whose content it may repeat (see _prove and _Speculation).
MAX_CANDIDATES = 8
# Below this, hashing the whole file (~0.6 ms per MiB) costs no more than the query for candidates.
SPECULATE_MIN_BYTES = 1024 * 1024
# Bytes read and hashed between two comparisons with a stored file's digests, and the share of each
# window's bytes this thread hashes (it also reads the next window meanwhile; the helper hashes the rest).
PROOF_WINDOW = 8 * 1024 * 1024
PROOF_SHARE_HERE = 40


@dataclass
class StoredContent:
    """A stored file an upload may repeat: its whole-file SHA-256 and its chunks (ids, sizes, digests)."""

    sha256: bytes
    ids: np.ndarray
    sizes: np.ndarray
    digests: list = field(default_factory=list)
    profile_name: str = ""  # the profile its chunks were cut with

    @classmethod
    def from_manifest(cls, sha256, blob, profile_name=""):
        entries = manifests.decode(blob)
        return cls(sha256=bytes(sha256), ids=entries["id"], sizes=entries["size"], profile_name=profile_name)

    def with_digests(self, organization_id):
        """Self with the chunks' digests loaded; None if one is gone or marked corrupt (the full path,
        which stores the body's chunks, repairs it)."""
        rows = sql.digest_rows(organization_id, self.ids)
        digests = []
        for chunk_id in self.ids.tolist():
            row = rows.get(chunk_id)
            if row is None or row[1]:
                return None
            digests.append(row[0])
        self.digests = digests
        return self

    @classmethod
    def empty(cls):
        return cls(sha256=b"", ids=np.empty(0, np.int64), sizes=np.empty(0, np.uint32))

    def prefix(self, count):
        """Its first `count` chunks (no whole-file hash: they are part of a file, not one)."""
        return StoredContent(sha256=b"", ids=self.ids[:count], sizes=self.sizes[:count], digests=self.digests[:count])

    def starts_with(self, other):
        return np.array_equal(self.ids[: len(other.ids)], other.ids)

    def ingested(self):
        sizes = self.sizes.tolist()
        return Ingested(
            size=sum(sizes),
            sha256=self.sha256,
            digests=self.digests,
            sizes=sizes,
            new_chunks=0,
            new_bytes=0,
            ids=self.ids.tolist(),
        )


def _same_size_files(organization_id, size, profile_name):
    """A few of the organization's files of exactly this size cut with this profile, newest first."""
    if not size or size < SPECULATE_MIN_BYTES:
        return []
    rows = (
        File.objects.filter(organization_id=organization_id, size=size, chunk_profile=profile_name)
        .order_by("-updated_at")
        .values_list("sha256", "manifest")
    )
    return [StoredContent.from_manifest(sha256, blob) for sha256, blob in rows[:MAX_CANDIDATES]]


class _Speculation:
    """Proves already-stored content by its chunks, without the whole-file SHA-256 (the CDC path's
    fallback when the lead candidate of _prove was not it).

    Chunk ids are SHA-256 digests the server computed itself, so a chunk-id sequence equal to a stored
    file's manifest means byte-identical content: that file's sha256 is this upload's. While every chunk
    is already stored and the ids so far are a prefix of a candidate's manifest, the whole-file hash is
    not computed; on the first divergence the caller catches it up on every byte read so far.
    """

    def __init__(self, candidates, position=0):
        self.candidates = candidates
        self.position = position

    def advance(self, ids):
        """Ids of the next chunks; False once no candidate starts with the sequence seen so far."""
        if None in ids:
            return False  # a chunk that is not stored yet (or is being repaired): new content
        end = self.position + len(ids)
        window = np.asarray(ids, dtype=np.int64)
        self.candidates = [
            candidate
            for candidate in self.candidates
            if len(candidate.ids) >= end and np.array_equal(candidate.ids[self.position : end], window)
        ]
        self.position = end
        return bool(self.candidates)

    def proven_sha256(self):
        for candidate in self.candidates:
            if len(candidate.ids) == self.position:
                return candidate.sha256
        return None


def _hash_stored(whole, ids):
    """Feed the stored (verified) bytes of chunks `ids` to a BackgroundSha256, synchronously."""
    whole.wait()
    for data in _stored_bytes(ids):
        whole.hash.update(data)


def _stored_bytes(ids):
    try:
        yield from selectors.iter_chunk_data(ids)
    except packs.ChunkCorrupted:
        # Now marked corrupt: a retry stores this content's chunks again, which repairs them.
        raise ApiError(
            "retry_upload",
            "A stored chunk of this content failed verification; retry the upload.",
            status.HTTP_409_CONFLICT,
        )


class _Scratch(threading.local):
    """Buffers reused by the uploads one thread handles one after another: a fresh 8 MiB buffer costs
    its page faults again on every upload (about twice the time of filling it)."""

    def __init__(self):
        self.buffers = {}

    def get(self, name, size):
        buffer = self.buffers.get(name)
        if buffer is None or len(buffer) < size:
            buffer = self.buffers[name] = memoryview(bytearray(size))
        return buffer[:size]


_scratch = _Scratch()


def _fill(view, read, readinto):
    """Read into `view` until it is full or the stream ends; returns the bytes read."""
    filled = 0
    while filled < len(view):
        if readinto is not None:
            got = readinto(view[filled:]) or 0
        else:
            data = read(len(view) - filled)
            got = len(data)
            view[filled : filled + got] = data
        if not got:
            break
        filled += got
    return filled


@dataclass
class Proof:
    """What _prove found. Chunks before `restart` are settled: the body has their bytes at their place,
    and a cutter started at `restart` cuts the rest as it would have cut the whole body. `leftover` is
    the body from chunk `restart` on, as far as it has been read."""

    proven: bool
    restart: int = 0
    leftover: bytes = b""


def _windows(sizes, capacity):
    """[(first, last, starts)]: runs of whole chunks of at most `capacity` bytes (a larger chunk alone),
    with each chunk's start offset in its run."""
    windows = []
    first = 0
    while first < len(sizes):
        last, want, starts = first, 0, []
        while last < len(sizes) and (last == first or want + sizes[last] <= capacity):
            starts.append(want)
            want += sizes[last]
            last += 1
        windows.append((first, last, starts))
        first = last
    return windows


def _byte_split(pieces, percent):
    """Index splitting `pieces` so that the first part holds about `percent` of their bytes."""
    goal = sum(len(piece) for piece in pieces) * percent // 100
    held = 0
    for index, piece in enumerate(pieces):
        if held >= goal:
            return index
        held += len(piece)
    return len(pieces)


def _prove(content, read, readinto, pool):
    """Is the body exactly `content`? Hashes it at content's chunk boundaries, window by window, the helper
    thread taking part of each window's chunks while this thread hashes the rest and then reads the next
    window into a second buffer, and compares with content's digests. No cutting and no whole-file hash:
    for already-stored content one SHA-256 pass on two cores.

    Equal digests mean equal bytes (SHA-256, computed by the server). On a difference at chunk k the cut
    of chunk k - 1 is not settled (FastCDC's cut decision reads the byte after the cut, the first byte of
    chunk k), so the proof restarts there; the bytes of chunk k - 1, if an earlier window held them, are
    read back from the store."""
    sizes = content.sizes.tolist()
    windows = _windows(sizes, PROOF_WINDOW)
    buffers = [_scratch.get(f"proof{index}", max([PROOF_WINDOW, *sizes])) for index in range(2)]

    def fetch(index):
        """Window `index` read into its buffer; past the last window, one byte (there should be none)."""
        if index < len(windows):
            first, last, starts = windows[index]
            want = starts[-1] + sizes[last - 1]
        else:
            want = 1
        buffer = buffers[index % 2]
        return buffer[: _fill(buffer[:want], read, readinto)]

    data, previous = fetch(0), b""
    for index, (first, last, starts) in enumerate(windows):
        bounds = zip(starts, sizes[first:last], strict=True)
        complete = [data[start : start + size] for start, size in bounds if start + size <= len(data)]
        split = _byte_split(complete, PROOF_SHARE_HERE)
        tail = pool.submit(_digests, complete[split:])
        digests = _digests(complete[:split])
        # Read ahead into the other buffer while the helper hashes (it is not the one being hashed).
        following = fetch(index + 1) if len(complete) == last - first else b""
        digests += tail.result()
        matched = _common_prefix(digests, content.digests[first : first + len(complete)])
        if matched < last - first:  # a chunk differs, or the body ended inside the window
            return _diverged(content, first + matched, first, starts, bytes(data) + bytes(following))
        data, previous = following, data
    if data:  # the body goes on past the content's end, where its last chunk was cut
        if not windows:
            return Proof(proven=False, leftover=bytes(data))
        first, _, starts = windows[-1]
        return _diverged(content, len(sizes), first, starts, bytes(previous) + bytes(data))
    return Proof(proven=True)


def _common_prefix(ours, theirs):
    """How many leading items the two equally long lists share."""
    return next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b), len(ours))


def _diverged(content, differs_at, window_first, window_starts, window):
    restart = max(0, differs_at - 1)
    if restart >= window_first:
        return Proof(proven=False, restart=restart, leftover=bytes(window[window_starts[restart - window_first] :]))
    # Chunk `restart` ended the previous window: its bytes are those of the stored chunk.
    stored = b"".join(_stored_bytes([int(content.ids[restart])]))
    return Proof(proven=False, restart=restart, leftover=stored + bytes(window))


def _prefixed(leftover, read, readinto):
    """read and readinto serving `leftover` (bytes or a view) first, then the stream."""
    pending = memoryview(leftover)

    def read_prefixed(size):
        nonlocal pending
        if pending:
            data, pending = bytes(pending[:size]), pending[size:]
            return data
        return read(size)

    def readinto_prefixed(buffer):
        nonlocal pending
        if pending:
            count = min(len(buffer), len(pending))
            buffer[:count] = pending[:count]
            pending = pending[count:]
            return count
        return readinto(buffer)

    return read_prefixed, (readinto_prefixed if readinto is not None else None)


def ingest_stream(organization_id, read, profile, quota_room=None, backend=None, expected_size=None, readinto=None):
    """Chunk, hash and store a stream (read(n) -> bytes). Returns what the manifest commit needs.

    With the size known in advance (Content-Length) and a stored file of that size and profile, the body
    is first compared with that file at its chunk boundaries (_prove): already-stored content costs one
    SHA-256 pass split over two threads, no cutting. Otherwise, or from where the body turns out to
    differ, it is cut and stored (_cut_and_store).
    """
    candidates = _same_size_files(organization_id, expected_size, profile.name) if expected_size else []
    settled = StoredContent.empty()
    with ThreadPoolExecutor(1) as pool:
        lead = None
        if candidates:
            lead, head = _lead_candidate(organization_id, candidates, profile, read, readinto)
            read, readinto = _prefixed(head, read, readinto)
        if lead is not None:
            proof = _prove(lead, read, readinto, pool)
            if proof.proven:
                return lead.ingested()
            read, readinto = _prefixed(proof.leftover, read, readinto)
            settled = lead.prefix(proof.restart)
            candidates = [c for c in candidates if c is not lead and c.starts_with(settled)]
        return _cut_and_store(organization_id, read, readinto, profile, pool, quota_room, backend, settled, candidates)


def _lead_candidate(organization_id, candidates, profile, read, readinto):
    """The candidate (digests loaded) whose first chunk is the body's, or None; and the bytes read to
    find out. Candidates were cut with `profile` and have the body's size, so the body's first cut is
    theirs if they start alike: one cut, and a hash only if several candidates have that first size
    (a wrong lead costs one proof window; _prove checks every chunk anyway)."""
    head = _scratch.get("head", profile.max_size)
    head = head[: _fill(head, read, readinto)]
    first = next(iter(profile.cutter().cut_buf(head)), None)
    alike = [c for c in candidates if first is not None and len(c.ids) and c.sizes[0] == first.length]
    if len(alike) > 1:
        digest = hashlib.sha256(first.data).digest()
        first_digests = sql.digest_rows(organization_id, [int(candidate.ids[0]) for candidate in alike])
        alike = [c for c in alike if first_digests.get(int(c.ids[0]), (None,))[0] == digest]
    return (alike[0].with_digests(organization_id) if alike else None), head


def _cut_and_store(organization_id, read, readinto, profile, pool, quota_room, backend, settled, candidates):
    """Cut the stream with `profile` after the `settled` chunks, store new chunks, hash the whole file.

    The helper thread computes the whole-file SHA-256 and part of the chunk hashes, overlapping with
    reading, cutting (FastCDC releases the GIL too) and the rest of the chunk hashes. While the chunks
    match stored same-size `candidates` (_Speculation) the whole-file hash waits.
    """
    digests, sizes = list(settled.digests), settled.sizes.tolist()
    speculation = _Speculation(candidates, position=len(digests)) if candidates else None
    received = sum(sizes)
    with ChunkSink(organization_id, backend=backend, quota_room=quota_room) as sink:
        sink.known.update(zip(digests, settled.ids.tolist(), strict=True))
        whole = BackgroundSha256(pool)
        if speculation is None and digests:
            _hash_stored(whole, settled.ids.tolist())

        def on_block(block):
            nonlocal received
            received += len(block)
            if speculation is None:
                whole.update(block)

        for pieces, window in chunking.iter_windows_with_bytes(profile, read, on_block=on_block, readinto=readinto):
            # The views point into a reused buffer: hash and store them before the next window.
            # The helper thread hashes the tail of the window while this thread hashes the head (an even
            # split while the helper has no whole-file hash to compute).
            share = HASH_SHARE_HERE if speculation is None else 50
            split = (len(pieces) * share) // 100
            tail = pool.submit(_digests, pieces[split:])
            window_digests = _digests(pieces[:split]) + tail.result()
            before = len(digests)
            digests.extend(window_digests)
            sizes.extend(len(piece) for piece in pieces)
            sink.add(list(zip(window_digests, pieces, strict=True)))
            if speculation is not None and not speculation.advance([sink.known.get(d) for d in window_digests]):
                # New content after all: hash what earlier windows consumed (stored chunks, identical to
                # ours) and this window's bytes (still in the buffer), then hash every block as it comes.
                speculation = None
                if before:
                    _hash_stored(whole, sink.ids_for(digests[:before]))
                whole.update(window)
            whole.wait()  # the buffer is reused once the next window is requested
        sink.flush()
        ids = sink.ids_for(digests)
        if speculation is not None:
            sha256 = speculation.proven_sha256()
            if sha256 is None:  # every chunk stored, but the content is a prefix of the candidates
                _hash_stored(whole, ids)
                sha256 = whole.digest()
        else:
            sha256 = whole.digest()
    return Ingested(
        size=received,
        sha256=sha256,
        digests=digests,
        sizes=sizes,
        new_chunks=sink.new_chunks,
        new_bytes=sink.new_bytes,
        ids=ids,
    )


# --- Manifest commits ------------------------------------------------------------------


class ChunksGone(Exception):
    def __init__(self, ids):
        super().__init__(f"{len(ids)} chunks are no longer stored")
        self.ids = ids


@dataclass
class Committed:
    file: File
    added_bytes: int  # raw bytes of chunks that became referenced by this commit
    freed_bytes: int


def _lock_storage(organization_id):
    storage = OrgStorage.objects.select_for_update().filter(organization_id=organization_id).first()
    if storage is None:  # the organization's first file: one extra round trip, once
        OrgStorage.objects.get_or_create(organization_id=organization_id)
        storage = OrgStorage.objects.select_for_update().get(organization_id=organization_id)
    return storage


def _refcount_deltas(new_ids, old_manifest):
    deltas = defaultdict(int)
    if len(new_ids):
        unique, counts = np.unique(np.asarray(new_ids, dtype=np.int64), return_counts=True)
        for chunk_id, count in zip(unique.tolist(), counts.tolist(), strict=True):
            deltas[chunk_id] += count
    if old_manifest is not None:
        old = manifests.decode(old_manifest)["id"]
        if len(old):
            unique, counts = np.unique(old, return_counts=True)
            for chunk_id, count in zip(unique.tolist(), counts.tolist(), strict=True):
                deltas[chunk_id] -= count
    return {chunk_id: delta for chunk_id, delta in deltas.items() if delta}


def _apply_deltas(deltas, organization_id):
    """Apply refcount changes; returns (added_bytes, freed_bytes). Raises ChunksGone for missing ids
    (the caller's transaction then rolls the changes back).

    Chunks freed here stay protected for a grace period: an upload that looked them up while they were
    still referenced did not protect them (that would be a write per chunk on every re-upload) and may
    be about to commit them.
    """
    rows = sql.apply_refcounts(organization_id, deltas, timezone.now() + grace_period())
    gone = [chunk_id for chunk_id, delta in deltas.items() if delta > 0 and chunk_id not in rows]
    if gone:
        raise ChunksGone(gone)
    added = freed = 0
    for chunk_id, (refcount, size) in rows.items():
        after = refcount + deltas[chunk_id]
        if refcount <= 0 < after:
            added += size
        elif refcount > 0 >= after:
            freed += size
    return added, freed


def commit_file(
    context, path, *, size, sha256, ids, sizes, content_type, profile_name, origin_fetched=False, totals=None
):
    """Point `path` at a manifest and move reference counts, in one transaction."""
    organization_id = context.organization_id
    namespace_id = context.namespace.id
    now = timezone.now()
    with transaction.atomic():
        storage = _lock_storage(organization_id)
        existing = File.objects.select_for_update().filter(namespace_id=namespace_id, path=path).first()
        deltas = _refcount_deltas(ids, existing.manifest if existing else None)
        added, freed = _apply_deltas(deltas, organization_id)
        quota = context.plan.storage_quota_bytes
        if quota is not None and added > freed and storage.stored_bytes + added - freed > quota:
            raise quota_exceeded(context.plan.name, quota, storage.stored_bytes + added - freed)  # rolls back
        fields = {
            "organization_id": organization_id,
            "size": size,
            "sha256": sha256,
            "content_type": content_type,
            "chunk_count": len(ids),
            "chunk_profile": profile_name,
            "manifest": manifests.encode(ids, sizes),
            "updated_at": now,
            "origin_fetched": origin_fetched,
        }
        if existing is None:
            file = File.objects.create(namespace_id=namespace_id, path=path, created_at=now, **fields)
        else:
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.save()
            file = existing
        storage.stored_bytes += added - freed
        storage.updated_at = now
        if not sql.save_storage(organization_id, storage.stored_bytes, now, namespace_id, totals):
            _add_totals(namespace_id, **totals)  # the namespace's first totals: creates the row
    return Committed(file=file, added_bytes=added, freed_bytes=freed)


def _quota_room(context):
    quota = context.plan.storage_quota_bytes
    if quota is None:
        return None
    stored = (
        OrgStorage.objects.filter(organization_id=context.organization_id)
        .values_list("stored_bytes", flat=True)
        .first()
    )
    return max(0, quota - (stored or 0))


def known_content(organization_id, sha256):
    """The organization's stored content with this whole-file SHA-256 (digests loaded), or None."""
    row = (
        File.objects.filter(organization_id=organization_id, sha256=sha256)
        .values_list("manifest", "chunk_profile")
        .first()
    )
    if row is None:
        return None
    return StoredContent.from_manifest(sha256, *row).with_digests(organization_id)


def hash_only(read, known, readinto=None):
    """Content whose whole-file hash is already stored: prove the body is that content at its chunk
    boundaries (_prove), never chunking it. A body that is not gets its SHA-256 computed (the stored
    prefix it shares, then the rest), so that the refusal can name it."""
    with ThreadPoolExecutor(1) as pool:
        proof = _prove(known, read, readinto, pool)
        if proof.proven:
            return known.ingested()
        whole = BackgroundSha256(pool)
        _hash_stored(whole, known.ids[: proof.restart].tolist())
        whole.hash.update(proof.leftover)
        whole.size = int(known.sizes[: proof.restart].sum()) + len(proof.leftover)
        for block in chunking.iter_blocks(read):
            whole.update(block)
        return Ingested(
            size=whole.size, sha256=whole.digest(), digests=[], sizes=[], new_chunks=0, new_bytes=0, proven=False
        )


def put_file(
    context,
    path,
    read,
    declared_content_type=None,
    origin_fetched=False,
    declared_sha256=None,
    expected_size=None,
    readinto=None,
):
    """Store a streamed body at `path`. Returns (Committed, Ingested).

    With `declared_sha256` (the X-Content-SHA256 header) naming content the organization already holds,
    the body is only hashed to prove it, never chunked; a body that does not match is refused.
    `readinto` (optional, the body's readinto) lets chunking read straight into its buffer.
    """
    profile = namespace_profile(context.namespace.id)
    room = _quota_room(context)
    known = known_content(context.organization_id, declared_sha256) if declared_sha256 else None
    try:
        if known is not None:
            ingested = hash_only(read, known, readinto=readinto)
        else:
            ingested = ingest_stream(
                context.organization_id, read, profile, quota_room=room, expected_size=expected_size, readinto=readinto
            )
    except blobstore.BlobUnavailable as exc:
        raise storage_unavailable(exc)
    except QuotaRoomExceeded:
        quota = context.plan.storage_quota_bytes
        raise quota_exceeded(context.plan.name, quota, quota + 1)
    if expected_size is not None and ingested.size != expected_size:
        raise ApiError("incomplete_body", "The request body ended before Content-Length bytes; nothing was stored.")
    if declared_sha256 and ingested.sha256 != declared_sha256:
        raise ApiError(
            "digest_mismatch",
            f"The body's SHA-256 is {ingested.sha256.hex()}, not the declared {declared_sha256.hex()}; "
            "nothing was stored.",
            field="X-Content-SHA256",
        )
    if known is not None and not ingested.proven:
        # Its SHA-256 is the declared one, yet its bytes are not that stored content's: the stored row's
        # sha256 disagrees with its chunks. Never commit the unproven body (it has no chunks).
        log.error("stored %s does not match its chunks (org %s)", declared_sha256.hex(), context.organization_id)
        raise ApiError("digest_mismatch", "The body does not match the declared SHA-256.", field="X-Content-SHA256")
    try:
        committed = commit_file(
            context,
            path,
            size=ingested.size,
            sha256=ingested.sha256,
            ids=ingested.ids,
            sizes=ingested.sizes,
            content_type=guess_content_type(path, declared_content_type),
            profile_name=known.profile_name if known is not None else profile.name,
            origin_fetched=origin_fetched,
            totals=None if origin_fetched else {"bytes_uploaded": ingested.size},
        )
    except ChunksGone:
        # Only if this upload outlived the grace period and GC collected chunks it relied on.
        raise ApiError(
            "upload_expired",
            "The upload took longer than the upload grace period; retry it.",
            status.HTTP_409_CONFLICT,
        )
    new_bytes = ingested.new_bytes
    count_usage(context, bytes_written=new_bytes, dedup_bytes_saved=max(0, ingested.size - new_bytes))
    return committed, ingested


def delete_file(context, path):
    with transaction.atomic():
        storage = _lock_storage(context.organization_id)
        existing = File.objects.select_for_update().filter(namespace_id=context.namespace.id, path=path).first()
        if existing is None:
            return False
        deltas = _refcount_deltas([], existing.manifest)
        _, freed = _apply_deltas(deltas, context.organization_id)
        existing.delete()
        storage.stored_bytes -= freed
        storage.updated_at = timezone.now()
        storage.save(update_fields=["stored_bytes", "updated_at"])
    return True


def delete_namespace_files(namespace):
    """Free a namespace's files before the namespace row goes (tenants.services.namespace_deleted)."""
    with transaction.atomic():
        storage = _lock_storage(namespace.organization_id)
        deltas = defaultdict(int)
        for blob in File.objects.filter(namespace=namespace).values_list("manifest", flat=True).iterator():
            for chunk_id, delta in _refcount_deltas([], blob).items():
                deltas[chunk_id] += delta
        _, freed = _apply_deltas(dict(deltas), namespace.organization_id)
        File.objects.filter(namespace=namespace).delete()
        storage.stored_bytes -= freed
        storage.save(update_fields=["stored_bytes"])


# --- Client-side dedup ---------------------------------------------------------------------


def missing_chunks(context, digests):
    """Digests the organization lacks; the present ones are protected for the grace period."""
    present = {}
    for batch in _batches(set(digests)):
        for digest, chunk_id in Chunk.objects.filter(
            organization_id=context.organization_id, sha256__in=batch, corrupt=False
        ).values_list("sha256", "id"):
            present[bytes(digest)] = chunk_id
    if present:
        sql.protect(present.values(), timezone.now() + grace_period())
    seen = set()
    missing = []
    for digest in digests:
        if digest not in present and digest not in seen:
            seen.add(digest)
            missing.append(digest)
    return missing


def digest_mismatch(declared, actual):
    return ApiError(
        "digest_mismatch",
        f"The chunk's SHA-256 is {actual}, not {declared}; it was not stored.",
        field="sha256",
        expected=declared,
        actual=actual,
    )


def store_chunks(context, pieces):
    """Store uploaded chunks [(declared hex digest, bytes)], each verified by the server. Returns new count."""
    verified = []
    for declared, data in pieces:
        actual = hashlib.sha256(data).hexdigest()
        if actual != declared:
            raise digest_mismatch(declared, actual)
        if len(data) > chunking.MAX_CHUNK_SIZE:
            raise ApiError("chunk_too_large", f"A chunk may be at most {chunking.MAX_CHUNK_SIZE} bytes.", field="body")
        verified.append((bytes.fromhex(actual), data))
    try:
        with ChunkSink(context.organization_id, quota_room=_quota_room(context), relaxed=False) as sink:
            sink.add(verified)
            sink.flush()
    except blobstore.BlobUnavailable as exc:
        raise storage_unavailable(exc)
    except QuotaRoomExceeded:
        quota = context.plan.storage_quota_bytes
        raise quota_exceeded(context.plan.name, quota, quota + 1)
    if sink.new_bytes:
        _add_totals(context.namespace.id, bytes_uploaded=sink.new_bytes)
    return sink.new_chunks, sink.new_bytes


def commit_manifest(context, path, *, size, sha256_hex, chunks, content_type=None):
    """Commit a file from chunks the organization already holds (client-side dedup)."""
    digests = [bytes.fromhex(item["sha256"]) for item in chunks]
    declared_sizes = [item["size"] for item in chunks]
    if sum(declared_sizes) != size:
        raise ApiError(
            "size_mismatch",
            f"The chunk sizes add up to {sum(declared_sizes)} bytes, not the declared size {size}.",
            field="size",
        )
    rows = {}
    for batch in _batches(set(digests)):
        for digest, chunk_id, chunk_size, corrupt in Chunk.objects.filter(
            organization_id=context.organization_id, sha256__in=batch
        ).values_list("sha256", "id", "size", "corrupt"):
            if not corrupt:
                rows[bytes(digest)] = (chunk_id, chunk_size)
    missing = []
    for digest in digests:
        if digest not in rows and digest.hex() not in missing:
            missing.append(digest.hex())
    if missing:
        raise ApiError(
            "missing_chunks",
            f"{len(missing)} chunk(s) of this manifest are not stored; upload them first: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else ""),
            field="chunks",
            missing=missing,
        )
    for index, (digest, declared) in enumerate(zip(digests, declared_sizes, strict=True)):
        if rows[digest][1] != declared:
            raise ApiError(
                "size_mismatch",
                f"chunks[{index}] ({digest.hex()}) is {rows[digest][1]} bytes, not {declared}.",
                field=f"chunks[{index}].size",
            )
    ids = [rows[digest][0] for digest in digests]
    declared_sha = bytes.fromhex(sha256_hex)
    if not _manifest_known(context.organization_id, declared_sha, ids):
        try:
            actual = _hash_chunks(ids)
        except blobstore.BlobUnavailable as exc:
            raise storage_unavailable(exc)
        if actual != declared_sha:
            raise ApiError(
                "sha256_mismatch",
                f"The chunks hash to {actual.hex()}, not the declared sha256 {sha256_hex}.",
                status.HTTP_409_CONFLICT,
                field="sha256",
                actual=actual.hex(),
            )
    try:
        committed = commit_file(
            context,
            path,
            size=size,
            sha256=declared_sha,
            ids=ids,
            sizes=declared_sizes,
            content_type=guess_content_type(path, content_type),
            profile_name=namespace_profile(context.namespace.id).name,
        )
    except ChunksGone as exc:
        by_id = {chunk_id: digest.hex() for digest, (chunk_id, _) in rows.items()}
        gone = sorted({by_id[chunk_id] for chunk_id in exc.ids if chunk_id in by_id})
        raise ApiError(
            "missing_chunks", "Some chunks were collected meanwhile; upload them again.", field="chunks", missing=gone
        )
    # Chunks that became referenced now are the ones this client had to upload; the rest never crossed the wire.
    uploaded = committed.added_bytes
    saved = max(0, size - uploaded)
    _add_totals(context.namespace.id, upload_bytes_saved=saved)
    count_usage(context, bytes_written=uploaded, dedup_bytes_saved=saved, upload_bytes_saved=saved)
    return committed, saved


def _manifest_known(organization_id, sha256, ids):
    """A file with this hash and exactly these chunks exists: the content is known, no need to re-hash."""
    encoded_ids = np.asarray(ids, dtype=np.int64)
    for blob in File.objects.filter(organization_id=organization_id, sha256=sha256).values_list("manifest", flat=True)[
        :5
    ]:
        known = manifests.decode(blob)["id"]
        if len(known) == len(encoded_ids) and np.array_equal(known, encoded_ids):
            return True
    return False


def _hash_chunks(ids):
    from dedup import selectors

    whole = hashlib.sha256()
    for data in selectors.iter_chunk_data(ids):
        whole.update(data)
    return whole.digest()


# --- Garbage collection --------------------------------------------------------------------

SMALL_PACK_BYTES = 4 * 1024 * 1024


def _true_refcounts(organization_id):
    """Mark: how many times every chunk is referenced by the organization's manifests."""
    arrays = [
        manifests.decode(blob)["id"]
        for blob in File.objects.filter(organization_id=organization_id).values_list("manifest", flat=True).iterator()
    ]
    arrays = [array for array in arrays if len(array)]
    if not arrays:
        return {}
    unique, counts = np.unique(np.concatenate(arrays), return_counts=True)
    return dict(zip(unique.tolist(), counts.tolist(), strict=True))


def _mark_and_sweep(organization_id, now, limit):
    report = {"refcounts_fixed": 0, "chunks_deleted": 0, "bytes_freed": 0}
    with transaction.atomic():
        storage = _lock_storage(organization_id)
        true = _true_refcounts(organization_id)
        garbage, stored = [], 0
        rows = Chunk.objects.filter(organization_id=organization_id).values_list(
            "id", "refcount", "size", "protected_until"
        )
        for chunk_id, refcount, size, protected_until in list(rows):
            expected = true.get(chunk_id, 0)
            if refcount != expected:
                # The counts are only a fast path; the manifests are the truth.
                log.warning("chunk %s refcount %s, manifests say %s: fixed", chunk_id, refcount, expected)
                fix = {"refcount": expected}
                if refcount > 0 and not expected:
                    # Freed only now: an upload may have found it referenced, as after a delete.
                    fix["protected_until"] = protected_until = max(protected_until, now + grace_period())
                Chunk.objects.filter(id=chunk_id).update(**fix)
                report["refcounts_fixed"] += 1
            if expected:
                stored += size
            elif protected_until < now and len(garbage) < limit:
                garbage.append((chunk_id, size))
        deleted = sql.delete_unreferenced([chunk_id for chunk_id, _ in garbage], now)
        report["chunks_deleted"] = len(deleted)
        report["bytes_freed"] = sum(size for _, size in deleted)
        storage.stored_bytes = stored
        storage.updated_at = now
        storage.save(update_fields=["stored_bytes", "updated_at"])
    return report


def _repack(organization_id, candidates, backend):
    """Copy the live chunks of `candidates` into new packs, repoint their rows, retire the old packs."""
    from dedup import selectors

    moved = 0
    builder = None
    pending = []  # (chunk id, old pack id, entry index in builder)

    def seal():
        nonlocal builder, pending, moved
        if builder is None:
            return
        builder.seal()
        with transaction.atomic():
            pack = Pack.objects.create(organization_id=organization_id, key=builder.key, size=builder.size)
            for chunk_id, old_pack_id, index in pending:
                _, _, stored_size, compression, offset = builder.entries[index]
                moved += Chunk.objects.filter(id=chunk_id, pack_id=old_pack_id).update(
                    pack=pack, offset=offset, stored_size=stored_size, compression=compression
                )
        builder, pending = None, []

    retired = []
    compressor = packs.Compressor()
    try:
        for old in candidates:
            rows = list(
                Chunk.objects.filter(pack=old, corrupt=False).order_by("offset").values_list("id", "sha256", "size")
            )
            try:
                datas = list(selectors.iter_chunk_data([chunk_id for chunk_id, _, _ in rows], backend=backend))
            except (packs.ChunkCorrupted, blobstore.BlobNotFound) as exc:
                log.error("pack %s not repacked: %s", old.key, exc)
                continue
            for (chunk_id, digest, _), data in zip(rows, datas, strict=True):
                if builder is None:
                    builder = packs.PackBuilder(backend, organization_id)
                payload, compression = compressor.encode(data)
                builder.add(bytes(digest), len(data), payload, compression)
                pending.append((chunk_id, old.id, len(builder.entries) - 1))
                if builder.full:
                    seal()
            retired.append(old)
        seal()
    except BaseException:
        if builder is not None:
            builder.abort()  # the unsealed pack's temporary file goes; sealed ones are already indexed
        raise
    now = timezone.now()
    for old in retired:
        if not Chunk.objects.filter(pack=old).exists():
            Pack.objects.filter(id=old.id).update(state=Pack.State.RETIRED, retired_at=now)
    return moved, len(retired)


def _collect_packs(organization_id, now, backend):
    from django.db.models import Sum

    report = {"packs_deleted": 0, "packs_repacked": 0, "chunks_moved": 0, "orphan_objects_deleted": 0}
    cutoff = now - grace_period()
    live_bytes = dict(
        Chunk.objects.filter(organization_id=organization_id)
        .values("pack_id")
        .annotate(live=Sum("stored_size"))
        .values_list("pack_id", "live")
    )
    chunk_counts = dict(
        Chunk.objects.filter(organization_id=organization_id)
        .values("pack_id")
        .annotate(n=models_count("id"))
        .values_list("pack_id", "n")
    )
    repack = []
    for pack in Pack.objects.filter(organization_id=organization_id):
        count = chunk_counts.get(pack.id, 0)
        if pack.state == Pack.State.RETIRED:
            # Retired a grace period ago: no reader can still hold its old locations.
            if count == 0 and pack.retired_at and pack.retired_at < cutoff:
                backend.delete(pack.key)
                pack.delete()
                report["packs_deleted"] += 1
            continue
        if count == 0:
            if pack.created_at < cutoff:
                backend.delete(pack.key)
                pack.delete()
                report["packs_deleted"] += 1
            continue
        live = live_bytes.get(pack.id, 0) + count * packs.HEADER_SIZE
        if live < pack.size * settings.DEDUP_REPACK_LIVE_RATIO or pack.size < SMALL_PACK_BYTES:
            repack.append(pack)
    # Rewriting a single small pack that is all live gains nothing.
    if len(repack) == 1 and repack[0].size < SMALL_PACK_BYTES:
        only = repack[0]
        live = live_bytes.get(only.id, 0) + chunk_counts.get(only.id, 0) * packs.HEADER_SIZE
        if live >= only.size * settings.DEDUP_REPACK_LIVE_RATIO:
            repack = []
    if repack:
        moved, retired = _repack(organization_id, repack, backend)
        report["chunks_moved"] = moved
        report["packs_repacked"] = retired
    # Pack objects made durable by an upload that crashed before its index rows were written.
    known = set(Pack.objects.filter(organization_id=organization_id).values_list("key", flat=True))
    for info in list(backend.list(packs.org_prefix(organization_id))):
        if info.key not in known and info.modified < cutoff:
            backend.delete(info.key)
            report["orphan_objects_deleted"] += 1
    return report


def models_count(name):
    from django.db.models import Count

    return Count(name)


def collect_garbage(organization_id, now=None, limit=100_000, backend=None):
    """One incremental GC pass for an organization: mark-and-sweep chunks, then packs."""
    now = now or timezone.now()
    backend = backend or blobstore.get_backend()
    report = {"organization_id": organization_id}
    report.update(_mark_and_sweep(organization_id, now, limit))
    report.update(_collect_packs(organization_id, now, backend))
    return report


def remove_stale_temporaries(now=None, backend=None):
    backend = backend or blobstore.get_backend()
    removed = 0
    for path in backend.stale_temporaries((now or timezone.now()) - grace_period()):
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def snapshot_storage(day=None, organization_ids=None):
    """Record what each namespace holds today (files, logical and stored bytes) in StorageDaily.

    Covers namespaces holding files, and those whose latest snapshot of the past week still showed
    files, so a namespace emptied since gets one zero row (and none after it). Re-running the same day overwrites
    that day's row. Returns the number of rows written.
    """
    from django.db import IntegrityError

    day = day or timezone.now().date()  # UTC: USE_TZ
    holding = File.objects.order_by()
    # The latest snapshot of each namespace in the last week (a bounded read of the history): those that
    # still showed files get today's row, zero if they were emptied.
    recent = StorageDaily.objects.filter(day__lt=day, day__gte=day - datetime.timedelta(days=7)).order_by("day")
    if organization_ids is not None:
        holding = holding.filter(organization_id__in=organization_ids)
        recent = recent.filter(organization_id__in=organization_ids)
    latest = {}
    for namespace_id, organization_id, files in recent.values_list("namespace_id", "organization_id", "files"):
        latest[namespace_id] = (organization_id, files)
    namespaces = set(holding.values_list("namespace_id", "organization_id").distinct())
    namespaces |= {(ns, org) for ns, (org, files) in latest.items() if files > 0}
    written = 0
    for namespace_id, organization_id in sorted(namespaces):
        files, logical, stored = selectors.namespace_storage(namespace_id)
        try:
            with transaction.atomic():
                StorageDaily.objects.update_or_create(
                    namespace_id=namespace_id,
                    day=day,
                    defaults={
                        "organization_id": organization_id,
                        "files": files,
                        "logical_bytes": logical,
                        "stored_bytes": stored,
                        "updated_at": timezone.now(),
                    },
                )
        except IntegrityError:
            continue  # the namespace was deleted meanwhile: nothing to record
        written += 1
    return written


def organizations_with_data():
    return sorted(set(Pack.objects.values_list("organization_id", flat=True).distinct()))


# --- Verification ----------------------------------------------------------------------------


def verify_organization(organization_id, backend=None):
    """Read and verify every chunk of an organization; check every manifest's chunks exist."""
    from dedup import selectors

    backend = backend or blobstore.get_backend()
    report = {
        "chunks_checked": 0,
        "bytes_checked": 0,
        "corrupt_chunks": [],
        "unreadable_packs": [],
        "files_with_missing_chunks": [],
    }
    for pack in Pack.objects.filter(organization_id=organization_id, state=Pack.State.LIVE).order_by("id"):
        ids = list(Chunk.objects.filter(pack=pack).order_by("offset").values_list("id", flat=True))
        for chunk_id in ids:
            try:
                for data in selectors.iter_chunk_data([chunk_id], backend=backend):
                    report["bytes_checked"] += len(data)
            except packs.ChunkCorrupted as exc:
                report["corrupt_chunks"].append(exc.digest.hex())
            except blobstore.BlobNotFound:
                report["unreadable_packs"].append(pack.key)
                break
            report["chunks_checked"] += 1
    existing = set(Chunk.objects.filter(organization_id=organization_id).values_list("id", flat=True))
    for path, blob in File.objects.filter(organization_id=organization_id).values_list("path", "manifest"):
        ids = set(manifests.decode(blob)["id"].tolist())
        if not ids <= existing:
            report["files_with_missing_chunks"].append(path)
    report["ok"] = not (report["corrupt_chunks"] or report["unreadable_packs"] or report["files_with_missing_chunks"])
    return report
