"""HTTP surface of the desktop-CDN evaluator (thin: parsing the request, calling services/selectors).

POST api/cdn/evaluate accepts
  - application/json {"accessHistory": [...], "options": {...}, "skipInvalid": false}: small logs are
    answered at once (200 with the result), large ones become a job (202);
  - a file: multipart/form-data field `file` (+ `options` as a JSON string), or the raw body with
    Content-Type application/x-ndjson, text/csv, application/gzip or application/octet-stream
    (options as the `options` query parameter): always a job (202).
"""

import uuid

import orjson
from django.conf import settings
from django.urls import reverse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from cdn_eval import engine, schema, selectors, services
from cdn_eval.models import Evaluation
from config.errors import ApiError
from tenants.auth import ApiKeyAuthentication, node_not_enabled

NODES = ("cdn_accelerator", "desktop_cdn")
CHUNK = 1 << 20


def _context(request):
    context = request.auth
    if not context.has_node(*NODES):
        raise node_not_enabled(context.namespace.name, NODES)
    return context


def _too_large(context, size=None):
    limit = context.plan.max_upload_bytes
    seen = f"The upload is {size} bytes; " if size is not None else "The upload is too large; "
    return ApiError(
        "upload_too_large",
        f"{seen}your plan ({context.plan.name}) allows at most {limit} bytes per log (max_upload_bytes).",
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        limit=limit,
        field="max_upload_bytes",
    )


def _engine_error(exc):
    if isinstance(exc, engine.TooLarge):
        return ApiError("upload_too_large", exc.message, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, limit=exc.limit)
    extra = {}
    if exc.field is not None:
        extra["field"] = exc.field
    if exc.line is not None:
        extra["line"] = exc.line
    return ApiError(exc.code, exc.message, **extra)


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _options_from_text(text):
    if not text:
        return {}
    try:
        options = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ApiError("invalid_option", f"options must be a JSON object: {exc}.", field="options") from exc
    if not isinstance(options, dict):
        raise ApiError("invalid_option", "options must be a JSON object.", field="options")
    return options


def _stream_body(django_request, limit, context):
    """Yield the raw body in chunks, refusing to read past the plan's limit."""
    seen = 0
    while True:
        chunk = django_request.read(CHUNK)
        if not chunk:
            return
        seen += len(chunk)
        if seen > limit:
            raise _too_large(context)
        yield chunk


def evaluation_url(request, evaluation):
    return request.build_absolute_uri(reverse("cdn-evaluation", args=[str(evaluation.id)]))


def serialize(request, evaluation, include_result=True):
    body = {
        "id": str(evaluation.id),
        "url": evaluation_url(request, evaluation),
        "status": evaluation.status,
        "progress": evaluation.progress,
        "stage": evaluation.stage,
        "source": evaluation.source,
        "requests": evaluation.requests,
        "options": {k: v for k, v in (evaluation.options or {}).items()},
        "created_at": evaluation.created_at.isoformat() if evaluation.created_at else None,
        "started_at": evaluation.started_at.isoformat() if evaluation.started_at else None,
        "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
        "error": evaluation.error,
    }
    if include_result:
        body["result"] = evaluation.result
    return body


class _Base(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = []


class EvaluateView(_Base):
    parser_classes = []  # bodies are read here, streamed and bounded by the plan's upload limit

    @schema.evaluate
    def post(self, request):
        context = _context(request)
        limit = context.plan.max_upload_bytes
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise _too_large(context, length)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        try:
            if content_type == "multipart/form-data":
                return self._multipart(request, context, limit)
            if content_type in ("application/json", ""):
                return self._json(request, context, limit)
            return self._raw(request, context, limit)
        except engine.EngineError as exc:
            raise _engine_error(exc) from exc

    def _json(self, request, context, limit):
        body = b"".join(_stream_body(request._request, limit, context))
        if not body.strip():
            raise ApiError("empty_log", 'Send {"accessHistory": [...]} or upload a log file.', field="accessHistory")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError("invalid_json", f"Request body is not valid JSON: {exc}.", field="body") from exc
        if isinstance(doc, list):
            records, raw_options, skip_invalid = doc, {}, False
        elif isinstance(doc, dict):
            if "accessHistory" not in doc:
                raise ApiError(
                    "missing_field",
                    "accessHistory is required: a list of {timestamp, path, size}.",
                    field="accessHistory",
                )
            records = doc["accessHistory"]
            raw_options = doc.get("options") or {}
            skip_invalid = doc.get("skipInvalid", False)
            if not isinstance(skip_invalid, bool):  # "false" must not mean true
                raise ApiError("invalid_field", "skipInvalid must be true or false.", field="skipInvalid")
        else:
            raise ApiError("invalid_json", "The body must be a JSON object with accessHistory.", field="body")
        if not isinstance(raw_options, dict):
            raise ApiError("invalid_option", "options must be a JSON object.", field="options")
        options = services.engine_options(raw_options, context.organization_id, context.namespace.id)
        columns = services.parse_inline(records, skip_invalid=skip_invalid)
        if len(columns) > settings.CDN_EVAL_SYNC_MAX_RECORDS:
            path, size = services.spool([body])
            evaluation = services.queue_evaluation(
                context, path, size, raw_options, Evaluation.Source.INLINE, skip_invalid=skip_invalid
            )
            return self._accepted(request, evaluation)
        evaluation = services.evaluate_now(context, columns, raw_options, options)
        result = dict(evaluation.result)
        result["evaluation"] = {
            "id": str(evaluation.id),
            "status": evaluation.status,
            "url": evaluation_url(request, evaluation),
        }
        return Response(result, status=status.HTTP_200_OK)

    def _multipart(self, request, context, limit):
        django_request = request._request
        upload = django_request.FILES.get("file")
        if upload is None:
            raise ApiError("missing_file", "Upload the log in the multipart field 'file'.", field="file")
        if upload.size > limit:
            raise _too_large(context, upload.size)
        if upload.size == 0:
            raise ApiError("empty_log", "The uploaded log is empty.", field="file")
        raw_options = _options_from_text(django_request.POST.get("options"))
        services.engine_options(raw_options)
        path, size = services.spool(upload.chunks())
        evaluation = services.queue_evaluation(
            context,
            path,
            size,
            raw_options,
            Evaluation.Source.UPLOAD,
            skip_invalid=_truthy(django_request.POST.get("skip_invalid", "")),
        )
        return self._accepted(request, evaluation)

    def _raw(self, request, context, limit):
        raw_options = _options_from_text(request.query_params.get("options"))
        services.engine_options(raw_options)
        path, size = services.spool(_stream_body(request._request, limit, context))
        if size == 0:
            services.delete_file(path)
            raise ApiError("empty_log", "The uploaded log is empty.", field="body")
        evaluation = services.queue_evaluation(
            context,
            path,
            size,
            raw_options,
            Evaluation.Source.UPLOAD,
            skip_invalid=_truthy(request.query_params.get("skip_invalid", "")),
        )
        return self._accepted(request, evaluation)

    def _accepted(self, request, evaluation):
        evaluation.refresh_from_db()
        body = serialize(request, evaluation, include_result=False)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class EvaluationListView(_Base):
    @schema.listing
    def get(self, request):
        context = _context(request)
        items = [serialize(request, e, include_result=False) for e in selectors.list_evaluations(context)]
        return Response({"evaluations": items})


class EvaluationDetailView(_Base):
    @schema.detail
    def get(self, request, evaluation_id):
        context = _context(request)
        try:
            key = uuid.UUID(str(evaluation_id))
        except ValueError:
            key = None
        evaluation = selectors.get_evaluation(context, key) if key else None
        if evaluation is None:
            raise ApiError("not_found", f"No evaluation {evaluation_id} in this namespace.", status.HTTP_404_NOT_FOUND)
        return Response(serialize(request, evaluation))
