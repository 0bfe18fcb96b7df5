"""Compact manifests: ordered (chunk row id, raw size) pairs, 12 bytes per chunk (pure; numpy only)."""

import numpy as np

ENTRY = np.dtype([("id", "<i8"), ("size", "<u4")])


def encode(ids, sizes):
    entries = np.empty(len(ids), dtype=ENTRY)
    entries["id"] = ids
    entries["size"] = sizes
    return entries.tobytes()


def decode(blob):
    return np.frombuffer(bytes(blob), dtype=ENTRY)


def offsets(entries):
    """Start offset of every chunk in the file."""
    starts = np.zeros(len(entries), dtype=np.int64)
    if len(entries) > 1:
        np.cumsum(entries["size"][:-1], dtype=np.int64, out=starts[1:])
    return starts
