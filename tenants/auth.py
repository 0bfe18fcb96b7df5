"""API-key authentication shared by every API (cache, files, CDN evaluator, usage).

`resolve(plaintext_key, namespace_name)` turns the two headers into a plain,
cacheable TenantContext or raises the documented JSON errors:
401 missing_api_key / invalid_api_key, 404 namespace_not_found,
403 namespace_not_allowed. `ApiKeyAuthentication` plugs it into DRF views.
"""

from dataclasses import dataclass

from rest_framework import status
from rest_framework.authentication import BaseAuthentication

from config.errors import ApiError
from tenants import selectors

API_KEY_HEADER = "HTTP_X_API_KEY"
NAMESPACE_HEADER = "HTTP_X_NAMESPACE"


@dataclass(frozen=True)
class PlanLimits:
    slug: str
    name: str
    requests_per_second: int | None
    max_value_bytes: int
    storage_quota_bytes: int | None
    max_upload_bytes: int


@dataclass(frozen=True)
class NamespaceInfo:
    id: int
    name: str
    nodes: tuple
    default_ttl: int


@dataclass(frozen=True)
class TenantContext:
    """Everything a request needs about its caller; plain data so it can be cached."""

    api_key_id: int
    key_digest: str
    organization_id: int
    organization_slug: str
    plan: PlanLimits
    namespace: NamespaceInfo | None

    def has_node(self, *nodes):
        return self.namespace is not None and any(node in self.namespace.nodes for node in nodes)


class ApiKeyUser:
    """request.user for key-authenticated requests: authenticated, never staff, no session."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, context):
        self.context = context


def missing_key():
    return ApiError("missing_api_key", "Send your API key in the X-API-Key header.", status.HTTP_401_UNAUTHORIZED)


def invalid_key():
    return ApiError(
        "invalid_api_key", "The API key is not valid (unknown, revoked or expired).", status.HTTP_401_UNAUTHORIZED
    )


def namespace_not_found(name):
    return ApiError("namespace_not_found", f"No namespace '{name}' in your organization.", status.HTTP_404_NOT_FOUND)


def namespace_not_allowed(name):
    return ApiError(
        "namespace_not_allowed", f"This API key may not use namespace '{name}'.", status.HTTP_403_FORBIDDEN
    )


def missing_namespace():
    return ApiError("missing_namespace", "Send the namespace name in the X-Namespace header.", field="X-Namespace")


def node_not_enabled(namespace_name, nodes):
    wanted = " or ".join(nodes)
    return ApiError(
        "node_not_enabled",
        f"Namespace '{namespace_name}' does not have the {wanted} node enabled.",
        status.HTTP_403_FORBIDDEN,
    )


def build_context(api_key, namespace_name):
    """TenantContext from the database (the auth cache calls this on a miss)."""
    org = api_key.organization
    plan = org.plan
    namespace = None
    if namespace_name is not None:
        ns = org.namespaces.filter(name=namespace_name).first()
        if ns is None:
            raise namespace_not_found(namespace_name)
        allowed = list(api_key.allowed_namespaces.values_list("id", flat=True))
        if allowed and ns.id not in allowed:
            raise namespace_not_allowed(namespace_name)
        namespace = NamespaceInfo(id=ns.id, name=ns.name, nodes=tuple(ns.nodes), default_ttl=ns.default_ttl)
    return TenantContext(
        api_key_id=api_key.id,
        key_digest=api_key.digest,
        organization_id=org.id,
        organization_slug=org.slug,
        plan=PlanLimits(
            slug=plan.slug,
            name=plan.name,
            requests_per_second=plan.requests_per_second,
            max_value_bytes=plan.max_value_bytes,
            storage_quota_bytes=plan.storage_quota_bytes,
            max_upload_bytes=plan.max_upload_bytes,
        ),
        namespace=namespace,
    )


def resolve(plaintext_key, namespace_name=None):
    if not plaintext_key:
        raise missing_key()
    # Zero SQL in steady state: an in-process cache checked against a per-organization version in Redis.
    from cache_api import authcache

    return authcache.resolve(plaintext_key, namespace_name)


def resolve_from_database(plaintext_key, namespace_name=None):
    """The uncached lookup (the auth cache's fallback when its store is unreachable)."""
    api_key = selectors.find_api_key(plaintext_key)
    if api_key is None:
        raise invalid_key()
    return build_context(api_key, namespace_name)


def resolve_request(request, namespace_required=True):
    meta = request.META
    namespace_name = meta.get(NAMESPACE_HEADER) or None
    context = resolve(meta.get(API_KEY_HEADER, ""), namespace_name)
    if namespace_required and namespace_name is None:
        raise missing_namespace()
    return context


class ApiKeyAuthentication(BaseAuthentication):
    """DRF authentication: request.auth is the TenantContext (namespace header required)."""

    namespace_required = True

    def authenticate(self, request):
        context = resolve_request(request, namespace_required=self.namespace_required)
        return ApiKeyUser(context), context

    def authenticate_header(self, request):
        return "X-API-Key"


class ApiKeyAuthenticationOptionalNamespace(ApiKeyAuthentication):
    namespace_required = False
