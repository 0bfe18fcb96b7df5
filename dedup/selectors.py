"""Reads of the dedup store: files, listings, chunk bytes (always verified), stats."""

import base64
import logging

import numpy as np

from dedup import blobstore, manifests, packs, sql
from dedup.models import Chunk, File, NamespaceTotals, StorageDaily

log = logging.getLogger(__name__)

READ_WINDOW = 256
MAX_READ_BYTES = 8 * 1024 * 1024  # one ranged read of adjacent chunks stays under this
LIST_PAGE = 100


def get_file(namespace_id, path):
    return File.objects.filter(namespace_id=namespace_id, path=path).first()


def chunk_id_for(organization_id, digest):
    return (
        Chunk.objects.filter(organization_id=organization_id, sha256=digest, corrupt=False)
        .values_list("id", flat=True)
        .first()
    )


def _chunk_rows(ids):
    return sql.read_rows(ids)


def _mark_corrupt(chunk_id):
    Chunk.objects.filter(id=chunk_id, corrupt=False).update(corrupt=True)


def iter_chunk_data(ids, backend=None):
    """Raw bytes of the given chunks in order, verified; adjacent payloads in one pack are read at once."""
    backend = backend or blobstore.get_backend()
    ids = [int(chunk_id) for chunk_id in ids]
    for start in range(0, len(ids), READ_WINDOW):
        window = ids[start : start + READ_WINDOW]
        rows = _chunk_rows(list(set(window)))
        run, run_bytes = [], 0
        for chunk_id in window:
            row = rows.get(chunk_id)
            if row is None:
                raise blobstore.BlobNotFound(f"chunk {chunk_id} is not indexed")
            if run:
                last = run[-1]
                contiguous = row[2] == last[2] and row[3] == last[3] + last[4] + packs.HEADER_SIZE
                if not contiguous or run_bytes >= MAX_READ_BYTES:
                    yield from _read_run(backend, run)
                    run, run_bytes = [], 0
            run.append(row)
            run_bytes += row[4]
        if run:
            yield from _read_run(backend, run)


def _read_run(backend, run):
    first, last = run[0], run[-1]
    blob = backend.read_range(first[2], first[3], last[3] + last[4] - first[3])
    view = memoryview(blob)
    for chunk_id, digest, _, offset, stored_size, compression, size in run:
        begin = offset - first[3]
        digest = bytes(digest)
        try:
            yield packs.decode_payload(digest, view[begin : begin + stored_size], compression, size)
        except packs.ChunkCorrupted:
            log.error("corrupted chunk %s in pack %s at %s", digest.hex(), first[2], offset)
            _mark_corrupt(chunk_id)
            raise


def iter_file_range(file, start, end):
    """Bytes start..end (inclusive) of a file, verified chunk by chunk."""
    entries = manifests.decode(file.manifest)
    if not len(entries) or end < start:
        return
    offsets = manifests.offsets(entries)
    first = int(np.searchsorted(offsets, start, side="right")) - 1
    last = int(np.searchsorted(offsets, end, side="right")) - 1
    position = int(offsets[first])
    for data in iter_chunk_data(entries["id"][first : last + 1].tolist()):
        chunk_end = position + len(data)
        lo = max(start - position, 0)
        hi = min(end + 1, chunk_end) - position
        piece = data[lo:hi] if (lo or hi != len(data)) else data
        if piece:
            yield bytes(piece) if isinstance(piece, memoryview) else piece
        position = chunk_end


def manifest_chunks(file):
    """[{"sha256", "size"}] in file order."""
    entries = manifests.decode(file.manifest)
    ids = entries["id"].tolist()
    digests = {}
    for start in range(0, len(ids), 2000):
        for chunk_id, digest in Chunk.objects.filter(id__in=ids[start : start + 2000]).values_list("id", "sha256"):
            digests[chunk_id] = bytes(digest).hex()
    return [
        {"sha256": digests.get(chunk_id), "size": int(size)}
        for chunk_id, size in zip(ids, entries["size"].tolist(), strict=True)
    ]


def encode_cursor(path):
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def decode_cursor(cursor):
    padded = cursor + "=" * (-len(cursor) % 4)
    return base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()


def list_files(namespace_id, prefix="", after=None, limit=LIST_PAGE):
    """One page of files ordered by path; returns (rows, next cursor or None)."""
    query = File.objects.filter(namespace_id=namespace_id)
    if prefix:
        query = query.filter(path__startswith=prefix)
    if after is not None:
        query = query.filter(path__gt=after)
    rows = list(query.order_by("path").values("path", "size", "sha256", "updated_at", "content_type")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]["path"]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def namespace_storage(namespace_id):
    """(files, logical bytes, stored bytes): stored = distinct chunks the namespace's files reference.
    One query, so the three figures describe the same moment."""
    files = logical = 0
    ids, sizes = [], []
    rows = File.objects.filter(namespace_id=namespace_id).values_list("size", "manifest").iterator()
    for size, blob in rows:
        files += 1
        logical += size
        entries = manifests.decode(blob)
        ids.append(entries["id"])
        sizes.append(entries["size"])
    stored = 0
    if ids:
        all_ids = np.concatenate(ids)
        all_sizes = np.concatenate(sizes).astype(np.int64)
        _, first = np.unique(all_ids, return_index=True)
        stored = int(all_sizes[first].sum())
    return files, logical, stored


def storage_days(namespace_id, since):
    """Daily snapshots of what the namespace held, oldest first (dedup.services.snapshot_storage)."""
    return [
        {
            "date": row.day.isoformat(),
            "files": row.files,
            "logical_bytes": row.logical_bytes,
            "stored_bytes": row.stored_bytes,
            "dedup_ratio": row.dedup_ratio,
        }
        for row in StorageDaily.objects.filter(namespace_id=namespace_id, day__gte=since).order_by("day")
    ]


def namespace_totals(namespace_id):
    totals = NamespaceTotals.objects.filter(pk=namespace_id).first()
    return totals or NamespaceTotals(namespace_id=namespace_id)
