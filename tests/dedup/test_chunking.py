"""The chunker: compiled, frozen cut points, stream == buffer, shift resistance."""

import hashlib
import inspect
import io
import itertools
import random

import pytest

from dedup import chunking

# Frozen: if these change, stored files and the Python client would stop agreeing on cut points.
VECTOR_SEED = 20261125
SMALL_V1_CUTS = [
    14155,
    37890,
    6880,
    17917,
    16886,
    24645,
    25618,
    8640,
    8041,
    18983,
    20080,
    43396,
    19695,
    18387,
    10084,
    6596,
    7088,
    16740,
    17385,
    17793,
    17318,
    21822,
    3961,
]
SMALL_V1_FIRST_DIGEST = "670b1e0e57d4dff432fb4f9e550da2d94a1d414a878ab4a29079b12b9f452d32"
LARGE_V1_CUTS = [1468324, 1461601, 2101895, 2372604, 584797, 2072561, 1382737, 1138393]


def test_compiled_fastcdc_is_in_use():
    assert chunking.compiled_cutter_in_use()
    source = inspect.getfile(chunking.FastCDC)
    assert source.endswith(".so"), source


def test_small_profile_vector():
    data = random.Random(VECTOR_SEED).randbytes(400_000)
    profile = chunking.PROFILES["small-v1"]
    assert chunking.cut_buffer(profile, data) == SMALL_V1_CUTS
    assert chunking.chunk_digests(profile, data)[0] == (SMALL_V1_FIRST_DIGEST, SMALL_V1_CUTS[0])


def test_large_profile_vector():
    data = random.Random(VECTOR_SEED).randbytes(12 * 1024 * 1024)
    assert chunking.cut_buffer(chunking.PROFILES["large-v1"], data) == LARGE_V1_CUTS


@pytest.mark.parametrize("block", [1, 4096, 65537, 1 << 20])
def test_streaming_cuts_equal_whole_buffer_cuts(block):
    data = random.Random(block).randbytes(1_500_000)
    profile = chunking.PROFILES["small-v1"]
    if block == 1:
        data = data[:200_000]
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    assert [len(c) for c in chunking.iter_chunks(profile, blocks)] == chunking.cut_buffer(profile, data)


def test_an_early_insertion_leaves_later_chunks_unchanged():
    profile = chunking.PROFILES["small-v1"]
    original = random.Random(5).randbytes(2_000_000)
    edited = original[:1000] + b"inserted bytes" + original[1000:]
    before = {d for d, _ in chunking.chunk_digests(profile, original)}
    after = [d for d, _ in chunking.chunk_digests(profile, edited)]
    changed = [d for d in after if d not in before]
    assert len(changed) <= 2
    assert hashlib.sha256(edited).digest() != hashlib.sha256(original).digest()


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError):
        chunking.get_profile("tiny-v0")


def test_the_python_client_cuts_at_the_same_points():
    from agentcache import chunking as client_chunking

    data = random.Random(VECTOR_SEED).randbytes(400_000)
    whole, size, chunks = client_chunking.chunk_bytes(data, client_chunking.PROFILES["small-v1"])
    assert [length for _, _, length in chunks] == SMALL_V1_CUTS
    assert chunks[0][0] == SMALL_V1_FIRST_DIGEST and size == len(data)
    big = random.Random(VECTOR_SEED).randbytes(12 * 1024 * 1024)
    _, _, big_chunks = client_chunking.chunk_bytes(big, client_chunking.PROFILES["large-v1"])
    assert [length for _, _, length in big_chunks] == LARGE_V1_CUTS
    for name, profile in chunking.PROFILES.items():
        mine = client_chunking.PROFILES[name]
        assert (mine.min_size, mine.avg_size, mine.max_size, mine.normalized_chunking) == (
            profile.min_size,
            profile.avg_size,
            profile.max_size,
            profile.normalized_chunking,
        )


class ShortReads:
    """A stream whose reads return fewer bytes than asked, in odd sizes (sockets and pipes do that)."""

    def __init__(self, data, sizes):
        self.data = memoryview(data)
        self.sizes = sizes
        self.position = 0
        self.calls = 0

    def _take(self, want):
        size = min(want, self.sizes[self.calls % len(self.sizes)], len(self.data) - self.position)
        self.calls += 1
        piece = self.data[self.position : self.position + size]
        self.position += size
        return piece

    def read(self, want):
        return bytes(self._take(want))

    def readinto(self, target):
        piece = self._take(len(target))
        target[: len(piece)] = piece
        return len(piece)


def stream_cuts(profile, data, sizes, use_readinto):
    """(chunk lengths, stream offsets where each window but the last ends) as the store cuts them."""
    source = ShortReads(data, sizes)
    lengths, boundaries, window_start = [], [], 0
    if use_readinto:
        windows = chunking.iter_windows_with_bytes(profile, None, readinto=source.readinto)
    else:
        windows = chunking.iter_windows_with_bytes(profile, source.read)
    for pieces, window in windows:
        boundaries.append(window_start + len(window))  # the buffer ends here: later bytes are not read yet
        lengths += [len(piece) for piece in pieces]
        window_start += sum(len(piece) for piece in pieces)
    assert source.position == len(data)
    return lengths, boundaries[:-1]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(chunking.PROFILES))
@pytest.mark.parametrize("use_readinto", [False, True], ids=["read", "readinto"])
def test_streamed_cuts_equal_whole_buffer_cuts_across_window_boundaries(name, use_readinto):
    """Content several windows long, edited right at the window boundary: every cut of the streamed,
    windowed cutter (odd, short reads) equals pyfastcdc's cut of the whole buffer."""
    profile = chunking.PROFILES[name]
    rng = random.Random(f"window-{name}")
    # One window holds max(READ_BLOCK, 4 * max_size) + max_size bytes (8 MiB + 64 KiB, 20 MiB); measure it.
    window = len(next(chunking.iter_windows_with_bytes(profile, io.BytesIO(bytes(64 * chunking.MiB)).read))[1])
    assert window > 4 * profile.max_size
    original = rng.randbytes(2 * window + window // 2)
    # Edits straddling the first window boundary and just inside the second one: an insertion, a cut
    # (deletion) and an overwrite, each within max_size of a boundary, where a not-yet-final chunk is carried.
    edited = bytearray(original)
    edited[2 * window - 100 : 2 * window + 100] = rng.randbytes(200)  # overwrite across the second boundary
    del edited[window + 10 : window + 10 + profile.min_size + 7]  # cut just after the first boundary
    edited[window - 3 : window - 3] = rng.randbytes(profile.max_size // 3 + 1)  # insert straddling it
    edited = bytes(edited)
    odd_sizes = [1_000_003, 7, 65_537, 333_331, 4097, 2 * chunking.MiB + 1]
    for data in (original, edited):
        expected = chunking.cut_buffer(profile, data)  # pyfastcdc on the whole buffer
        lengths, boundaries = stream_cuts(profile, data, odd_sizes, use_readinto)
        assert lengths == expected
        assert sum(lengths) == len(data)
        assert len(boundaries) >= 2  # really streamed in several windows
        # Chunks span the window boundaries (the cutter carried them into the next window).
        ends = set(itertools.accumulate(expected))
        assert all(boundary not in ends for boundary in boundaries)
    # The edits stay local across the boundaries: two edited regions, each costing at most two new chunks.
    before = {d for d, _ in chunking.chunk_digests(profile, original)}
    new_bytes = sum(size for digest, size in chunking.chunk_digests(profile, edited) if digest not in before)
    assert 0 < new_bytes <= 4 * profile.max_size
