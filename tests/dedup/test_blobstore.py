"""The local pack writer: bytes land in order across its staging buffers, and disk errors surface."""

import errno

import pytest

from dedup import blobstore
from tests.dedup.conftest import random_bytes


def local_backend(blob_root):
    return blobstore.LocalBackend(blob_root)


def test_pack_bytes_come_back_identical_across_staging_buffers(blob_root):
    backend = local_backend(blob_root)
    size = blobstore.LocalPackWriter.BUFFER_BYTES
    # Pieces smaller than, equal to and larger than one staging buffer, so every copy path is used.
    pieces = [random_bytes(n, seed=i) for i, n in enumerate([57, size - 57, size, 3 * size + 11, 1, 40_000])]
    writer = backend.open_writer("packs/o1/roundtrip.pack")
    for piece in pieces:
        writer.write(piece)
    writer.commit()

    offset = 0
    for piece in pieces:
        assert backend.read_range("packs/o1/roundtrip.pack", offset, len(piece)) == piece
        offset += len(piece)
    assert (blob_root / "packs/o1/roundtrip.pack").stat().st_size == offset
    assert not list((blob_root / "tmp").iterdir())


class FullDisk:
    """Stands in for the pack's file: every write fails as a full disk would."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def fileno(self):
        return self.real.fileno()

    def close(self):
        self.real.close()


def test_a_disk_error_in_the_writer_thread_fails_the_pack_and_leaves_nothing(blob_root):
    backend = local_backend(blob_root)
    writer = backend.open_writer("packs/o1/full.pack")
    writer.file = writer.drain.file = FullDisk(writer.file)
    with pytest.raises(blobstore.BlobUnavailable, match="No space left"):
        for _ in range(4):  # the failure is noticed at a later write or at commit, never lost
            writer.write(random_bytes(blobstore.LocalPackWriter.BUFFER_BYTES, seed=5))
        writer.commit()
    assert not (blob_root / "packs/o1/full.pack").exists()
    assert not list((blob_root / "tmp").iterdir())


class ClosedUnderneath(FullDisk):
    """A failure that is not an OSError (here: the file object closed under the writer)."""

    def write(self, data):
        raise ValueError("I/O operation on closed file")


def test_any_failure_in_the_writer_thread_fails_the_pack_instead_of_saving_it_short(blob_root):
    backend = local_backend(blob_root)
    writer = backend.open_writer("packs/o1/short.pack")
    writer.file = writer.drain.file = ClosedUnderneath(writer.file)
    writer.write(random_bytes(1000, seed=6))  # one partly filled buffer: the failure is only seen at commit
    with pytest.raises(blobstore.BlobUnavailable, match="closed file"):
        writer.commit()
    assert not (blob_root / "packs/o1/short.pack").exists()
    assert not list((blob_root / "tmp").iterdir())


def test_a_closed_writer_refuses_more_work_with_a_storage_error(blob_root):
    writer = local_backend(blob_root).open_writer("packs/o1/closed.pack")
    writer.write(b"abc")
    writer.abort()
    writer.abort()  # twice is harmless
    with pytest.raises(blobstore.BlobUnavailable):
        writer.write(b"more")
    with pytest.raises(blobstore.BlobUnavailable):
        writer.commit()
    assert not (blob_root / "packs/o1/closed.pack").exists()


def test_an_abandoned_writer_stops_its_thread(blob_root):
    import gc

    writer = local_backend(blob_root).open_writer("packs/o1/abandoned.pack")
    writer.write(b"never committed")
    thread = writer.thread
    del writer
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
