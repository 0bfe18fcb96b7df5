"""HTTP client for the AgentCache file API (stdlib http.client, one keep-alive connection)."""

import hashlib
import http.client
import json
import os
import struct
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from agentcache.chunking import PROFILES, chunk_file

MISSING_BATCH = 10000
UPLOAD_BATCH_BYTES = 32 * 1024 * 1024
FRAME = struct.Struct(">32sI")


class AgentCacheError(Exception):
    def __init__(self, status, code, message, body=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.body = body or {}


class UnsupportedProfile(AgentCacheError):
    """The namespace cuts files with a chunking profile this client does not have: uploading with another
    profile would store the same bytes under different chunks (no dedup), so the client refuses."""

    def __init__(self, message, body=None):
        super().__init__(0, "unsupported_chunk_profile", message, body)


class Progress:
    """A one-line progress bar on stderr (silent when disabled)."""

    def __init__(self, label, total, enabled):
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled
        self.last = 0.0

    def advance(self, amount):
        self.done += amount
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.1 or self.done >= self.total):
            self.last = now
            filled = int(30 * min(self.done, self.total) / self.total)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
            )
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


class Client:
    def __init__(self, base_url, api_key, namespace, cache_dir=None, progress=False, timeout=60):
        parsed = urllib.parse.urlsplit(base_url)
        self.scheme = parsed.scheme or "http"
        self.host = parsed.hostname
        self.port = parsed.port
        self.base_path = parsed.path.rstrip("/")
        self.headers = {"X-API-Key": api_key, "X-Namespace": namespace}
        self._profile = None  # the namespace's chunking profile, asked once per session (see profile)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.progress = progress
        self.timeout = timeout
        self._conn = None
        self.bytes_sent = 0
        self.bytes_received = 0

    # --- HTTP -----------------------------------------------------------------------------
    def _connection(self):
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, body=None, headers=None, expect=(200, 201, 204, 206, 304)):
        url = self.base_path + "/api/" + path.lstrip("/")
        all_headers = dict(self.headers)
        all_headers.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                conn = self._connection()
                conn.request(method, url, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                self.close()  # a dropped keep-alive connection: retry once on a fresh one
                if attempt == 2:
                    raise
        self.bytes_sent += len(body or b"")
        self.bytes_received += len(data)
        if response.status not in expect:
            try:
                error = json.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": data[:200].decode(errors="replace")}
            raise AgentCacheError(response.status, error.get("code"), error.get("message"), error)
        return response, data

    def json(self, method, path, body=None):
        _, data = self.request(method, path, body)
        return json.loads(data) if data else None

    @staticmethod
    def quote(path):
        return urllib.parse.quote(path, safe="/")

    # --- Chunking profile --------------------------------------------------------------------
    @property
    def profile(self):
        """The local profile matching the namespace's (GET /api/dedup/config, asked once per session).

        Cutting with any other profile would make chunk ids the server never has: nothing would dedup.
        A profile this client does not know, or knows with other numbers, is refused."""
        if self._profile is None:
            described = (self.json("GET", "dedup/config") or {}).get("chunk_profile") or {}
            name = described.get("name")
            local = PROFILES.get(name)
            if local is None:
                raise UnsupportedProfile(
                    f"The namespace uses chunking profile {name!r}, which this client does not know "
                    f"(it knows {', '.join(sorted(PROFILES))}); upgrade the agentcache package.",
                    described,
                )
            server = tuple(described.get(key) for key in ("min_size", "avg_size", "max_size", "normalized_chunking"))
            if server != (local.min_size, local.avg_size, local.max_size, local.normalized_chunking):
                raise UnsupportedProfile(
                    f"The namespace's profile {name!r} has other sizes on the server {server} than in this client; "
                    "upgrade the agentcache package.",
                    described,
                )
            self._profile = local
        return self._profile

    # --- Upload ----------------------------------------------------------------------------
    def missing(self, digests):
        missing = []
        for start in range(0, len(digests), MISSING_BATCH):
            missing += self.json("POST", "dedup/missing", {"chunks": digests[start : start + MISSING_BATCH]})["missing"]
        return missing

    def _upload_chunks(self, source, chunks, progress):
        """Send the given chunks [(digest, offset, length)] in framed batches; returns payload bytes sent."""
        sent = 0
        batch, batch_size = [], 0

        def flush():
            nonlocal batch, batch_size
            if batch:
                self.request("POST", "dedup/chunks", b"".join(batch), {"Content-Type": "application/octet-stream"})
                batch, batch_size = [], 0

        for digest, offset, length in chunks:
            data = source[offset : offset + length]
            if batch_size + length + FRAME.size > UPLOAD_BATCH_BYTES:
                flush()
            batch.append(FRAME.pack(bytes.fromhex(digest), length))
            batch.append(bytes(data))
            batch_size += length + FRAME.size
            sent += length
            progress.advance(length)
        flush()
        return sent

    def upload(self, local_path, remote_path, content_type=None):
        """Upload a file sending only the chunks the server lacks. Returns the commit reply plus counters."""
        import mmap

        whole, size, chunks = chunk_file(local_path, self.profile)
        digests = [digest for digest, _, _ in chunks]
        missing = set(self.missing(digests))
        todo, seen = [], set()
        for chunk in chunks:
            if chunk[0] in missing and chunk[0] not in seen:
                seen.add(chunk[0])
                todo.append(chunk)
        progress = Progress(f"upload {remote_path}", sum(c[2] for c in todo), self.progress)
        sent = 0
        if todo:
            with open(local_path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                sent = self._upload_chunks(mapped, todo, progress)
        progress.close()
        manifest = {
            "size": size,
            "sha256": whole,
            "chunks": [{"sha256": digest, "size": length} for digest, _, length in chunks],
        }
        if content_type:
            manifest["content_type"] = content_type
        try:
            reply = self.json("POST", f"files/{self.quote(remote_path)}/manifest", manifest)
        except AgentCacheError as exc:
            if exc.code != "missing_chunks":
                raise
            # Collected between our question and the commit (grace period passed): send them and retry once.
            again = set(exc.body.get("missing", []))
            redo = [c for c in chunks if c[0] in again]
            with open(local_path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                sent += self._upload_chunks(mapped, list({c[0]: c for c in redo}.values()), Progress("", 1, False))
            reply = self.json("POST", f"files/{self.quote(remote_path)}/manifest", manifest)
        reply["bytes_uploaded"] = sent
        return reply

    # --- Download --------------------------------------------------------------------------
    def _cache_path(self, digest):
        return self.cache_dir / digest[:2] / digest

    def _cache_get(self, digest):
        if self.cache_dir is None:
            return None
        try:
            data = self._cache_path(digest).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == digest else None

    def _cache_put(self, digest, data):
        if self.cache_dir is None:
            return
        path = self._cache_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def download(self, remote_path, local_path):
        """Download a file; with a cache_dir, chunks already held locally are not fetched again."""
        manifest = self.json("GET", f"files/{self.quote(remote_path)}/manifest")
        chunks = manifest["chunks"]
        offsets, position = [], 0
        for chunk in chunks:
            offsets.append(position)
            position += chunk["size"]
        pieces = [self._cache_get(chunk["sha256"]) for chunk in chunks]
        cached = sum(1 for piece in pieces if piece is not None)
        needed = sum(chunk["size"] for chunk, piece in zip(chunks, pieces, strict=True) if piece is None)
        progress = Progress(f"download {remote_path}", needed, self.progress)
        fetched = 0
        index = 0
        while index < len(chunks):
            if pieces[index] is not None:
                index += 1
                continue
            end = index
            while end + 1 < len(chunks) and pieces[end + 1] is None:
                end += 1
            first, last = offsets[index], offsets[end] + chunks[end]["size"] - 1
            response, data = self.request(
                "GET", f"files/{self.quote(remote_path)}", headers={"Range": f"bytes={first}-{last}"}
            )
            if response.getheader("ETag", "").strip('"') != manifest["sha256"]:
                raise AgentCacheError(409, "changed", f"{remote_path} changed during the download; retry.")
            cursor = 0
            for i in range(index, end + 1):
                piece = data[cursor : cursor + chunks[i]["size"]]
                cursor += chunks[i]["size"]
                if hashlib.sha256(piece).hexdigest() != chunks[i]["sha256"]:
                    raise AgentCacheError(502, "corrupt", f"chunk {i} of {remote_path} failed verification")
                pieces[i] = piece
                self._cache_put(chunks[i]["sha256"], piece)
            fetched += len(data)
            progress.advance(len(data))
            index = end + 1
        progress.close()
        target = Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        whole = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
            for piece in pieces:
                whole.update(piece)
                out.write(piece)
        if whole.hexdigest() != manifest["sha256"]:
            os.unlink(out.name)
            raise AgentCacheError(502, "corrupt", f"{remote_path} failed whole-file verification")
        os.replace(out.name, target)
        return {
            "path": remote_path,
            "size": manifest["size"],
            "bytes_fetched": fetched,
            "chunks": len(chunks),
            "chunks_from_cache": cached,
        }

    # --- Sync --------------------------------------------------------------------------------
    def list(self, prefix=""):
        files, cursor = [], None
        while True:
            query = {"prefix": prefix, "limit": 1000}
            if cursor:
                query["cursor"] = cursor
            page = self.json("GET", "files?" + urllib.parse.urlencode(query))
            files += page["files"]
            cursor = page.get("next_cursor")
            if not cursor:
                return files

    def sync(self, local_dir, remote_prefix=""):
        """Upload every file under local_dir whose content differs from the remote copy."""
        local_dir = Path(local_dir)
        prefix = remote_prefix.strip("/")
        prefix = prefix + "/" if prefix else ""
        remote = {item["path"]: item["sha256"] for item in self.list(prefix)}
        results = []
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            remote_path = prefix + path.relative_to(local_dir).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if remote.get(remote_path) == digest:
                results.append({"path": remote_path, "skipped": True, "bytes_uploaded": 0})
                continue
            results.append(self.upload(path, remote_path))
        return results
