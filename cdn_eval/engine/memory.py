"""Giving freed memory back to the operating system between the evaluation's stages (glibc only).

An evaluation allocates and frees arrays of tens of MB one after another. glibc's malloc raises its
mmap threshold each time such an array is freed (up to 32 MiB), after which arrays of that size come
from the heap, and a heap gives back memory only from its top: a process's peak resident memory then
includes many arrays that were already freed. Fixing the threshold (arrays of 4 MiB and more get their
own mapping, returned on free) and trimming the heap after each stage keeps the peak to what is alive.
The threshold is 4 MiB, not less: the simulators' per-object arrays (a few MB each, allocated anew by
each of the ~100 runs) then come from the heap and reuse its pages; at 1 MiB every run faulted in
fresh zeroed pages and a 1M-request evaluation took about 1 s longer for the same peak.
Elsewhere (musl, macOS) both are no-ops.
"""

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 4 << 20

_libc = None
_tuned = False


def _glibc():
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt  # noqa: B018 (present on glibc)
            libc.malloc_trim  # noqa: B018
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc


def keep_large_arrays_mapped():
    """Once per process: allocations of 4 MiB and more get their own mapping, given back when freed.

    Process-wide and permanent (glibc stops adapting its threshold), so only processes that exist to
    evaluate call it: the Celery job and the cdn_evaluate command. A web worker, whose uploads reuse
    8 MiB buffers from the heap, keeps glibc's default."""
    global _tuned
    libc = _glibc()
    if libc and not _tuned:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        _tuned = True


def release():
    """Return the heap's free pages to the operating system (a few ms)."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
