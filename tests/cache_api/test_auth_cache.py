"""The zero-SQL auth cache behind tenants.auth.resolve: no queries when warm, every change seen at once."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cache_api import authcache, stores
from tenants import auth, services
from tenants.models import ApiKey, Organization
from tests.cache_api.conftest import call
from tests.factories import NamespaceFactory, PlanFactory

pytestmark = pytest.mark.django_db

OPERATIONS = [
    ("set", {"key": "k", "value": {"v": 1}}),
    ("get", {"key": "k"}),
    ("mget", {"keys": ["k", "x"]}),
    ("mset", {"items": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]}),
    ("delete", {"key": "a"}),
]


def test_hot_path_runs_zero_sql_after_warm_up(store_kind, tenant, django_assert_num_queries):
    client = tenant.client()
    call(client, "get", {"key": "warm-up"})
    with django_assert_num_queries(0):
        for _ in range(3):
            for endpoint, body in OPERATIONS:
                assert call(client, endpoint, body).status_code == 200


def test_resolve_for_other_apps_runs_zero_sql_after_warm_up(store_kind, tenant, django_assert_num_queries):
    auth.resolve(tenant.plaintext, tenant.namespace.name)
    with django_assert_num_queries(0):
        context = auth.resolve(tenant.plaintext, tenant.namespace.name)
    assert context.organization_id == tenant.organization.id
    assert context.namespace.id == tenant.namespace.id


@pytest.mark.services
def test_new_process_reads_the_shared_copy_not_the_database(tenant, django_assert_num_queries):
    client = tenant.client()
    call(client, "get", {"key": "k"})
    authcache.clear()  # what a fresh worker has
    with django_assert_num_queries(0):
        assert call(client, "get", {"key": "k"}).status_code == 200


def test_revocation_is_effective_on_the_next_request(store_kind, tenant, django_capture_on_commit_callbacks):
    client = tenant.client()
    assert call(client, "get", {"key": "k"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_api_key(tenant.api_key)
    assert call(client, "get", {"key": "k"}).status_code == 401
    with pytest.raises(auth.ApiError) as raised:
        auth.resolve(tenant.plaintext, tenant.namespace.name)
    assert raised.value.code == "invalid_api_key"


def test_change_made_by_another_process_is_seen_through_the_version_token(store_kind, tenant):
    """Simulates another process: the database changes without signals here, then only the token moves."""
    client = tenant.client()
    assert call(client, "set", {"key": "k", "value": 1}).status_code == 200
    auth.resolve(tenant.plaintext, tenant.namespace.name)
    ApiKey.objects.filter(pk=tenant.api_key.pk).update(revoked_at=timezone.now())
    # This process's entry is still warm: without a token change it would keep answering 200.
    assert call(client, "get", {"key": "k"}).status_code == 200
    stores.get_store().bump_auth_tokens(tenant.organization.id, [tenant.namespace.id])
    assert call(client, "get", {"key": "k"}).status_code == 401
    with pytest.raises(auth.ApiError):
        auth.resolve(tenant.plaintext, tenant.namespace.name)


def test_deactivated_organization_is_refused_at_once(store_kind, tenant, django_capture_on_commit_callbacks):
    client = tenant.client()
    assert call(client, "get", {"key": "k"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.set_active(tenant.organization, False)
    assert call(client, "get", {"key": "k"}).status_code == 401
    with django_capture_on_commit_callbacks(execute=True):
        services.set_active(Organization.objects.get(pk=tenant.organization.pk), True)
    assert call(client, "get", {"key": "k"}).status_code == 200


def test_plan_change_applies_its_limits_at_once(store_kind, tenant, django_capture_on_commit_callbacks):
    client = tenant.client()
    assert call(client, "set", {"key": "k", "value": "x" * 50}).status_code == 200
    tiny = PlanFactory(slug="tiny", max_value_bytes=10)
    with django_capture_on_commit_callbacks(execute=True):
        services.change_plan(tenant.organization, tiny)
    assert call(client, "set", {"key": "k", "value": "x" * 50}).status_code == 413


def test_plan_edited_in_place_applies_to_its_organizations(store_kind, make_tenant):
    tenant = make_tenant(max_value_bytes=1000)
    client = tenant.client()
    assert call(client, "set", {"key": "k", "value": "x" * 50}).status_code == 200
    plan = tenant.organization.plan
    plan.max_value_bytes = 10
    plan.save()
    assert call(client, "set", {"key": "k", "value": "x" * 50}).status_code == 413


def test_namespace_changes_apply_at_once(store_kind, tenant, django_capture_on_commit_callbacks):
    client = tenant.client()
    assert call(client, "set", {"key": "k", "value": 1}).json()["ttl"] == 86400
    with django_capture_on_commit_callbacks(execute=True):
        services.update_namespace(tenant.namespace, default_ttl=60)
    assert call(client, "set", {"key": "k", "value": 1}).json()["ttl"] == 60
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_namespace(tenant.namespace)
    assert call(client, "get", {"key": "k"}).json()["error"]["code"] == "namespace_not_found"


def test_allowed_namespaces_change_applies_at_once(store_kind, tenant):
    client = tenant.client()
    assert call(client, "get", {"key": "k"}).status_code == 200
    other = NamespaceFactory(organization=tenant.organization, name="other")
    services.set_key_namespaces(tenant.api_key, [other])
    assert call(client, "get", {"key": "k"}).json()["error"]["code"] == "namespace_not_allowed"


def test_last_used_is_written_once_then_again_only_after_a_minute(store_kind, tenant, django_assert_num_queries):
    client = tenant.client()
    call(client, "get", {"key": "k"})
    tenant.api_key.refresh_from_db()
    first = tenant.api_key.last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        call(client, "get", {"key": "k"})
    entry = authcache.lookup(tenant.plaintext, tenant.namespace.name)
    entry.touched_at -= authcache.TOUCH_EVERY_SECONDS  # as if a minute had passed
    ApiKey.objects.filter(pk=tenant.api_key.pk).update(last_used_at=first - timezone.timedelta(minutes=5))
    with CaptureQueriesContext(connection) as queries:
        call(client, "get", {"key": "k"})
    # The one conditional UPDATE (inside this test's transaction it runs in a savepoint; requests run in
    # autocommit, where it is the only statement).
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) == 1 and statements[0].startswith("UPDATE")
    tenant.api_key.refresh_from_db()
    assert tenant.api_key.last_used_at > first - timezone.timedelta(minutes=5)


def test_store_down_for_resolve_falls_back_to_the_database(tenant, monkeypatch):
    """Other apps keep authenticating when the cache store is unreachable (the cache API answers 503)."""

    def unavailable(*args, **kwargs):
        raise stores.StoreUnavailable("down")

    store = stores.get_store()
    monkeypatch.setattr(store, "shared_get", unavailable)
    monkeypatch.setattr(store, "auth_token", unavailable)
    context = auth.resolve(tenant.plaintext, tenant.namespace.name)
    assert context.organization_id == tenant.organization.id
    services.revoke_api_key(tenant.api_key)
    with pytest.raises(auth.ApiError):
        auth.resolve(tenant.plaintext, tenant.namespace.name)


SERVER = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_X_API_KEY=sys.argv[1], HTTP_X_NAMESPACE=sys.argv[2])

    def request():
        with CaptureQueriesContext(connection) as queries:
            status = client.post("/api/cache/get", b'{"key": "k"}', content_type="application/json").status_code
        return f"{status} {len(queries)}"

    request()
    print("warm", request(), flush=True)
    sys.stdin.readline()
    print("after", request(), flush=True)
    """
)

# Writes (and commits) the tenant, revokes its key on demand, and removes everything at the end,
# so the test database is left as it was without a transactional test (which would flush it).
ADMIN = textwrap.dedent(
    """
    import secrets
    import sys
    import django
    django.setup()
    from tenants import services
    from tenants.models import ApiKey, Namespace, Organization, Plan, Sector

    tag = secrets.token_hex(4)
    plan = Plan.objects.create(slug=f"xproc-{tag}", name="Cross-process")
    sector = Sector.objects.create(slug=f"xproc-{tag}", name="Cross-process")
    organization = Organization.objects.create(name="Cross-process", slug=f"xproc-{tag}", sector=sector, plan=plan)
    Namespace.objects.create(organization=organization, name="ns", nodes=["kv_cache"])
    issued = services.create_api_key(organization)
    print(issued.plaintext, "ns", flush=True)
    sys.stdin.readline()
    services.revoke_api_key(ApiKey.objects.get(pk=issued.api_key.pk))
    print("revoked", flush=True)
    sys.stdin.readline()
    organization.delete()
    plan.delete()
    sector.delete()
    print("clean", flush=True)
    """
)


@pytest.mark.services
def test_revocation_reaches_another_process_on_its_next_request():
    database = connection.settings_dict  # the test database, which the child processes share
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "REDIS_URL": django_settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }

    def start(script, *args):
        return subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tell(process):
        process.stdin.write("go\n")
        process.stdin.flush()

    admin = start(ADMIN)
    server = None
    try:
        plaintext, namespace = admin.stdout.readline().split()
        server = start(SERVER, plaintext, namespace)
        assert server.stdout.readline().split() == ["warm", "200", "0"]  # its cache is warm: no SQL
        tell(admin)
        assert admin.stdout.readline().strip() == "revoked"  # committed in the admin process
        tell(server)
        assert server.stdout.readline().split()[:2] == ["after", "401"]
        tell(admin)
        assert admin.stdout.readline().strip() == "clean"
    finally:
        for process in (admin, server):
            if process is not None:
                process.kill()
                process.wait()


class Later:
    """Stands in for the `time` module in cache_api.authcache: the clock `seconds` ahead."""

    def __init__(self, seconds):
        self.seconds = seconds

    def time(self):
        return time.time() + self.seconds

    def monotonic(self):
        return time.monotonic() + self.seconds


@pytest.mark.services
def test_shared_copy_honours_the_staleness_bound_from_its_database_read(tenant, monkeypatch, django_assert_num_queries):
    """If a revocation's token change never reached Redis, no process may serve the key past 60 s,
    including a process that picks up the shared copy another one wrote (its clock does not restart)."""
    client = tenant.client()
    assert call(client, "get", {"key": "k"}).status_code == 200  # read from the database, shared copy written
    ApiKey.objects.filter(pk=tenant.api_key.pk).update(revoked_at=timezone.now())  # and the token bump is lost
    monkeypatch.setattr(authcache, "time", Later(authcache.MAX_AGE_SECONDS - 20))
    authcache.clear()  # a fresh worker
    with django_assert_num_queries(0):  # within the bound the shared copy is still used
        assert call(client, "get", {"key": "k"}).status_code == 200
    monkeypatch.setattr(authcache, "time", Later(authcache.MAX_AGE_SECONDS + 1))
    authcache.clear()  # another fresh worker, past the bound: the copy is too old, the database says revoked
    assert call(client, "get", {"key": "k"}).status_code == 401
    with pytest.raises(auth.ApiError):
        auth.resolve(tenant.plaintext, tenant.namespace.name)


def test_invalidation_moves_the_token_of_every_namespace_of_the_organization(store_kind, tenant, make_tenant):
    second = NamespaceFactory(organization=tenant.organization, name="second")
    stranger = make_tenant()
    store = stores.get_store()
    org = tenant.organization.id
    namespaces = (None, tenant.namespace.id, second.id)
    before = {ns: store.ensure_auth_token(org, ns) for ns in namespaces}
    theirs = store.ensure_auth_token(stranger.organization.id, stranger.namespace.id)
    authcache.invalidate_organization(org)
    after = {ns: store.auth_token(org, ns) for ns in namespaces}
    assert all(after[ns] != before[ns] for ns in namespaces)
    assert store.auth_token(stranger.organization.id, stranger.namespace.id) == theirs


def test_deleting_a_namespace_moves_its_own_token(store_kind, tenant, django_capture_on_commit_callbacks):
    """The deleted namespace is no longer in the database when the organization's tokens move: it must
    still be moved, or another process's warm entry for it would keep working."""
    client = tenant.client()
    assert call(client, "get", {"key": "k"}).status_code == 200
    store = stores.get_store()
    org, ns = tenant.organization.id, tenant.namespace.id
    before = store.auth_token(org, ns)
    assert before is not None
    entry = authcache.lookup(tenant.plaintext, tenant.namespace.name)
    with django_capture_on_commit_callbacks(execute=False):  # the drop task would delete the token outright
        services.delete_namespace(tenant.namespace)
    assert store.auth_token(org, ns) != before
    with pytest.raises(stores.StaleAuth):  # another process's warm entry for it
        store.get(entry.scope, b"k")
