"""A parsed log as integer arrays: requests in time order, dense object ids, previous/next use."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import kernels
from .paths import take as take_paths


@dataclass
class Trace:
    obj: np.ndarray  # int64 object id per request, time order
    timestamps: np.ndarray  # int64 ms, non-decreasing
    osize: np.ndarray  # int64 bytes per object id
    paths: Sequence  # path (str) per object id: a list or a paths.PathArray (a size change: one id per size)
    nxt: np.ndarray  # index of the next request for the same object, n_req if none

    @property
    def n_req(self):
        return int(self.obj.shape[0])

    @property
    def n_obj(self):
        return int(self.osize.shape[0])

    @property
    def prev(self):
        """Index of the previous request for the same object, -1 if first: derived from nxt when asked
        (nothing in the evaluation needs it kept)."""
        n = self.n_req
        prev = np.full(n, -1, dtype=np.int64)
        has_next = np.flatnonzero(self.nxt < n)
        prev[self.nxt[has_next]] = has_next
        return prev

    @property
    def req_size(self):
        return self.osize[self.obj]

    def slice(self, stop):
        """The first `stop` requests as a trace of their own (for train/test splits)."""
        obj = self.obj[:stop]
        return Trace(obj, self.timestamps[:stop], self.osize, self.paths, np.minimum(self.nxt[:stop], stop))


def next_uses(obj):
    """For every request, the index of the next request for the same object (n_req if none), in one
    compiled pass (no sort, no temporaries the size of the trace)."""
    obj = np.ascontiguousarray(obj, dtype=np.int64)
    if obj.shape[0] == 0:
        return np.zeros(0, np.int64)
    return kernels.next_use(obj, int(obj.max()) + 1)


def build_trace(paths, sizes, timestamps, path_ids=None, names=None):
    """Sort by time (stable, so equal timestamps keep log order) and map (path, size) to object ids.

    Paths come either as one string per request or already interned (path_ids into names)."""
    timestamps = np.asarray(timestamps, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    n = int(sizes.shape[0])
    if path_ids is None:
        ids = dict.fromkeys(paths)  # first-seen order, built at C speed
        for number, path in enumerate(ids):
            ids[path] = number
        path_id = np.fromiter(map(ids.__getitem__, paths), dtype=np.int64, count=n)
        path_names = list(ids)
    else:
        path_id = np.asarray(path_ids, dtype=np.int64)
        path_names = names
    if n > 1 and (np.diff(timestamps) < 0).any():
        order = np.argsort(timestamps, kind="stable")
        timestamps = timestamps[order]
        sizes = sizes[order]
        path_id = path_id[order]
    # a path seen with a new size is a new object version; ids in order of first (path, size) group
    by_key = np.lexsort((sizes, path_id))
    starts = np.ones(n, dtype=bool)
    k_path = path_id[by_key]
    starts[1:] = k_path[1:] != k_path[:-1]
    del k_path
    k_size = sizes[by_key]
    starts[1:] |= k_size[1:] != k_size[:-1]
    del k_size
    group = np.cumsum(starts)
    group -= 1
    obj = np.empty(n, dtype=np.int64)
    obj[by_key] = group
    del group
    first = by_key[starts]
    del by_key, starts
    osize = sizes[first]
    paths_of = take_paths(path_names, path_id[first])
    del sizes, path_id, first
    return Trace(obj=obj, timestamps=timestamps, osize=osize, paths=paths_of, nxt=next_uses(obj))


def from_columns(columns):
    return build_trace(columns.paths, columns.sizes, columns.timestamps, columns.path_ids, columns.names)


def from_ids(obj, osize, timestamps=None):
    """A trace straight from integer ids (tests and benchmarks)."""
    obj = np.asarray(obj, dtype=np.int64)
    osize = np.asarray(osize, dtype=np.int64)
    if timestamps is None:
        timestamps = np.arange(obj.shape[0], dtype=np.int64) * 1000
    return Trace(
        obj, np.asarray(timestamps, dtype=np.int64), osize, [f"/obj/{i}" for i in range(osize.shape[0])], next_uses(obj)
    )
