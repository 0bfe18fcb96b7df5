"""File API views: thin; rules live in services.py / selectors.py.

Bodies of PUT /api/files/<path> and chunk uploads are read from the WSGI stream in blocks (never
`request.data`), so a large file is never held in memory.
"""

import binascii
import itertools
import struct

from django.http import HttpResponse, StreamingHttpResponse, UnreadablePostError
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from dedup import blobstore, chunking, packs, pricing, selectors, services, validation
from dedup import schema as doc
from tenants.auth import ApiKeyAuthentication, node_not_enabled

FILE_NODE = "file_dedup_cache"
ORIGIN_NODE = "seagate_lyve_connector"
MAX_MISSING_QUERY = 10000
MAX_MANIFEST_CHUNKS = 1_000_000
MAX_BATCH_BYTES = 64 * 1024 * 1024


def invalid_path(message):
    return ApiError("invalid_path", message, field="path")


def file_not_found(path):
    return ApiError("file_not_found", f"No file at '{path}' in this namespace.", status.HTTP_404_NOT_FOUND)


def content_length(request, limit=None, what="body"):
    raw = request.META.get("CONTENT_LENGTH")
    if raw in (None, "") and "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        raw = "0"  # no body at all (clients omit the header for empty PUTs)
    if raw in (None, ""):
        raise ApiError(
            "length_required",
            "Send a Content-Length header (chunked uploads are not supported).",
            status.HTTP_411_LENGTH_REQUIRED,
        )
    try:
        length = int(raw)
    except ValueError:
        raise ApiError("invalid_header", "Content-Length is not a number.", field="Content-Length")
    if length < 0:
        raise ApiError("invalid_header", "Content-Length is negative.", field="Content-Length")
    if limit is not None and length > limit:
        raise ApiError(
            "body_too_large", f"The {what} may be at most {limit} bytes.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    return length


def read_exactly(request, length):
    data = request._request.read(length)
    if len(data) != length:
        raise ApiError("incomplete_body", "The request body ended before Content-Length bytes.")
    return data


class DedupView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = []
    parser_classes = [JSONParser]
    required_nodes = (FILE_NODE,)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        context = request.auth
        if not context.has_node(*self.required_nodes):
            raise node_not_enabled(context.namespace.name, self.required_nodes)

    def json_body(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise ApiError("invalid_json", "The body must be a JSON object.", field="body")
        return data


def _checked_path(path):
    problem = validation.path_problem(path)
    if problem:
        raise invalid_path(problem)
    return path


class FileView(DedupView):
    parser_classes = []  # the body is streamed by put(), never parsed

    def _file_or_read_through(self, request, path):
        context = request.auth
        file = selectors.get_file(context.namespace.id, path)
        if file is not None:
            return file, False
        if context.has_node(ORIGIN_NODE):
            from dedup import origin

            file, fetched = origin.read_through(context, path)
            if file is not None:
                return file, fetched
        services.record_miss(context, request=True)
        raise file_not_found(path)

    @doc.documented(
        "Download a file (streamed; Range, If-None-Match)",
        responses={200: doc.BINARY, 206: doc.BINARY, 304: None},
        parameters=[doc.RANGE, doc.IF_NONE_MATCH],
        operation_id="files_download",
        extra_errors=doc.READ_THROUGH_ERRORS,
    )
    def get(self, request, path):
        return self._serve(request, _checked_path(path), head=False)

    @doc.documented("File headers only", responses={200: None})
    def head(self, request, path):
        return self._serve(request, _checked_path(path), head=True)

    def _serve(self, request, path, head):
        context = request.auth
        file, from_origin = self._file_or_read_through(request, path)
        etag = f'"{bytes(file.sha256).hex()}"'
        headers = {
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Last-Modified": file.updated_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "Cache-Control": "private, no-cache",
        }
        hit = 0 if from_origin else 1
        # A hit on content read through from the origin: those bytes did not leave the origin again.
        origin_file = bool(hit) and file.origin_fetched
        if validation.etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
            services.count_usage(context, requests=1, hits=hit)
            services.record_served(context.namespace.id, 0, hit=bool(hit), origin_file=origin_file)
            response = HttpResponse(status=304)
            for name, value in headers.items():
                response[name] = value
            return response
        span = validation.parse_range(request.META.get("HTTP_RANGE"), file.size)
        if span == "unsatisfiable":
            raise ApiError(
                "range_not_satisfiable",
                f"The requested range is outside the file ({file.size} bytes).",
                status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
                headers={"Content-Range": f"bytes */{file.size}"},
            )
        status_code = 200
        start, end = 0, file.size - 1
        if span is not None:
            start, end = span
            status_code = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        served = 0 if head else length
        if head:
            response = HttpResponse(status=status_code, content_type=file.content_type)
        else:
            body = selectors.iter_file_range(file, start, end)
            try:
                # Read (and verify) the first chunks before committing to a status line.
                first = next(body, None)
            except packs.ChunkCorrupted:
                raise ApiError(
                    "chunk_corrupted",
                    "Stored data for this file failed verification; an operator has been alerted.",
                    status.HTTP_500_INTERNAL_SERVER_ERROR,
                )
            except blobstore.BlobUnavailable as exc:
                raise services.storage_unavailable(exc)
            stream = itertools.chain([first], body) if first is not None else iter(())
            response = StreamingHttpResponse(stream, status=status_code, content_type=file.content_type)
        for name, value in headers.items():
            response[name] = value
        services.count_usage(
            context,
            requests=1,
            hits=hit,
            bytes_served=served,
            file_bytes_served=served,
            origin_hit_bytes=served if origin_file else 0,
        )
        services.record_served(context.namespace.id, served, hit=bool(hit), origin_file=origin_file)
        return response

    @doc.documented(
        "Upload a file (raw body, streamed)",
        request=doc.BINARY,
        responses={201: doc.PutResult},
        parameters=[doc.DECLARED_SHA],
        extra_errors={413: doc.QUOTA},
    )
    def put(self, request, path):
        path = _checked_path(path)
        length = content_length(request)
        remaining = length

        def read(size):
            nonlocal remaining
            if remaining <= 0:
                return b""
            try:
                data = request._request.read(min(size, remaining))
            except (OSError, UnreadablePostError):
                # The client went away mid-body: nothing is committed (packs written so far are orphans).
                raise ApiError("incomplete_body", "The request body ended before Content-Length bytes.")
            remaining -= len(data)
            return data

        declared = request.META.get("HTTP_X_CONTENT_SHA256")
        if declared is not None:
            declared = declared.strip().lower()
            if not validation.is_sha256_hex(declared):
                raise ApiError(
                    "invalid_header", "X-Content-SHA256 must be 64 hex characters.", field="X-Content-SHA256"
                )
            declared = bytes.fromhex(declared)
        committed, ingested = services.put_file(
            request.auth,
            path,
            read,
            declared_content_type=request.META.get("CONTENT_TYPE"),
            declared_sha256=declared,
            expected_size=length,
        )
        return Response(
            {
                "path": path,
                "size": ingested.size,
                "sha256": ingested.sha256.hex(),
                "chunks": len(ingested.sizes),
                "new_chunks": ingested.new_chunks,
                "new_bytes": ingested.new_bytes,
                "dedup_bytes": ingested.size - ingested.new_bytes,
            },
            status=status.HTTP_201_CREATED,
        )

    @doc.documented("Delete a file", responses={204: None})
    def delete(self, request, path):
        path = _checked_path(path)
        if not services.delete_file(request.auth, path):
            raise file_not_found(path)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmptyPathView(FileView):
    schema = None  # only turns "files/" into a 400

    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, path="")


class FileListView(DedupView):
    @doc.documented(
        "List files",
        responses={200: doc.FileList},
        operation_id="files_list",
        parameters=[
            doc.OpenApiParameter("prefix", str),
            doc.OpenApiParameter("cursor", str),
            doc.OpenApiParameter("limit", int),
        ],
    )
    def get(self, request):
        prefix = request.query_params.get("prefix", "")
        cursor = request.query_params.get("cursor")
        try:
            limit = int(request.query_params.get("limit", selectors.LIST_PAGE))
        except ValueError:
            raise ApiError("invalid_field", "limit must be an integer from 1 to 1000.", field="limit")
        if not 1 <= limit <= 1000:
            raise ApiError("invalid_field", "limit must be an integer from 1 to 1000.", field="limit")
        after = None
        if cursor:
            try:
                after = selectors.decode_cursor(cursor)
            except (ValueError, UnicodeDecodeError, binascii.Error):
                raise ApiError("invalid_cursor", "The cursor is not one this API returned.", field="cursor")
        rows, next_cursor = selectors.list_files(request.auth.namespace.id, prefix, after, limit)
        return Response(
            {
                "files": [
                    {
                        "path": row["path"],
                        "size": row["size"],
                        "sha256": bytes(row["sha256"]).hex(),
                        "content_type": row["content_type"],
                        "updated": row["updated_at"].isoformat(),
                    }
                    for row in rows
                ],
                "next_cursor": next_cursor,
            }
        )


class ManifestView(DedupView):
    @doc.documented("A file's manifest", responses={200: doc.Manifest})
    def get(self, request, path):
        path = _checked_path(path)
        file = selectors.get_file(request.auth.namespace.id, path)
        if file is None:
            raise file_not_found(path)
        return Response(
            {
                "path": path,
                "size": file.size,
                "sha256": bytes(file.sha256).hex(),
                "content_type": file.content_type,
                "chunk_profile": file.chunk_profile,
                "chunks": selectors.manifest_chunks(file),
            }
        )

    @doc.documented(
        "Commit a file from stored chunks",
        request=doc.ManifestCommit,
        responses={201: doc.ManifestResult, 409: doc.ErrorResponse},
        extra_errors={413: doc.QUOTA},
    )
    def post(self, request, path):
        path = _checked_path(path)
        body = self.json_body(request)
        size = body.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ApiError("invalid_field", "size must be a non-negative integer.", field="size")
        sha256 = body.get("sha256")
        if isinstance(sha256, str):
            sha256 = sha256.lower()
        if not validation.is_sha256_hex(sha256):
            raise ApiError("invalid_field", "sha256 must be 64 hexadecimal characters.", field="sha256")
        chunks = body.get("chunks")
        if not isinstance(chunks, list) or len(chunks) > MAX_MANIFEST_CHUNKS:
            raise ApiError(
                "invalid_field", f"chunks must be a list of at most {MAX_MANIFEST_CHUNKS} items.", field="chunks"
            )
        clean = []
        for index, item in enumerate(chunks):
            digest = item.get("sha256") if isinstance(item, dict) else None
            chunk_size = item.get("size") if isinstance(item, dict) else None
            if isinstance(digest, str):
                digest = digest.lower()
            if not validation.is_sha256_hex(digest):
                raise ApiError(
                    "invalid_field",
                    f"chunks[{index}].sha256 must be 64 hex characters.",
                    field=f"chunks[{index}].sha256",
                )
            if (
                not isinstance(chunk_size, int)
                or isinstance(chunk_size, bool)
                or not (1 <= chunk_size <= chunking.MAX_CHUNK_SIZE)
            ):
                raise ApiError(
                    "invalid_field",
                    f"chunks[{index}].size must be an integer from 1 to {chunking.MAX_CHUNK_SIZE}.",
                    field=f"chunks[{index}].size",
                )
            clean.append({"sha256": digest, "size": chunk_size})
        content_type = body.get("content_type")
        if content_type is not None and not isinstance(content_type, str):
            raise ApiError("invalid_field", "content_type must be a string.", field="content_type")
        committed, saved = services.commit_manifest(
            request.auth, path, size=size, sha256_hex=sha256, chunks=clean, content_type=content_type
        )
        return Response(
            {
                "path": path,
                "size": size,
                "sha256": sha256,
                "chunks": len(clean),
                "new_bytes": committed.added_bytes,
                "upload_bytes_saved": saved,
            },
            status=status.HTTP_201_CREATED,
        )


class MissingView(DedupView):
    @doc.documented(
        "Which chunks does my organization lack?", request=doc.MissingQuery, responses={200: doc.MissingResult}
    )
    def post(self, request):
        chunks = self.json_body(request).get("chunks")
        if not isinstance(chunks, list) or len(chunks) > MAX_MISSING_QUERY:
            raise ApiError(
                "invalid_field",
                f"chunks must be a list of at most {MAX_MISSING_QUERY} SHA-256 hex digests.",
                field="chunks",
            )
        digests = []
        for index, value in enumerate(chunks):
            value = value.lower() if isinstance(value, str) else value
            if not validation.is_sha256_hex(value):
                raise ApiError("invalid_field", f"chunks[{index}] must be 64 hex characters.", field=f"chunks[{index}]")
            digests.append(bytes.fromhex(value))
        missing = services.missing_chunks(request.auth, digests)
        return Response({"missing": [digest.hex() for digest in missing]})


class ChunkView(DedupView):
    parser_classes = []

    @doc.documented(
        "Upload one chunk (verified)",
        request=doc.BINARY,
        responses={200: doc.ChunkResult, 201: doc.ChunkResult},
        extra_errors={413: doc.QUOTA},
    )
    def put(self, request, sha256):
        sha256 = sha256.lower()
        if not validation.is_sha256_hex(sha256):
            raise ApiError("invalid_field", "The chunk address must be 64 hex characters.", field="sha256")
        length = content_length(request, chunking.MAX_CHUNK_SIZE, "chunk")
        if length == 0:
            raise ApiError("invalid_field", "A chunk cannot be empty.", field="body")
        data = read_exactly(request, length)
        new_chunks, _ = services.store_chunks(request.auth, [(sha256, data)])
        return Response(
            {"sha256": sha256, "size": length, "stored": bool(new_chunks)},
            status=status.HTTP_201_CREATED if new_chunks else status.HTTP_200_OK,
        )

    @doc.documented("Download one chunk", responses={200: doc.BINARY})
    def get(self, request, sha256):
        sha256 = sha256.lower()
        if not validation.is_sha256_hex(sha256):
            raise ApiError("invalid_field", "The chunk address must be 64 hex characters.", field="sha256")
        chunk_id = selectors.chunk_id_for(request.auth.organization_id, bytes.fromhex(sha256))
        if chunk_id is None:
            raise ApiError("chunk_not_found", "No such chunk in your organization.", status.HTTP_404_NOT_FOUND)
        try:
            data = b"".join(selectors.iter_chunk_data([chunk_id]))
        except packs.ChunkCorrupted:
            raise ApiError("chunk_corrupted", "This chunk failed verification.", status.HTTP_500_INTERNAL_SERVER_ERROR)
        except blobstore.BlobUnavailable as exc:
            raise services.storage_unavailable(exc)
        services.count_usage(request.auth, bytes_served=len(data), file_bytes_served=len(data))
        services._add_totals(request.auth.namespace.id, served_bytes=len(data))
        response = HttpResponse(data, content_type="application/octet-stream")
        response["ETag"] = f'"{sha256}"'
        return response


FRAME = struct.Struct(">32sI")


class ChunkBatchView(DedupView):
    """POST /api/dedup/chunks: many chunks in one request, framed as sha256 (32 bytes) | length (u32 BE) | data.

    Each chunk is verified by the server; one pack per request instead of one object per chunk.
    """

    parser_classes = []

    @doc.documented(
        "Upload many chunks (framed)",
        request=doc.BINARY,
        responses={200: doc.BatchResult},
        extra_errors={413: doc.QUOTA},
    )
    def post(self, request):
        length = content_length(request, MAX_BATCH_BYTES, "batch")
        remaining = length
        pieces = []
        while remaining:
            if remaining < FRAME.size:
                raise ApiError("invalid_body", "Truncated frame header.", field="body")
            digest, size = FRAME.unpack(read_exactly(request, FRAME.size))
            remaining -= FRAME.size
            if size == 0 or size > chunking.MAX_CHUNK_SIZE or size > remaining:
                raise ApiError("invalid_body", f"Frame {len(pieces)} has an invalid length {size}.", field="body")
            pieces.append((digest.hex(), read_exactly(request, size)))
            remaining -= size
        new_chunks, new_bytes = services.store_chunks(request.auth, pieces)
        return Response({"received": len(pieces), "stored": new_chunks, "stored_bytes": new_bytes})


class ConfigView(DedupView):
    @doc.documented("The namespace's chunking profile (clients cut with it)", responses={200: doc.Config})
    def get(self, request):
        profile = services.namespace_profile(request.auth.namespace.id)
        return Response({"namespace": request.auth.namespace.name, "chunk_profile": profile.describe()})


class StatsView(DedupView):
    @doc.documented("Dedup and savings figures of the namespace", responses={200: doc.Stats})
    def get(self, request):
        return Response(pricing.namespace_stats(request.auth))


class OriginView(DedupView):
    """GET/PUT/DELETE /api/dedup/origin: the namespace's read-through origin (credentials write-only)."""

    required_nodes = (ORIGIN_NODE,)

    def _namespace(self, request):
        from tenants.models import Namespace

        return Namespace.objects.get(pk=request.auth.namespace.id)

    @doc.documented("The namespace's origin (no credentials)", responses={200: doc.OriginOut})
    def get(self, request):
        from dedup import origin
        from dedup.models import Origin

        row = Origin.objects.filter(namespace_id=request.auth.namespace.id).first()
        if row is None:
            raise ApiError("origin_not_found", "This namespace has no origin.", status.HTTP_404_NOT_FOUND)
        return Response(origin.describe(row))

    @doc.documented("Set the namespace's origin", request=doc.OriginIn, responses={200: doc.OriginOut})
    def put(self, request):
        from dedup import origin
        from dedup.models import Origin

        body = self.json_body(request)
        fields = {}
        for name in ("endpoint_url", "bucket", "access_key_id", "secret_access_key"):
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ApiError("invalid_field", f"{name} is required.", field=name)
            fields[name] = value.strip()
        for name in ("prefix", "region"):
            value = body.get(name, "")
            if not isinstance(value, str):
                raise ApiError("invalid_field", f"{name} must be a string.", field=name)
            fields[name] = value.strip()
        kind = body.get("kind", Origin.Kind.LYVE)
        if kind not in Origin.Kind.values:
            raise ApiError("invalid_field", f"kind must be one of {', '.join(Origin.Kind.values)}.", field="kind")
        row = origin.configure_origin(self._namespace(request), kind=kind, **fields)
        return Response(origin.describe(row))

    @doc.documented("Remove the namespace's origin", responses={204: None})
    def delete(self, request):
        from dedup.models import Origin

        deleted, _ = Origin.objects.filter(namespace_id=request.auth.namespace.id).delete()
        if not deleted:
            raise ApiError("origin_not_found", "This namespace has no origin.", status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
