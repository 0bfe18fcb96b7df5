import pytest

from tenants.models import Membership
from tests.factories import MembershipFactory, NamespaceFactory, OrganizationFactory, PlanFactory, UserFactory


@pytest.fixture(autouse=True)
def _private_local_store(settings, tmp_path):
    """On the embedded defaults, counters go to a SQLite file of this test only (never shared with other runs)."""
    settings.LOCAL_STORE_PATH = str(tmp_path / "localstore.sqlite3")


@pytest.fixture
def organization(db):
    org = OrganizationFactory(name="JettyThunder", slug="jettythunder", plan=PlanFactory(slug="starter"))
    NamespaceFactory(organization=org, name="cdn", nodes=["kv_cache", "cdn_accelerator"])
    NamespaceFactory(organization=org, name="storage", nodes=["kv_cache", "file_dedup_cache"])
    return org


@pytest.fixture
def owner(organization):
    return MembershipFactory(organization=organization, role=Membership.Role.OWNER).user


@pytest.fixture
def other_organization(db):
    org = OrganizationFactory(name="Rival", slug="rival")
    NamespaceFactory(organization=org, name="cdn")
    MembershipFactory(organization=org, user=UserFactory(email="rival@example.com"), role=Membership.Role.OWNER)
    return org


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at full strength costs ~0.3 s per hash; these tests check flows, not the hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
