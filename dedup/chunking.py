"""Content-defined chunking profiles and streaming cutters (pure Python + the compiled FastCDC; no Django).

A profile is named and versioned: once files are stored with "small-v1" its cut points must never
change, because the client (clients/python/agentcache/chunking.py) cuts with the same numbers and the
test vectors in tests/dedup/test_chunking.py freeze them. A new tuning gets a new name.

The cutter is pyfastcdc's Cython FastCDC-2020 (gear hash, normalized chunking level 1, its default gear
table). Its cut for a chunk starting at offset s depends only on bytes s .. s+max_size, so a stream can be
cut block by block: a chunk is final once max_size bytes follow its start (or the stream has ended).
"""

import hashlib
from dataclasses import dataclass

from pyfastcdc import FastCDC

KiB = 1024
MiB = 1024 * KiB

READ_BLOCK = 8 * MiB


@dataclass(frozen=True)
class ChunkingProfile:
    name: str
    min_size: int
    avg_size: int
    max_size: int
    normalized_chunking: int = 1

    @property
    def version(self):
        """The number after "-v" in the name: a new tuning is a new name, never new numbers for an old one."""
        return int(self.name.rsplit("-v", 1)[1])

    def describe(self):
        """What a client needs to cut exactly where the server does (GET /api/dedup/config)."""
        return {
            "name": self.name,
            "version": self.version,
            "algorithm": "fastcdc-2020",
            "min_size": self.min_size,
            "avg_size": self.avg_size,
            "max_size": self.max_size,
            "normalized_chunking": self.normalized_chunking,
            "chunk_hash": "sha256",
        }

    def cutter(self):
        return FastCDC(
            self.avg_size,
            min_size=self.min_size,
            max_size=self.max_size,
            normalized_chunking=self.normalized_chunking,
        )


# Sizes chosen from benchmarks/dedup.py on the firmware corpus (README.md, "Dedup file store", has the table).
PROFILES = {
    "small-v1": ChunkingProfile("small-v1", min_size=4 * KiB, avg_size=16 * KiB, max_size=64 * KiB),
    "large-v1": ChunkingProfile("large-v1", min_size=256 * KiB, avg_size=1 * MiB, max_size=4 * MiB),
}
DEFAULT_PROFILE = "small-v1"
MAX_CHUNK_SIZE = max(profile.max_size for profile in PROFILES.values())


def get_profile(name):
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown chunking profile {name!r}; known: {', '.join(sorted(PROFILES))}.") from None


def compiled_cutter_in_use():
    """True when FastCDC is the Cython extension, not pyfastcdc's pure-Python fallback."""
    return FastCDC.__module__.startswith("pyfastcdc.cy")


def cut_buffer(profile, data):
    """Chunk lengths of an in-memory buffer."""
    return [chunk.length for chunk in profile.cutter().cut_buf(memoryview(data))]


def iter_blocks(read, block_size=READ_BLOCK):
    """Yield non-empty blocks from a read(n) callable until it returns b""."""
    while True:
        block = read(block_size)
        if not block:
            return
        yield block


def iter_windows(profile, read, on_block=None):
    """Cut a stream read with read(n); yields, per window of up to ~12 MiB, the list of final chunks as
    memoryviews into one reused buffer. The views are valid only until the next window is requested,
    so consumers hash/store them first. Reusing the buffer avoids re-allocating (and page-faulting)
    fresh memory for every block, which otherwise costs more than the cutting itself.

    on_block(data) sees every block read, in order (e.g. to feed a whole-file hash).
    """
    for pieces, _ in iter_windows_with_bytes(profile, read, on_block):
        yield pieces


def iter_windows_with_bytes(profile, read, on_block=None, readinto=None):
    """iter_windows, yielding (pieces, window): `window` is every byte read but not yet consumed by an
    earlier window (the pieces, then the not yet final tail), valid as long as the pieces are.

    With `readinto` (a file's readinto), blocks are read straight into the buffer: no fresh bytes object
    per block, one copy less. on_block then sees views into the buffer, valid until the window is done."""
    cutter = profile.cutter()
    max_size = profile.max_size
    # The last, not yet final chunk of a window is cut again in the next one: a window several times
    # max_size keeps that re-scan small.
    capacity = max(READ_BLOCK, 4 * max_size) + max_size
    buffer = bytearray(capacity)
    view = memoryview(buffer)
    filled = 0
    eof = False
    while True:
        while not eof and filled < capacity:
            want = min(READ_BLOCK, capacity - filled)
            if readinto is not None:
                data = view[filled : filled + (readinto(view[filled : filled + want]) or 0)]
            else:
                data = read(want)
            if not data:
                eof = True
                break
            if on_block is not None:
                on_block(data)
            if readinto is None:
                view[filled : filled + len(data)] = data
            filled += len(data)
        if filled == 0:
            return
        window = view[:filled]
        pieces = []
        consumed = 0
        for chunk in cutter.cut_buf(window):
            if not eof and chunk.offset + max_size > filled:
                break  # not final yet: more bytes may move this cut
            pieces.append(chunk.data)
            consumed = chunk.offset + chunk.length
        yield pieces, window
        tail = filled - consumed
        if tail:
            view[:tail] = bytes(view[consumed:filled])
        filled = tail
        if eof and not filled:
            return


def iter_chunks(profile, blocks):
    """Chunks of a stream given as an iterable of byte blocks (views valid until the next one is taken)."""
    iterator = iter(blocks)
    pending = b""

    def read(size):
        nonlocal pending
        parts, have = [pending], len(pending)
        while have < size:
            block = next(iterator, None)
            if block is None:
                break
            parts.append(block)
            have += len(block)
        joined = b"".join(parts)
        pending = joined[size:]
        return joined[:size]

    for pieces in iter_windows(profile, read):
        yield from pieces


def chunk_digests(profile, data):
    """[(sha256 hex, length)] for a whole buffer: what the client sends in a manifest."""
    return [(hashlib.sha256(piece).hexdigest(), len(piece)) for piece in iter_chunks(profile, [bytes(data)])]
