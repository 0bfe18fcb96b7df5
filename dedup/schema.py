"""OpenAPI descriptions of the file API (shares the error shape and X-Namespace header with cache_api)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

from cache_api.schema import NAMESPACE_HEADER
from cache_api.serializers import ErrorResponse


def _error(description, code, message, **extra):
    return OpenApiResponse(
        ErrorResponse,
        description=description,
        examples=[
            OpenApiExample(code, value={"error": {"code": code, "message": message, **extra}}, response_only=True)
        ],
    )


ERRORS = {
    400: _error(
        "Bad input; `field` names it.", "invalid_path", "The path may not contain '.' or '..' segments.", field="path"
    ),
    401: _error(
        "Missing or invalid API key.", "invalid_api_key", "The API key is not valid (unknown, revoked or expired)."
    ),
    403: _error(
        "The namespace lacks the node.",
        "node_not_enabled",
        "Namespace 'cdn' does not have the file_dedup_cache node enabled.",
    ),
    404: _error("No such namespace or file.", "file_not_found", "No file at 'fw/2.0.bin' in this namespace."),
    503: _error(
        "The blob storage is unreachable; nothing was written.",
        "storage_unavailable",
        "The file storage backend is unreachable; nothing was written. Retry later.",
    ),
}
READ_THROUGH_ERRORS = {
    502: _error(
        "Read-through: the namespace's origin could not be reached; nothing was stored.",
        "origin_unavailable",
        "The origin of namespace 'storage' could not be reached; nothing was stored.",
    ),
    503: OpenApiResponse(
        ErrorResponse,
        description="The blob storage is unreachable, or another request is fetching this path from the origin "
        "(read-through; retry after `Retry-After` seconds).",
        examples=[
            OpenApiExample(
                code,
                value={"error": {"code": code, "message": message}},
                response_only=True,
            )
            for code, message in (
                ("storage_unavailable", "The file storage backend is unreachable; nothing was written. Retry later."),
                (
                    "origin_fetch_in_progress",
                    "'fw/2.0.bin' is being fetched from the origin by another request; retry shortly.",
                ),
            )
        ],
    ),
}
QUOTA = _error(
    "Over the plan's storage quota.",
    "storage_quota_exceeded",
    "This upload needs 60000 bytes of storage; the Starter plan's storage quota is 50000 bytes (storage_quota_bytes).",
    limit="storage_quota_bytes",
    limit_value=50000,
)

PutResult = inline_serializer(
    "FilePutResult",
    {
        "path": serializers.CharField(),
        "size": serializers.IntegerField(),
        "sha256": serializers.CharField(),
        "chunks": serializers.IntegerField(),
        "new_chunks": serializers.IntegerField(),
        "new_bytes": serializers.IntegerField(),
        "dedup_bytes": serializers.IntegerField(),
    },
)
ChunkRef = inline_serializer("ChunkRef", {"sha256": serializers.CharField(), "size": serializers.IntegerField()})
Manifest = inline_serializer(
    "Manifest",
    {
        "path": serializers.CharField(),
        "size": serializers.IntegerField(),
        "sha256": serializers.CharField(),
        "content_type": serializers.CharField(),
        "chunk_profile": serializers.CharField(),
        "chunks": ChunkRef.__class__(many=True),
    },
)
ManifestCommit = inline_serializer(
    "ManifestCommit",
    {
        "size": serializers.IntegerField(),
        "sha256": serializers.CharField(),
        "chunks": ChunkRef.__class__(many=True),
        "content_type": serializers.CharField(required=False),
    },
)
ManifestResult = inline_serializer(
    "ManifestResult",
    {
        "path": serializers.CharField(),
        "size": serializers.IntegerField(),
        "sha256": serializers.CharField(),
        "chunks": serializers.IntegerField(),
        "new_bytes": serializers.IntegerField(),
        "upload_bytes_saved": serializers.IntegerField(),
    },
)
FileEntry = inline_serializer(
    "FileEntry",
    {
        "path": serializers.CharField(),
        "size": serializers.IntegerField(),
        "sha256": serializers.CharField(),
        "content_type": serializers.CharField(),
        "updated": serializers.DateTimeField(),
    },
)
FileList = inline_serializer(
    "FileList",
    {
        "files": FileEntry.__class__(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)
MissingQuery = inline_serializer("MissingQuery", {"chunks": serializers.ListField(child=serializers.CharField())})
MissingResult = inline_serializer("MissingResult", {"missing": serializers.ListField(child=serializers.CharField())})
ChunkResult = inline_serializer(
    "ChunkResult",
    {
        "sha256": serializers.CharField(),
        "size": serializers.IntegerField(),
        "stored": serializers.BooleanField(),
    },
)
BatchResult = inline_serializer(
    "ChunkBatchResult",
    {
        "received": serializers.IntegerField(),
        "stored": serializers.IntegerField(),
        "stored_bytes": serializers.IntegerField(),
    },
)
Config = inline_serializer(
    "DedupConfig",
    {
        "namespace": serializers.CharField(),
        "chunk_profile": inline_serializer(
            "ChunkProfile",
            {
                "name": serializers.CharField(help_text="`small-v1` or `large-v1`; frozen once files use it."),
                "version": serializers.IntegerField(),
                "algorithm": serializers.CharField(help_text="`fastcdc-2020` (pyfastcdc, gear table as shipped)."),
                "min_size": serializers.IntegerField(),
                "avg_size": serializers.IntegerField(),
                "max_size": serializers.IntegerField(),
                "normalized_chunking": serializers.IntegerField(),
                "chunk_hash": serializers.CharField(help_text="`sha256`: chunk ids are SHA-256 hex digests."),
            },
        ),
    },
)
Stats = inline_serializer(
    "DedupStats",
    {
        name: serializers.IntegerField()
        for name in (
            "files",
            "logical_bytes",
            "stored_bytes",
            "upload_bytes_saved",
            "served_bytes",
            "origin_bytes",
            "origin_hit_bytes",
            "bandwidth_saved_bytes",
            "hits",
            "misses",
            "bytes_uploaded",
        )
    }
    | {
        "dedup_ratio": serializers.FloatField(allow_null=True),
        "cost_saved_usd": serializers.FloatField(),
        "cost_breakdown": serializers.DictField(),
        "notes": serializers.ListField(child=serializers.CharField()),
        "days": serializers.ListField(
            child=inline_serializer(
                "DedupStorageDay",
                {
                    "date": serializers.DateField(),
                    "files": serializers.IntegerField(),
                    "logical_bytes": serializers.IntegerField(),
                    "stored_bytes": serializers.IntegerField(),
                    "dedup_ratio": serializers.FloatField(allow_null=True),
                },
            )
        ),
    },
)
OriginIn = inline_serializer(
    "OriginConfig",
    {
        "endpoint_url": serializers.URLField(),
        "bucket": serializers.CharField(),
        "prefix": serializers.CharField(),
        "region": serializers.CharField(),
        "kind": serializers.CharField(),
        "access_key_id": serializers.CharField(),
        "secret_access_key": serializers.CharField(),
    },
)
OriginOut = inline_serializer(
    "Origin",
    {
        "endpoint_url": serializers.CharField(),
        "bucket": serializers.CharField(),
        "prefix": serializers.CharField(),
        "region": serializers.CharField(),
        "kind": serializers.CharField(),
        "credentials": serializers.CharField(),
        "updated_at": serializers.DateTimeField(),
    },
)

RANGE = OpenApiParameter("Range", str, OpenApiParameter.HEADER, description="`bytes=a-b`, `a-` or `-n` (206).")
IF_NONE_MATCH = OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="ETag: 304 if equal.")
DECLARED_SHA = OpenApiParameter(
    "X-Content-SHA256",
    str,
    OpenApiParameter.HEADER,
    description="The body's SHA-256: content already stored is only hashed, never chunked.",
)


def documented(summary, request=None, responses=None, parameters=(), extra_errors=None, operation_id=None):
    all_responses = dict(ERRORS)
    all_responses.update(extra_errors or {})
    all_responses.update(responses or {})
    return extend_schema(
        summary=summary,
        request=request,
        responses=all_responses,
        parameters=[NAMESPACE_HEADER, *parameters],
        tags=["files"],
        operation_id=operation_id,
    )


BINARY = OpenApiTypes.BINARY
__all__ = ["ErrorResponse", "OpenApiParameter"]
