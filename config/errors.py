"""The one error contract of every API: {"error": {"code", "message", ...}}.

Views raise ApiError (or DRF exceptions); the DRF exception handler and the
JSON 404/500 handlers below render them, so no API path ever answers with HTML.
A lost database connection in any DRF view is a 503 `database_unavailable`, not a 500.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5


class ApiError(exceptions.APIException):
    """An error with a stable machine code; `extra` fields are merged into the body."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"

    def __init__(self, code, message, status_code=None, headers=None, **extra):
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.extra = extra
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code


def error_body(code, message, **extra):
    return {"error": {"code": code, "message": message, **extra}}


def _first_field_error(detail, prefix=""):
    """Return (field path, message) for the first leaf error in a DRF error dict/list."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            return _first_field_error(value, path)
    if isinstance(detail, list) and detail:
        for index, item in enumerate(detail):
            if item:
                if isinstance(item, (dict, list)):
                    return _first_field_error(item, f"{prefix}[{index}]" if prefix else str(index))
                return prefix, str(item)
    return prefix, str(detail)


def json_exception_handler(exc, context):
    if isinstance(exc, ApiError):
        response = Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status_code)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    if isinstance(exc, (OperationalError, InterfaceError)):
        # PostgreSQL down, restarting or unreachable (connection refused, closed, timed out): transient.
        log.error("database unavailable: %s: %s", type(exc).__name__, exc)
        set_rollback()
        response = Response(
            error_body("database_unavailable", "The database is temporarily unavailable; retry shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_field_error(exc.detail)
        text = f"{field}: {message}" if field else message
        response.data = error_body("invalid_field", text, field=field or None, details=exc.detail)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body("invalid_json", f"Request body is not valid JSON: {exc.detail}", field="body")
    elif isinstance(exc, exceptions.Throttled):
        response.data = error_body("rate_limited", str(exc.detail))
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc.detail, str) or not isinstance(exc.detail, (dict, list)):
            message = str(exc.detail)
        else:
            message = str(exc.detail)
        response.data = error_body(code, message)
    return response


def json_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)


def json_server_error(request):
    return JsonResponse(error_body("server_error", "Internal error; it has been logged."), status=500)
