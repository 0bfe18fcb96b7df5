"""OpenAPI pieces of the cache API: the X-API-Key security scheme, the X-Namespace header, error examples."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from cache_api.serializers import ErrorResponse


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """X-API-Key for tenants.auth.ApiKeyAuthentication and its subclasses (one component per class)."""

    target_class = "tenants.auth.ApiKeyAuthentication"
    match_subclasses = True

    @property
    def name(self):
        cls = type(self.target)
        return "ApiKeyAuth" if cls is self.target_class else f"ApiKeyAuth{cls.__name__}"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "An API key of your organization (`ac_` + 64 hex digits), from the portal.",
        }


NAMESPACE_HEADER = OpenApiParameter(
    name="X-Namespace",
    type=str,
    location=OpenApiParameter.HEADER,
    required=True,
    description="Name of one of your organization's namespaces, e.g. `metadata`.",
)


RETRY_AFTER_HEADER = OpenApiParameter(
    name="Retry-After",
    type=int,
    location=OpenApiParameter.HEADER,
    response=[429, 503],
    description="Seconds to wait before retrying.",
)

# Every cache operation: the request header, and the response header of its 429 and 503 answers.
PARAMETERS = [NAMESPACE_HEADER, RETRY_AFTER_HEADER]


def _error(code, message, **extra):
    return {"error": {"code": code, "message": message, **extra}}


def _response(description, *examples):
    return OpenApiResponse(
        ErrorResponse,
        description=description,
        examples=[OpenApiExample(name, value=value, response_only=True) for name, value in examples],
    )


UNAUTHORIZED = _response(
    "The API key is missing, unknown, revoked or expired.",
    ("missing_api_key", _error("missing_api_key", "Send your API key in the X-API-Key header.")),
    ("invalid_api_key", _error("invalid_api_key", "The API key is not valid (unknown, revoked or expired).")),
)
FORBIDDEN = _response(
    "The key is limited to other namespaces.",
    ("namespace_not_allowed", _error("namespace_not_allowed", "This API key may not use namespace 'metadata'.")),
)
NOT_FOUND = _response(
    "No namespace of that name in the key's organization (whether or not another organization has one).",
    ("namespace_not_found", _error("namespace_not_found", "No namespace 'metadata' in your organization.")),
)
RATE_LIMITED = _response(
    "The plan's requests per second are used up for this namespace (the limit applies to each namespace"
    " separately; stats calls count too); retry after the `Retry-After` seconds.",
    (
        "rate_limited",
        _error(
            "rate_limited",
            "Your plan allows 200 requests per second per namespace; retry in 1 s.",
            limit=200,
            limit_scope="namespace",
        ),
    ),
)
UNAVAILABLE = _response(
    "The cache store (Redis) or the database cannot be reached; retry after the `Retry-After` seconds."
    " Other endpoints keep working.",
    ("cache_unavailable", _error("cache_unavailable", "The cache is temporarily unavailable; retry shortly.")),
    ("database_unavailable", _error("database_unavailable", "The database is temporarily unavailable; retry shortly.")),
)
UNSUPPORTED_MEDIA_TYPE = _response(
    "The body is not sent as `application/json`.",
    (
        "unsupported_media_type",
        _error("unsupported_media_type", 'Unsupported media type "application/x-www-form-urlencoded" in request.'),
    ),
)

VALUE_TOO_LARGE = (
    "value_too_large",
    _error(
        "value_too_large",
        "value is 2097152 bytes; your plan allows at most 1048576 bytes per value.",
        field="value",
        limit=1048576,
    ),
)
BODY_TOO_LARGE = (
    "body_too_large",
    _error("body_too_large", "The body is 70000000 bytes; at most 67108864 are accepted.", limit=67108864),
)


def bad_request(*examples, body=True):
    invalid_json = (
        ("invalid_json", _error("invalid_json", "Request body is not valid JSON: unexpected character", field="body")),
    )
    return _response(
        "Bad input; `field` names the offending field.",
        (
            "missing_namespace",
            _error("missing_namespace", "Send the namespace name in the X-Namespace header.", field="X-Namespace"),
        ),
        *(invalid_json if body else ()),
        *examples,
    )


def common_errors(*bad_request_examples, value_limit=False, body=True):
    """The error answers of a cache operation; `body`: it takes a JSON body (POST), `value_limit`: it stores values."""
    responses = {
        400: bad_request(*bad_request_examples, body=body),
        401: UNAUTHORIZED,
        403: FORBIDDEN,
        404: NOT_FOUND,
        429: RATE_LIMITED,
        503: UNAVAILABLE,
    }
    if body:
        too_large = (VALUE_TOO_LARGE, BODY_TOO_LARGE) if value_limit else (BODY_TOO_LARGE,)
        responses[413] = _response(
            "A value is larger than the plan allows (`value_too_large`), or the body exceeds the API's limit"
            " (`body_too_large`)."
            if value_limit
            else "The body exceeds the API's limit.",
            *too_large,
        )
        responses[415] = UNSUPPORTED_MEDIA_TYPE
    return responses


def field_error(field, message):
    return (f"invalid {field}", _error("invalid_field", f"{field}: {message}", field=field))
