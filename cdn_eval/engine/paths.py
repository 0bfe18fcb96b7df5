"""Paths by id, held in one numpy array instead of one Python string each.

A log's distinct paths are kept as UTF-8 bytes (`S`) while every path is ASCII, as unicode (`U`) once
one is not, and as Python strings (`object`) once one cannot be held exactly in a fixed-width array
(numpy drops trailing NULs) or is very long. A million-request log's 264k paths take about 6 MB as
bytes against about 19 MB as strings (and no heap of small objects left behind by the parser).
"""

from collections.abc import Sequence

import numpy as np

_RANK = {"S": 0, "U": 1, "O": 2}


def _convert(array, dtype):
    """array as dtype, where dtype's kind ranks at least as high as array's (S < U < O)."""
    if array.dtype == dtype:
        return array
    if array.dtype.kind == "S":
        array = array.astype(np.str_)  # ASCII only: decodes exactly
    return array.astype(dtype)


def common_dtype(a, b):
    kind = max(a.kind, b.kind, key=_RANK.__getitem__)
    if kind == "O":
        return np.dtype(object)
    width = max(a.itemsize // (4 if a.kind == "U" else 1), b.itemsize // (4 if b.kind == "U" else 1), 1)
    return np.dtype(f"{kind}{width}")


def as_array(paths):
    """One piece's distinct paths as the narrowest exact array: a U array (from the parser's table) that
    is all ASCII becomes S; a list becomes an object array."""
    if isinstance(paths, np.ndarray):
        if paths.dtype.kind == "U" and paths.size and paths.view(np.uint32).max() < 128:
            return paths.astype(f"S{max(1, paths.dtype.itemsize // 4)}")
        return paths
    array = np.empty(len(paths), dtype=object)
    array[:] = paths
    return array


class PathArray(Sequence):
    """A read-only sequence of paths (str) backed by one numpy array."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __len__(self):
        return int(self.array.shape[0])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return PathArray(self.array[index])
        value = self.array[index]
        return value.decode() if isinstance(value, bytes) else str(value)

    def take(self, ids):
        return PathArray(self.array[np.asarray(ids, dtype=np.int64)])

    def __repr__(self):
        return f"PathArray({len(self)} paths, {self.array.dtype})"


def take(paths, ids):
    """paths[ids] for a PathArray or a list."""
    if isinstance(paths, PathArray):
        return paths.take(ids)
    return [paths[i] for i in np.asarray(ids).tolist()]


class PathStore:
    """A growing PathArray: appended piece by piece, compared by id against a piece's paths."""

    def __init__(self):
        self.array = np.empty(1 << 12, dtype="S1")
        self.count = 0

    def __len__(self):
        return self.count

    def fit(self, values):
        """values (an array from as_array) converted to the store's dtype, widening the store if needed."""
        dtype = common_dtype(self.array.dtype, values.dtype)
        if dtype != self.array.dtype:
            self.array = _convert(self.array[: self.count], dtype)  # the spare room is not initialised
        return _convert(values, dtype)

    def extend(self, values):
        """values: already fitted."""
        end = self.count + values.shape[0]
        if end > self.array.shape[0]:
            grown = np.empty(max(end, 2 * self.array.shape[0]), dtype=self.array.dtype)
            grown[: self.count] = self.array[: self.count]
            self.array = grown
        self.array[self.count : end] = values
        self.count = end

    def get(self, ids):
        return self.array[ids]

    def finish(self):
        return PathArray(self.array[: self.count].copy())
