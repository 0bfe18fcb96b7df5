"""OpenAPI descriptions of the evaluator API (shares the error shape and X-Namespace header with cache_api)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

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
    401: _error("Missing or invalid API key.", "invalid_api_key", "The API key is not valid."),
    403: _error(
        "The namespace has neither the desktop_cdn nor the cdn_accelerator node.",
        "node_not_enabled",
        "Namespace 'storage' does not have the cdn_accelerator or desktop_cdn node enabled.",
    ),
    404: _error(
        "No such namespace or evaluation (other tenants' are never visible).",
        "not_found",
        "No evaluation 3f2c... in this namespace.",
    ),
}
BAD_INPUT = _error(
    "Malformed record (line and field named), empty log or bad option.",
    "invalid_record",
    "Record 4: size is missing.",
    field="size",
    line=4,
)
TOO_LARGE = _error(
    "Over the plan's upload limit.",
    "upload_too_large",
    "The upload is 2000000 bytes; your plan (Starter) allows at most 104857600 bytes per log (max_upload_bytes).",
    limit=104857600,
    field="max_upload_bytes",
)
RESULT = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The evaluation result JSON (requests, objects, "
    "working_set_bytes, one_hit_objects, curve, at_sizes, recommended, tiers, "
    "eviction_priorities, savings (with price_source), sampling, policy_notes, bounds) plus evaluation "
    "{id, status, url}.",
)
JOB = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The stored evaluation: id, url, status (queued/running/done/failed), progress, stage, result, error.",
)

evaluate = extend_schema(
    summary="Evaluate a desktop-CDN access log",
    operation_id="cdn_evaluate",
    request={
        "application/json": OpenApiTypes.OBJECT,
        "multipart/form-data": OpenApiTypes.OBJECT,
        "application/x-ndjson": OpenApiTypes.BINARY,
        "text/csv": OpenApiTypes.BINARY,
        "application/gzip": OpenApiTypes.BINARY,
    },
    parameters=[
        NAMESPACE_HEADER,
        OpenApiParameter("options", str, description="Engine options as JSON (raw-body uploads)."),
        OpenApiParameter("skip_invalid", bool, description="Skip malformed records and count them."),
    ],
    responses={200: RESULT, 202: JOB, 400: BAD_INPUT, 413: TOO_LARGE, **ERRORS},
)
listing = extend_schema(
    summary="List the namespace's evaluations",
    operation_id="cdn_evaluations_list",
    parameters=[NAMESPACE_HEADER],
    responses={200: OpenApiTypes.OBJECT, **ERRORS},
)
detail = extend_schema(
    summary="One evaluation: progress and result",
    operation_id="cdn_evaluation_detail",
    parameters=[NAMESPACE_HEADER, OpenApiParameter("evaluation_id", str, OpenApiParameter.PATH)],
    responses={200: JOB, **ERRORS},
)
