import re
import threading

import pytest
from django.db import connection, connections

from config.errors import ApiError
from tenants import nodes, selectors, services
from tenants.exceptions import PlanLimitExceeded
from tenants.models import ApiKey, Membership, Namespace, Organization, Plan, Sector
from tests.factories import DEFAULT_PASSWORD, OrganizationFactory, PlanFactory, UserFactory

pytestmark = pytest.mark.django_db

FILESTORAGE = {
    "storage": ["file_dedup_cache", "seagate_lyve_connector"],
    "cdn": ["cdn_accelerator", "desktop_cdn"],
    "metadata": ["audit_log_cache", "metadata_cache"],
}


def provision(name="JettyThunder", sector="filestorage", email=None, plan="starter"):
    return services.provision_organization(
        owner_email=email or f"owner-{Organization.objects.count()}@example.com",
        owner_password=DEFAULT_PASSWORD,
        name=name,
        sector_slug=sector,
        plan_slug=plan,
    )


def test_migrations_seed_plans_with_their_limits():
    limits = {p.slug: (p.max_namespaces, p.max_api_keys) for p in Plan.objects.all()}
    assert limits == {"starter": (5, 3), "professional": (20, 10), "enterprise": (None, None)}


def test_at_least_five_sectors_and_every_template_node_is_catalogued():
    sectors = list(Sector.objects.all())
    assert {"filestorage", "ecommerce", "media", "saas", "finance", "healthcare"} <= {s.slug for s in sectors}
    for sector in sectors:
        assert sector.namespaces, sector.slug
        for spec in sector.namespaces:
            assert nodes.unknown_nodes(spec["nodes"]) == [], (sector.slug, spec)


def test_jettythunder_filestorage_is_provisioned_exactly():
    result = provision()
    org = result.organization
    assert org.slug == "jettythunder"
    assert org.plan.slug == "starter"
    assert {ns.name: sorted(ns.nodes) for ns in org.namespaces.all()} == FILESTORAGE
    assert Membership.objects.get(organization=org).role == "owner"
    assert Membership.objects.get(organization=org).user == result.owner
    assert re.fullmatch(r"ac_[0-9a-f]{64}", result.issued_key.plaintext)
    assert selectors.find_api_key(result.issued_key.plaintext).organization == org


@pytest.mark.parametrize("sector", ["filestorage", "ecommerce", "media", "saas", "finance", "healthcare"])
def test_every_sector_provisions_its_template(sector):
    result = provision(name=f"Acme {sector}", sector=sector)
    template = Sector.objects.get(slug=sector).namespaces
    got = {ns.name: sorted(ns.nodes) for ns in result.organization.namespaces.all()}
    assert got == {spec["name"]: sorted(spec["nodes"]) for spec in template}
    assert ApiKey.objects.filter(organization=result.organization).count() == 1


def test_slug_clashes_get_suffixes():
    slugs = [provision(name="JettyThunder").organization.slug for _ in range(3)]
    assert slugs == ["jettythunder", "jettythunder-2", "jettythunder-3"]


def test_slug_allocation_never_runs_out_of_suffixes():
    OrganizationFactory(name="Acme", slug="acme")
    for n in range(2, 61):  # more clashes than the old fixed number of attempts (50)
        OrganizationFactory(name="Acme", slug=f"acme-{n}")
    OrganizationFactory(name="Acme 2024", slug="acme-2024")  # a number in a name is not a suffix to continue
    assert provision(name="Acme").organization.slug == "acme-61"
    assert provision(name="Acme").organization.slug == "acme-62"


def test_slug_allocation_fills_the_first_gap():
    OrganizationFactory(name="Gap", slug="gap")
    OrganizationFactory(name="Gap", slug="gap-3")
    assert provision(name="Gap").organization.slug == "gap-2"


def test_a_misconfigured_sector_template_refuses_signup_cleanly():
    Sector.objects.filter(slug="media").update(namespaces=[{"nodes": ["kv_cache"]}])  # saved before validation
    with pytest.raises(ApiError) as err:
        provision(sector="media")
    assert err.value.extra["field"] == "organization.sector"
    assert not Organization.objects.exists()


def test_provisioning_is_atomic_when_a_later_step_fails():
    UserFactory(email="taken@example.com")
    with pytest.raises(ApiError) as err:
        provision(email="taken@example.com")
    assert err.value.extra["field"] == "email"
    assert not Organization.objects.exists()


def test_unknown_sector_names_the_field():
    with pytest.raises(ApiError) as err:
        provision(sector="astrology")
    assert err.value.extra["field"] == "organization.sector"


def test_starter_allows_three_active_keys_and_refuses_the_fourth():
    org = provision().organization  # 1 key from signup
    services.create_api_key(org, label="second")
    services.create_api_key(org, label="third")
    with pytest.raises(PlanLimitExceeded) as err:
        services.create_api_key(org, label="fourth")
    assert err.value.extra["limit"] == "max_api_keys"
    assert "3" in err.value.message
    assert selectors.active_key_count(org) == 3


def test_revoked_keys_free_a_slot_under_the_limit():
    org = provision().organization
    keys = [services.create_api_key(org).api_key for _ in range(2)]
    services.revoke_api_key(keys[0])
    services.create_api_key(org, label="replacement")
    assert selectors.active_key_count(org) == 3


def test_namespace_limit_at_the_edge():
    org = provision().organization  # filestorage: 3 namespaces, starter allows 5
    services.create_namespace(org, "extra-1", ["kv_cache"])
    services.create_namespace(org, "extra-2", ["kv_cache"])
    with pytest.raises(PlanLimitExceeded) as err:
        services.create_namespace(org, "extra-3", ["kv_cache"])
    assert err.value.extra["limit"] == "max_namespaces"
    assert Namespace.objects.filter(organization=org).count() == 5


def test_enterprise_has_no_key_limit():
    org = OrganizationFactory(plan=PlanFactory(slug="enterprise"))
    for _ in range(12):
        services.create_api_key(org)
    assert selectors.active_key_count(org) == 12


def test_namespace_names_and_nodes_are_validated():
    org = provision().organization
    for bad in ["Upper", "has space", "", "-lead", "x" * 65]:
        with pytest.raises(ApiError):
            services.create_namespace(org, bad)
    with pytest.raises(ApiError) as err:
        services.create_namespace(org, "fine", ["no_such_node"])
    assert "no_such_node" in err.value.message


def test_database_never_holds_a_plaintext_key():
    issued = [provision(name=f"Org {i}").issued_key.plaintext for i in range(2)]
    secret_parts = [p[3:] for p in issued]  # the 64 hex digits
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            dump = repr(cursor.fetchall())
            for part in secret_parts:
                assert part not in dump, f"plaintext key found in {table}"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_signups_racing_for_one_name_both_succeed_with_distinct_slugs():
    barrier = threading.Barrier(2)
    slugs, errors = [], []

    def signup(i):
        try:
            barrier.wait()
            slugs.append(provision(name="RaceCorp", email=f"racer{i}@example.com").organization.slug)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=signup, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(slugs) == ["racecorp", "racecorp-2"]
