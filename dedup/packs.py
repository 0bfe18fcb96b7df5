"""Pack files: chunk payloads appended one after another, each behind a small self-describing header.

    header = b"ACK1" | sha256 (32) | raw size (u32) | stored size (u32) | compression (u8) | 3 pad bytes

The index (Chunk rows) points at payloads, so reads never parse headers; the headers let a pack be
re-indexed by hand if the database were ever lost. Pure module: no Django.
"""

import hashlib
import struct
import threading
import uuid

import zstandard

HEADER = struct.Struct("<4s32sIIB3x")
HEADER_SIZE = HEADER.size
MAGIC = b"ACK1"
NONE = 0
ZSTD = 1
PACK_TARGET_BYTES = 32 * 1024 * 1024
# Store compressed only when it saves at least this fraction.
MIN_COMPRESSION_GAIN = 0.10

# zstd contexts are not thread-safe: each Compressor owns one, and reads use one per thread.
_thread_state = threading.local()


def _decompressor():
    decompressor = getattr(_thread_state, "decompressor", None)
    if decompressor is None:
        decompressor = _thread_state.decompressor = zstandard.ZstdDecompressor()
    return decompressor


class ChunkCorrupted(Exception):
    def __init__(self, digest, message="chunk content does not match its digest"):
        super().__init__(f"{digest.hex()}: {message}")
        self.digest = digest


def pack_key(organization_id):
    return f"packs/o{organization_id}/{uuid.uuid4().hex}.pack"


def org_prefix(organization_id):
    return f"packs/o{organization_id}/"


class Compressor:
    """zstd per chunk when it pays; stops trying on incompressible streams and re-probes now and then."""

    PROBE_EVERY = 32

    def __init__(self):
        self.misses = 0
        self.seen = 0
        self._zstd = zstandard.ZstdCompressor(level=1)

    def encode(self, data):
        self.seen += 1
        if self.misses >= 4 and self.seen % self.PROBE_EVERY:
            return data, NONE
        packed = self._zstd.compress(data)
        if len(packed) <= len(data) * (1 - MIN_COMPRESSION_GAIN):
            self.misses = 0
            return packed, ZSTD
        self.misses += 1
        return data, NONE


class PackBuilder:
    """Appends chunks to one pack through a backend writer; `seal()` makes it durable."""

    def __init__(self, backend, organization_id):
        self.key = pack_key(organization_id)
        self.writer = backend.open_writer(self.key)
        self.size = 0
        self.entries = []  # (digest, raw size, stored size, compression, payload offset)

    def add(self, digest, raw_size, payload, compression):
        header = HEADER.pack(MAGIC, digest, raw_size, len(payload), compression)
        self.writer.write(header)
        self.writer.write(payload)
        offset = self.size + HEADER_SIZE
        self.size += HEADER_SIZE + len(payload)
        self.entries.append((digest, raw_size, len(payload), compression, offset))

    @property
    def full(self):
        return self.size >= PACK_TARGET_BYTES

    def seal(self):
        self.writer.commit()

    def abort(self):
        self.writer.abort()


def decode_payload(digest, payload, compression, raw_size):
    """Raw bytes of a chunk, verified against its digest (every read goes through here)."""
    if compression == ZSTD:
        try:
            data = _decompressor().decompress(payload, max_output_size=raw_size)
        except zstandard.ZstdError as exc:
            raise ChunkCorrupted(digest, f"cannot decompress: {exc}") from exc
    else:
        data = payload
    if len(data) != raw_size or hashlib.sha256(data).digest() != digest:
        raise ChunkCorrupted(digest)
    return data
