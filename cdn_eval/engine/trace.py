"""A parsed log as integer arrays: requests in time order, dense object ids, previous/next use."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Trace:
    obj: np.ndarray  # int64 object id per request, time order
    timestamps: np.ndarray  # int64 ms, non-decreasing
    osize: np.ndarray  # int64 bytes per object id
    paths: list  # path per object id (a path whose size changed has one id per size)
    prev: np.ndarray  # index of the previous request for the same object, -1 if first
    nxt: np.ndarray  # index of the next request for the same object, n_req if none

    @property
    def n_req(self):
        return int(self.obj.shape[0])

    @property
    def n_obj(self):
        return int(self.osize.shape[0])

    @property
    def req_size(self):
        return self.osize[self.obj]

    def slice(self, stop):
        """The first `stop` requests as a trace of their own (for train/test splits)."""
        obj = self.obj[:stop]
        return Trace(
            obj, self.timestamps[:stop], self.osize, self.paths, self.prev[:stop], np.minimum(self.nxt[:stop], stop)
        )


def uses(obj):
    """(prev, nxt) for every request from one stable sort by object id."""
    n = obj.shape[0]
    order = np.argsort(obj, kind="stable")
    same = obj[order[1:]] == obj[order[:-1]]
    prev = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, n, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    nxt[order[:-1][same]] = order[1:][same]
    return prev, nxt


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
    k_path = path_id[by_key]
    k_size = sizes[by_key]
    starts = np.ones(n, dtype=bool)
    starts[1:] = (k_path[1:] != k_path[:-1]) | (k_size[1:] != k_size[:-1])
    group = np.cumsum(starts) - 1
    obj = np.empty(n, dtype=np.int64)
    obj[by_key] = group
    first = by_key[starts]
    osize = sizes[first]
    paths_of = [path_names[i] for i in path_id[first].tolist()]
    prev, nxt = uses(obj)
    return Trace(obj=obj, timestamps=timestamps, osize=osize, paths=paths_of, prev=prev, nxt=nxt)


def from_columns(columns):
    return build_trace(columns.paths, columns.sizes, columns.timestamps, columns.path_ids, columns.names)


def from_ids(obj, osize, timestamps=None):
    """A trace straight from integer ids (tests and benchmarks)."""
    obj = np.asarray(obj, dtype=np.int64)
    osize = np.asarray(osize, dtype=np.int64)
    if timestamps is None:
        timestamps = np.arange(obj.shape[0], dtype=np.int64) * 1000
    prev, nxt = uses(obj)
    return Trace(
        obj, np.asarray(timestamps, dtype=np.int64), osize, [f"/obj/{i}" for i in range(osize.shape[0])], prev, nxt
    )
