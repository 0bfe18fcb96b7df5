"""The cache API: thin DRF views over cache_api.stores.

Hot path per request: the key resolves from the in-process auth cache (no I/O), the body is
parsed and validated in Python, and one store call (one Redis round trip) checks the auth
version, counts the request against the plan's rate (per namespace), does the operation and
meters it. Stats makes the same kind of store call without the data operation and metering.
"""

import sqlite3

import orjson
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_api import authcache, keyspace, metering, schema, selectors, stores
from cache_api import serializers as docs
from config.errors import ApiError
from tenants import auth

# --- Plumbing: JSON in and out with orjson, no content negotiation --------------------------


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else orjson.dumps(data)


def read_json_body(django_request):
    """The request body parsed with orjson, after the Content-Type and size checks (413 past the limit)."""
    meta = django_request.META
    media_type = meta.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json":
        raise UnsupportedMediaType(media_type)
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.CACHE_API_MAX_BODY_BYTES
    if length > limit:
        raise ApiError("body_too_large", f"The body is {length} bytes; at most {limit} are accepted.", 413, limit=limit)
    body = django_request.read(limit + 1) if length else b""
    if len(body) > limit:
        raise ApiError("body_too_large", f"The body exceeds {limit} bytes.", 413, limit=limit)
    if not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(str(exc))


class OrjsonParser(BaseParser):
    """Declares JSON bodies to DRF and the schema; the cache views parse with read_json_body directly."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return read_json_body(parser_context["request"])


class JsonOnlyNegotiation(DefaultContentNegotiation):
    """Parsers are still chosen by Content-Type (415 otherwise); the answer is always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def authenticate_optimistically(django_request):
    """The auth cache entry for the request's key and namespace, without checking its version yet:
    the store's script checks it in the same round trip as the data operation (no extra I/O here)."""
    meta = django_request.META
    plaintext = meta.get(auth.API_KEY_HEADER, "")
    namespace_name = meta.get(auth.NAMESPACE_HEADER) or None
    if not plaintext:
        raise auth.missing_key()
    entry = authcache.lookup(plaintext, namespace_name)
    if namespace_name is None:
        raise auth.missing_namespace()
    return entry


def json_response(data):
    return HttpResponse(orjson.dumps(data), content_type="application/json")


def cache_unavailable():
    return ApiError(
        "cache_unavailable",
        "The cache is temporarily unavailable; retry shortly.",
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "1"},
    )


def invalid(exc):
    return ApiError("invalid_field", str(exc), field=exc.field)


def rate_limited(limit, retry_after):
    return ApiError(
        "rate_limited",
        f"Your plan allows {limit} requests per second per namespace; retry in {retry_after} s.",
        status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(retry_after)},
        limit=limit,
        limit_scope="namespace",
    )


def store_call(entry, operation, *args):
    try:
        return getattr(stores.get_store(), operation)(entry.scope, *args)
    except stores.RateLimited as exc:
        raise rate_limited(entry.context.plan.requests_per_second, exc.retry_after)
    except stores.StoreUnavailable:
        raise cache_unavailable()


def with_current_auth(django_request, entry, work):
    """work(entry), redone once with a re-resolved entry if the store found the entry's token stale."""
    for _attempt in range(2):
        try:
            return work(entry)
        except stores.StaleAuth:
            # The key's organization or namespace changed since this entry was cached: validation may
            # depend on the old plan or namespace, so resolve again and redo the whole request.
            authcache.forget(entry)
            meta = django_request.META
            entry = authcache.lookup(meta.get(auth.API_KEY_HEADER, ""), meta.get(auth.NAMESPACE_HEADER))
    raise cache_unavailable()  # the version kept moving: transient, retry


class CacheView(APIView):
    # Declared for the schema and DRF's machinery; initial() authenticates through the auth cache.
    authentication_classes = [auth.ApiKeyAuthentication]
    permission_classes = []
    throttle_classes = []
    parser_classes = [OrjsonParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonOnlyNegotiation

    # Computed once, not per request as APIView does.
    default_response_headers = {"Allow": "POST, OPTIONS"}

    def initial(self, request, *args, **kwargs):
        # Other methods than POST (OPTIONS, or a wrong one answered 405) take DRF's usual path.
        self.format_kwarg = None
        entry = authenticate_optimistically(request._request)
        request.user, request.auth = auth.ApiKeyUser(entry.context), entry.context

    def dispatch(self, request, *args, **kwargs):
        """The hot path skips DRF's per-request wrapping (Request, negotiation, finalize); any error
        still goes through DRF's exception handling, so every answer has the one JSON error shape."""
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        try:
            return self.post(request)
        except Exception as exc:
            drf_request = self.initialize_request(request, *args, **kwargs)
            self.request, self.headers, self.format_kwarg = drf_request, self.default_response_headers, None
            self.response = self.finalize_response(drf_request, self.handle_exception(exc), *args, **kwargs)
            return self.response

    def post(self, request):
        django_request = getattr(request, "_request", request)  # plain HttpRequest on the hot path
        entry = authenticate_optimistically(django_request)
        data = read_json_body(django_request)
        if not isinstance(data, dict):
            raise ApiError("invalid_field", "body: Must be a JSON object.", field="body")
        return json_response(with_current_auth(django_request, entry, lambda current: self.handle(data, current)))

    def handle(self, data, entry):
        raise NotImplementedError

    store_call = staticmethod(store_call)


def encode_value(data, context, field="value"):
    if "value" not in data:
        raise ApiError("invalid_field", f"{field}: This field is required.", field=field)
    try:
        raw = orjson.dumps(data["value"])
    except orjson.JSONEncodeError:  # deeper than the encoder's recursion limit
        raise ApiError("invalid_field", f"{field}: Nested too deeply.", field=field)
    limit = context.plan.max_value_bytes
    if len(raw) > limit:
        raise ApiError(
            "value_too_large",
            f"{field} is {len(raw)} bytes; your plan allows at most {limit} bytes per value.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            field=field,
            limit=limit,
        )
    return raw


def checked_key(data):
    try:
        return keyspace.check_key(data.get("key"))
    except keyspace.InvalidField as exc:
        raise invalid(exc)


def hit_item(key, found):
    if found is None:
        return {"hit": False, "key": key}
    raw, ttl_remaining = found
    return {"hit": True, "key": key, "value": orjson.Fragment(raw), "ttl_remaining": ttl_remaining}


KEY_ERRORS = (
    schema.field_error("key", "Must be at most 512 bytes of UTF-8; this one is 600."),
    schema.field_error("key", "Must not contain control characters."),
)


@extend_schema_view(
    post=extend_schema(
        operation_id="cache_set",
        summary="Store a value",
        description="Stores `value` under `key` in the namespace for `ttl` seconds, replacing any previous value.",
        parameters=schema.PARAMETERS,
        request=docs.SetRequest,
        responses={
            200: docs.SetResponse,
            **schema.common_errors(
                *KEY_ERRORS, schema.field_error("ttl", "Must be from 1 to 2592000 seconds; got 0."), value_limit=True
            ),
        },
        examples=[
            OpenApiExample(
                "set",
                value={"key": "user:42:profile", "value": {"name": "Ada", "plan": "pro"}, "ttl": 3600},
                request_only=True,
            ),
            OpenApiExample(
                "stored",
                value={"key": "user:42:profile", "namespace": "metadata", "ttl": 3600, "size": 29},
                response_only=True,
            ),
        ],
    )
)
class SetView(CacheView):
    def handle(self, data, entry):
        context = entry.context
        try:
            key = keyspace.check_key(data.get("key"))
            ttl = keyspace.check_ttl(data.get("ttl"), context.namespace.default_ttl)
        except keyspace.InvalidField as exc:
            raise invalid(exc)
        raw = encode_value(data, context)
        self.store_call(entry, "mset", [(key, raw, ttl)])
        return {"key": data["key"], "namespace": context.namespace.name, "ttl": ttl, "size": len(raw)}


@extend_schema_view(
    post=extend_schema(
        operation_id="cache_get",
        summary="Read a value",
        description="A hit returns the value and its remaining TTL; a miss is a 200 with `hit: false`.",
        parameters=schema.PARAMETERS,
        request=docs.KeyRequest,
        responses={200: docs.GetResponse, **schema.common_errors(*KEY_ERRORS)},
        examples=[
            OpenApiExample("get", value={"key": "user:42:profile"}, request_only=True),
            OpenApiExample(
                "hit",
                value={"hit": True, "key": "user:42:profile", "value": {"name": "Ada"}, "ttl_remaining": 3540},
                response_only=True,
            ),
            OpenApiExample("miss", value={"hit": False, "key": "user:42:profile"}, response_only=True),
        ],
    )
)
class GetView(CacheView):
    def handle(self, data, entry):
        key = checked_key(data)
        return hit_item(data["key"], self.store_call(entry, "get", key))


@extend_schema_view(
    post=extend_schema(
        operation_id="cache_delete",
        summary="Delete a value",
        parameters=schema.PARAMETERS,
        request=docs.KeyRequest,
        responses={200: docs.DeleteResponse, **schema.common_errors(*KEY_ERRORS)},
        examples=[
            OpenApiExample("delete", value={"key": "user:42:profile"}, request_only=True),
            OpenApiExample("deleted", value={"key": "user:42:profile", "deleted": True}, response_only=True),
        ],
    )
)
class DeleteView(CacheView):
    def handle(self, data, entry):
        key = checked_key(data)
        return {"key": data["key"], "deleted": self.store_call(entry, "delete", key)}


@extend_schema_view(
    post=extend_schema(
        operation_id="cache_mget",
        summary="Read up to 1000 values in one round trip",
        parameters=schema.PARAMETERS,
        request=docs.MgetRequest,
        responses={
            200: docs.MgetResponse,
            **schema.common_errors(*KEY_ERRORS, schema.field_error("keys", "Must hold from 1 to 1000 keys; got 1001.")),
        },
        examples=[
            OpenApiExample("mget", value={"keys": ["a", "b"]}, request_only=True),
            OpenApiExample(
                "one hit, one miss",
                value={
                    "items": [{"hit": True, "key": "a", "value": 1, "ttl_remaining": 60}, {"hit": False, "key": "b"}],
                    "hits": 1,
                    "misses": 1,
                },
                response_only=True,
            ),
        ],
    )
)
class MgetView(CacheView):
    def handle(self, data, entry):
        names = data.get("keys")
        try:
            keys = keyspace.check_key_list(names)
        except keyspace.InvalidField as exc:
            raise invalid(exc)
        found = self.store_call(entry, "mget", keys)
        items = [hit_item(name, result) for name, result in zip(names, found, strict=True)]
        hits = sum(1 for result in found if result is not None)
        return {"items": items, "hits": hits, "misses": len(found) - hits}


@extend_schema_view(
    post=extend_schema(
        operation_id="cache_mset",
        summary="Store up to 1000 values atomically",
        description="All items are validated first; then all are written in one atomic step, or none is.",
        parameters=schema.PARAMETERS,
        request=docs.MsetRequest,
        responses={
            200: docs.MsetResponse,
            **schema.common_errors(
                *KEY_ERRORS,
                schema.field_error("items[1].ttl", "Must be from 1 to 2592000 seconds; got 0."),
                value_limit=True,
            ),
        },
        examples=[
            OpenApiExample(
                "mset",
                value={"items": [{"key": "a", "value": 1, "ttl": 60}, {"key": "b", "value": [1, 2]}]},
                request_only=True,
            ),
            OpenApiExample(
                "stored",
                value={
                    "namespace": "metadata",
                    "count": 2,
                    "items": [{"key": "a", "ttl": 60, "size": 1}, {"key": "b", "ttl": 3600, "size": 5}],
                },
                response_only=True,
            ),
        ],
    )
)
class MsetView(CacheView):
    def handle(self, data, entry):
        context = entry.context
        items = data.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= keyspace.MAX_BATCH:
            raise ApiError("invalid_field", f"items: Must be a list of 1 to {keyspace.MAX_BATCH} items.", field="items")
        batch, described = [], []
        for index, item in enumerate(items):
            field = f"items[{index}]"
            if not isinstance(item, dict):
                raise ApiError("invalid_field", f"{field}: Must be an object.", field=field)
            try:
                key = keyspace.check_key(item.get("key"), f"{field}.key")
                ttl = keyspace.check_ttl(item.get("ttl"), context.namespace.default_ttl, f"{field}.ttl")
            except keyspace.InvalidField as exc:
                raise invalid(exc)
            raw = encode_value(item, context, f"{field}.value")
            batch.append((key, raw, ttl))
            described.append({"key": item["key"], "ttl": ttl, "size": len(raw)})
        self.store_call(entry, "mset", batch)
        return {"namespace": context.namespace.name, "count": len(batch), "items": described}


def admit(entry):
    store_call(entry, "admit")
    return entry


class StatsView(APIView):
    authentication_classes = [auth.ApiKeyAuthentication]
    permission_classes = []
    throttle_classes = []
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonOnlyNegotiation

    def perform_authentication(self, request):
        # As the cache views: the entry's token is checked by the store call in get (admit), not here.
        self.entry = authenticate_optimistically(request._request)
        request.user, request.auth = auth.ApiKeyUser(self.entry.context), self.entry.context

    @extend_schema(
        operation_id="cache_stats",
        summary="Usage of the namespace",
        description=(
            "Today's figures (UTC) and those of the previous 30 days that had usage. Requests count operations: "
            "an mget or mset of n keys counts n. A stats call counts against the namespace's rate limit but is "
            "not itself counted in the figures."
        ),
        parameters=schema.PARAMETERS,
        responses={200: docs.StatsResponse, **schema.common_errors(body=False)},
        examples=[
            OpenApiExample(
                "stats",
                value={
                    "namespace": "metadata",
                    "today": {
                        "requests": 120,
                        "hits": 90,
                        "misses": 10,
                        "hit_rate": 0.9,
                        "bytes_served": 5400,
                        "bytes_written": 2300,
                    },
                    "days": [
                        {
                            "date": "2026-11-24",
                            "requests": 5000,
                            "hits": 4000,
                            "misses": 500,
                            "hit_rate": 0.8889,
                            "bytes_served": 240000,
                            "bytes_written": 81000,
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        # Counts against the namespace's rate window like any cache call, but is not metered.
        entry = with_current_auth(request._request, self.entry, admit)
        context = entry.context
        today = metering.utc_today()
        try:
            by_date = selectors.usage_figures(context.organization_id, context.namespace.id, today)
        except (sqlite3.Error, _redis_error()):
            raise cache_unavailable()
        today_figures = by_date.pop(today.isoformat())
        return Response(
            {
                "namespace": context.namespace.name,
                "today": selectors.with_rate(today_figures),
                "days": [{"date": date, **selectors.with_rate(figures)} for date, figures in sorted(by_date.items())],
            }
        )


def _redis_error():
    from redis.exceptions import RedisError

    return RedisError
