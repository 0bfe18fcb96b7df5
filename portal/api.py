"""GET /api/usage: the rolled-up rows plus today's live counters, by API key or portal session."""

import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_api import metering
from config.errors import ApiError
from portal import figures, selectors
from portal.access import current_membership
from tenants import auth
from tenants.models import ApiKey, Namespace, Organization

DEFAULT_DAYS = 30
MAX_DAYS = 3660
ROW_FIELDS = (
    "requests",
    "hits",
    "misses",
    "hit_rate",
    "sets",
    "deletes",
    "bytes_served",
    "bytes_written",
    "dedup_bytes_saved",
    "upload_bytes_saved",
    "origin_bytes",
    "file_bytes_served",
    "origin_hit_bytes",
    "bandwidth_saved_bytes",
    "cost_saved_usd",
)


class UsageKeyAuthentication(auth.ApiKeyAuthentication):
    """The API key if one is sent (namespace from ?namespace=, else X-Namespace); otherwise defer to the session.

    A subclass so the API's X-API-Key security scheme documents it too.
    """

    def authenticate(self, request):
        if not request.META.get(auth.API_KEY_HEADER):
            return None
        namespace = request.query_params.get("namespace") or request.META.get(auth.NAMESPACE_HEADER) or None
        context = auth.resolve(request.META[auth.API_KEY_HEADER], namespace)
        return auth.ApiKeyUser(context), context


EARLIEST_DATE, LATEST_DATE = figures.EARLIEST_DATE, figures.LATEST_DATE  # the portal's range form uses the same


def _date_param(request, name, default):
    value = request.query_params.get(name)
    if not value:
        return default
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise ApiError("invalid_field", f"{name}: expected a date as YYYY-MM-DD, got '{value}'.", field=name)
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ApiError(
            "invalid_field", f"{name}: must be between {EARLIEST_DATE} and {LATEST_DATE}, got '{value}'.", field=name
        )
    return day


def _scope(request):
    """(organization, namespace ids or None for all) the caller may read."""
    if isinstance(request.auth, auth.TenantContext):
        context = request.auth
        organization = Organization.objects.get(pk=context.organization_id)
        if context.namespace is not None:
            return organization, [context.namespace.id]
        allowed = list(
            ApiKey.allowed_namespaces.through.objects.filter(apikey_id=context.api_key_id).values_list(
                "namespace_id", flat=True
            )
        )
        return organization, allowed or None
    membership = current_membership(request._request)
    if membership is None:
        raise ApiError("no_organization", "Your account does not belong to an organization.", status.HTTP_403_FORBIDDEN)
    organization = membership.organization
    name = request.query_params.get("namespace")
    if not name:
        return organization, None
    namespace = Namespace.objects.filter(organization=organization, name=name).first()
    if namespace is None:
        raise auth.namespace_not_found(name)
    return organization, [namespace.id]


def serialize_row(row):
    out = {name: row.get(name) for name in ROW_FIELDS}
    out["hit_rate"] = figures.hit_rate(row["hits"], row["misses"])
    out["cost_saved_usd"] = float(row["cost_saved_usd"])
    return out


class UsageView(APIView):
    authentication_classes = [UsageKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Usage per day and namespace, including counts not yet rolled up",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day (default: 29 days before `to`)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day, inclusive (default: today)."),
            OpenApiParameter("namespace", OpenApiTypes.STR, description="Only this namespace (default: all allowed)."),
        ],
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "One day",
                response_only=True,
                value={
                    "from": "2026-11-25",
                    "to": "2026-11-25",
                    "rows": [
                        {
                            "date": "2026-11-25",
                            "namespace": "cdn",
                            "requests": 12,
                            "hits": 9,
                            "misses": 3,
                            "hit_rate": 0.75,
                            "bytes_served": 9000000,
                            "bandwidth_saved_bytes": 9000000,
                            "cost_saved_usd": 0.00081,
                        }
                    ],
                    "totals": {"requests": 12, "hits": 9, "misses": 3, "hit_rate": 0.75, "cost_saved_usd": 0.00081},
                },
            )
        ],
    )
    def get(self, request):
        today = metering.utc_today()
        end = _date_param(request, "to", today)
        start = _date_param(request, "from", end - datetime.timedelta(days=DEFAULT_DAYS - 1))
        if start > end:
            raise ApiError("invalid_field", "from: must not be after 'to'.", field="from")
        if (end - start).days >= MAX_DAYS:
            raise ApiError("invalid_field", f"from: the range may span at most {MAX_DAYS} days.", field="from")
        organization, namespace_ids = _scope(request)
        result = selectors.usage(organization, start, end, namespace_ids=namespace_ids, today=today)
        rows = [
            {"date": row["date"].isoformat(), "namespace": row["namespace"], **serialize_row(row)}
            for row in result.rows
        ]
        totals = result.totals()
        body_totals = serialize_row(totals)
        body_totals["dedup_rate"] = totals["dedup_rate"]
        return Response(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "rows": rows,
                "totals": body_totals,
                "egress_prices": [
                    {
                        "namespaces": names,
                        "usd_per_gb": None if price.usd_per_gb is None else float(price.usd_per_gb),
                        "source": price.source,
                    }
                    for price, names in result.price_notes()
                ],
            }
        )
