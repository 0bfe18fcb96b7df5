"""Blob backends for pack files: one small interface, a local folder (default) and S3-compatible storage.

A pack is written through `open_writer(key)`: bytes are appended to a temporary file, and `commit()`
makes the pack durable under its final key (local: fsync + rename + fsync of the directory; S3: the
PUT returned). Nothing is visible under the final key before that, so a crash leaves at most a
temporary file or an unreferenced pack, both removed by the garbage collector after the grace period.

Every failure to reach the storage is raised as BlobUnavailable, which the API turns into a 503.
"""

import datetime
import os
import queue
import tempfile
import threading
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


class BlobUnavailable(Exception):
    """The blob storage could not be reached or refused the operation."""


class BlobNotFound(BlobUnavailable):
    pass


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: datetime.datetime


class _DiskDrain:
    """The writer thread's side of a LocalPackWriter: full buffers in, free buffers out.

    It holds no reference to its LocalPackWriter, so a writer dropped without commit() or abort() (a bug
    or an unexpected exception in a caller) is garbage-collected, and its finalizer stops this thread.
    """

    KICK_EVERY = 4 * 1024 * 1024

    def __init__(self, file, buffers):
        self.file = file
        self.full = queue.SimpleQueue()
        self.free = queue.SimpleQueue()
        for buffer in buffers:
            self.free.put(buffer)
        self.error = None
        self.written = 0
        self.kicked = 0

    def run(self):
        while True:
            item = self.full.get()
            if item is None:
                return
            buffer, used = item
            try:
                if self.error is None:
                    self._write_out(memoryview(buffer)[:used])
            except BaseException as exc:  # noqa: BLE001 - any failure fails the pack, never silently
                self.error = exc
            finally:
                self.free.put(buffer)

    def _write_out(self, view):
        while view:
            count = self.file.write(view)
            self.written += count
            view = view[count:]
        if self.written - self.kicked >= self.KICK_EVERY and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.file.fileno(), self.kicked, self.written - self.kicked, os.POSIX_FADV_DONTNEED)
            self.kicked = self.written


class LocalPackWriter:
    """Appends to a temporary file from a helper thread, so hashing and cutting go on while the disk writes.

    Writes are copied into a few large staging buffers; a full buffer goes to the writer thread and the
    caller takes a free one (waiting only when the disk is more than two buffers behind). Measured on the
    benchmark disk: once its write-back cache is full, write() blocks for as long as the disk needs, and
    doing that in the request thread cost a third of the ingest time. The writer also asks the kernel to
    start write-back every few MiB, so the final fsync has little left to wait for. commit() makes the
    pack durable only if every byte written reached the file.
    """

    BUFFER_BYTES = 4 * 1024 * 1024
    BUFFERS = 3

    def __init__(self, backend, key):
        self.backend = backend
        self.key = key
        self.size = 0
        self.closed = False
        tmp_dir = backend.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_path = tmp_dir / f"{uuid.uuid4().hex}.tmp"
            self.file = open(self.tmp_path, "wb", buffering=0)  # noqa: SIM115 - closed in commit/abort
        except OSError as exc:
            raise BlobUnavailable(f"cannot create a pack in {backend.root}: {exc}") from exc
        self.drain = _DiskDrain(self.file, [_staging_buffer(self.BUFFER_BYTES) for _ in range(self.BUFFERS)])
        self.current = self.drain.free.get()
        self.used = 0
        self.thread = threading.Thread(target=self.drain.run, name="pack-writer", daemon=True)
        self.thread.start()
        # Stops the thread if the writer is dropped unfinished; not at interpreter exit (a writer may be in use).
        weakref.finalize(self, self.drain.full.put, None).atexit = False

    def write(self, data):
        if self.closed:
            raise BlobUnavailable(f"pack {self.key} was already closed")
        if self.drain.error is not None:
            error = self.drain.error
            self.abort()
            raise BlobUnavailable(f"cannot write pack: {error}")
        view = memoryview(data).cast("B")
        self.size += len(view)
        while view:
            count = min(self.BUFFER_BYTES - self.used, len(view))
            self.current[self.used : self.used + count] = view[:count]
            self.used += count
            view = view[count:]
            if self.used == self.BUFFER_BYTES:
                self.drain.full.put((self.current, self.used))
                self.current = self.drain.free.get()  # back-pressure: waits while the disk is behind
                self.used = 0

    def _finish_thread(self):
        """Hand over what is left, stop the thread and give the buffers back to the pool."""
        if self.thread is None:
            return
        if self.used:
            self.drain.full.put((self.current, self.used))  # comes back through the free queue
            self.used = 0
        elif self.current is not None:
            _release_staging_buffer(self.current)
        self.drain.full.put(None)
        self.thread.join()
        self.thread = None
        self.current = None
        while True:
            try:
                _release_staging_buffer(self.drain.free.get_nowait())
            except queue.Empty:
                break

    def commit(self):
        if self.closed:
            raise BlobUnavailable(f"pack {self.key} was already closed")
        final = self.backend.path_for(self.key)
        try:
            self._finish_thread()
            if self.drain.error is not None:
                raise OSError(f"{self.drain.error}")
            if self.drain.written != self.size:
                raise OSError(f"only {self.drain.written} of {self.size} bytes reached the file")
            os.fsync(self.file.fileno())
            self.file.close()
            self.closed = True
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.tmp_path, final)
            dir_fd = os.open(final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.abort()
            raise BlobUnavailable(f"cannot make pack durable: {exc}") from exc

    def abort(self):
        self.used = 0
        self._finish_thread()
        self.closed = True
        try:
            self.file.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp_path)
        except OSError:
            pass


# Staging buffers are reused across packs: fresh ones would be page-faulted in for every pack. The pool
# keeps enough for two concurrent uploads per process (24 MiB); more are allocated and dropped as needed.
_staging_pool = queue.SimpleQueue()
_STAGING_POOL_MAX = 2 * LocalPackWriter.BUFFERS


def _staging_buffer(size):
    try:
        buffer = _staging_pool.get_nowait()
    except queue.Empty:
        return bytearray(size)
    return buffer if len(buffer) == size else bytearray(size)


def _release_staging_buffer(buffer):
    if _staging_pool.qsize() < _STAGING_POOL_MAX:
        _staging_pool.put(buffer)


class LocalBackend:
    kind = "local"

    def __init__(self, root):
        self.root = Path(root)

    def path_for(self, key):
        return self.root / key

    def open_writer(self, key):
        return LocalPackWriter(self, key)

    def read_range(self, key, offset, length):
        try:
            with open(self.path_for(key), "rb", buffering=0) as handle:
                data = os.pread(handle.fileno(), length, offset)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"pack {key} is missing") from exc
        except OSError as exc:
            raise BlobUnavailable(f"cannot read pack {key}: {exc}") from exc
        if len(data) != length:
            raise BlobNotFound(f"pack {key} is shorter than its index says")
        return data

    def delete(self, key):
        try:
            os.unlink(self.path_for(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise BlobUnavailable(f"cannot delete {key}: {exc}") from exc

    def list(self, prefix):
        base = self.root / prefix
        if not base.exists():
            return
        for path in base.rglob("*"):
            if path.is_file():
                stat = path.stat()
                yield BlobInfo(
                    key=str(path.relative_to(self.root)),
                    size=stat.st_size,
                    modified=datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC),
                )

    def stale_temporaries(self, older_than):
        """Temporary pack files left by a crash before commit."""
        tmp_dir = self.root / "tmp"
        if not tmp_dir.exists():
            return []
        cutoff = older_than.timestamp()
        return [path for path in tmp_dir.iterdir() if path.stat().st_mtime < cutoff]

    def check(self):
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise BlobUnavailable(f"{self.root} is not writable")
        except OSError as exc:
            raise BlobUnavailable(str(exc)) from exc


class S3PackWriter:
    def __init__(self, backend, key):
        self.backend = backend
        self.key = key
        self.size = 0
        # Spooled on local disk: a pack is tens of MiB, and S3 has no append.
        self.file = tempfile.TemporaryFile(prefix="agentcache-pack-")  # noqa: SIM115 - closed in commit/abort

    def write(self, data):
        self.file.write(data)
        self.size += len(data)

    def commit(self):
        try:
            self.file.seek(0)
            self.backend.client.put_object(
                Bucket=self.backend.bucket, Key=self.key, Body=self.file, ContentLength=self.size
            )
        except self.backend.errors as exc:
            raise BlobUnavailable(f"cannot upload pack {self.key}: {exc}") from exc
        finally:
            self.file.close()

    def abort(self):
        self.file.close()


class S3Backend:
    kind = "s3"

    def __init__(self, endpoint_url, bucket, region, access_key_id, secret_access_key, connect_timeout=3.0):
        import boto3
        import botocore.config
        import botocore.exceptions

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=botocore.config.Config(
                connect_timeout=connect_timeout,
                read_timeout=30,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )
        self.errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
        self._client_error = botocore.exceptions.ClientError

    def open_writer(self, key):
        return S3PackWriter(self, key)

    def read_range(self, key, offset, length):
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
            )
            data = response["Body"].read()
        except self._client_error as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "InvalidRange"):
                raise BlobNotFound(f"pack {key} is missing") from exc
            raise BlobUnavailable(f"cannot read pack {key}: {exc}") from exc
        except self.errors as exc:
            raise BlobUnavailable(f"cannot read pack {key}: {exc}") from exc
        if len(data) != length:
            raise BlobNotFound(f"pack {key} is shorter than its index says")
        return data

    def delete(self, key):
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except self.errors as exc:
            raise BlobUnavailable(f"cannot delete {key}: {exc}") from exc

    def list(self, prefix):
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield BlobInfo(key=item["Key"], size=item["Size"], modified=item["LastModified"])
        except self.errors as exc:
            raise BlobUnavailable(f"cannot list {prefix}: {exc}") from exc

    def stale_temporaries(self, older_than):
        return []

    def check(self):
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self.errors as exc:
            raise BlobUnavailable(f"bucket {self.bucket} is not reachable: {exc}") from exc


_backends = {}
_lock = threading.Lock()


def _config():
    if settings.BLOB_BACKEND == "s3":
        return (
            "s3",
            settings.BLOB_S3_ENDPOINT_URL,
            settings.BLOB_S3_BUCKET,
            settings.BLOB_S3_REGION,
            settings.BLOB_S3_ACCESS_KEY_ID,
            settings.BLOB_S3_SECRET_ACCESS_KEY,
        )
    if settings.BLOB_BACKEND != "local":
        raise BlobUnavailable(f"Unknown BLOB_BACKEND {settings.BLOB_BACKEND!r} (use 'local' or 's3').")
    return ("local", str(settings.BLOB_ROOT))


def get_backend():
    """The configured backend (cached per configuration, so tests can switch with override_settings)."""
    config = _config()
    backend = _backends.get(config)
    if backend is None:
        with _lock:
            backend = _backends.get(config)
            if backend is None:
                backend = S3Backend(*config[1:]) if config[0] == "s3" else LocalBackend(config[1])
                _backends[config] = backend
    return backend
