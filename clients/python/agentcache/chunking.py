"""Chunking profiles: the same numbers as the server's dedup/chunking.py (frozen by test vectors there)."""

import hashlib
from dataclasses import dataclass

from pyfastcdc import FastCDC


@dataclass(frozen=True)
class Profile:
    name: str
    min_size: int
    avg_size: int
    max_size: int
    normalized_chunking: int = 1

    def cutter(self):
        return FastCDC(
            self.avg_size,
            min_size=self.min_size,
            max_size=self.max_size,
            normalized_chunking=self.normalized_chunking,
        )


PROFILES = {
    "small-v1": Profile("small-v1", 4 * 1024, 16 * 1024, 64 * 1024),
    "large-v1": Profile("large-v1", 256 * 1024, 1024 * 1024, 4 * 1024 * 1024),
}


def chunk_file(path, profile):
    """(whole-file sha256 hex, size, [(sha256 hex, offset, length)]) of a local file (memory-mapped)."""
    import mmap
    import os

    size = os.path.getsize(path)
    if size == 0:
        return hashlib.sha256(b"").hexdigest(), 0, []
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            whole = hashlib.sha256(view).hexdigest()
            chunks = [
                (hashlib.sha256(chunk.data).hexdigest(), chunk.offset, chunk.length)
                for chunk in profile.cutter().cut_buf(view)
            ]
        finally:
            view.release()
    return whole, size, chunks


def chunk_bytes(data, profile):
    view = memoryview(data)
    return (
        hashlib.sha256(view).hexdigest(),
        len(data),
        [(hashlib.sha256(c.data).hexdigest(), c.offset, c.length) for c in profile.cutter().cut_buf(view)],
    )
