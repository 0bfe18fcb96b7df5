"""The chunker: compiled, frozen cut points, stream == buffer, shift resistance."""

import hashlib
import inspect
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
