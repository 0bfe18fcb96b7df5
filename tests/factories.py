"""factory-boy factories for every tenant model, plus the simple rows of dedup, cdn_eval and portal."""

import datetime

import factory
from django.utils import timezone

from tenants import keys
from tenants.models import ApiKey, Membership, Namespace, Organization, Plan, Sector, User

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PlanFactory(factory.django.DjangoModelFactory):
    """The seeded plans by slug (starter/professional/enterprise), created if absent."""

    class Meta:
        model = Plan
        django_get_or_create = ("slug",)

    slug = "starter"
    name = factory.LazyAttribute(lambda o: o.slug.title())


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector
        django_get_or_create = ("slug",)

    slug = "filestorage"
    name = factory.LazyAttribute(lambda o: o.slug.title())


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    sector = factory.SubFactory(SectorFactory)
    plan = factory.SubFactory(PlanFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OWNER


class NamespaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Namespace

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"ns{n}")
    nodes = factory.LazyFunction(lambda: ["kv_cache"])
    default_ttl = 86400


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An ApiKey row; the plaintext is kept on the instance as `.plaintext` for tests."""

    class Meta:
        model = ApiKey

    plaintext = factory.LazyFunction(keys.generate_key)
    organization = factory.SubFactory(OrganizationFactory)
    digest = factory.LazyAttribute(lambda o: keys.digest(o.plaintext))
    prefix = factory.LazyAttribute(lambda o: keys.display_prefix(o.plaintext))
    label = "test key"
    created_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        plaintext = kwargs.pop("plaintext", None)
        obj = super()._create(model_class, *args, **kwargs)
        obj.plaintext = plaintext
        return obj


# --- Rows of the other apps that tests set up directly ---------------------------------------------
# (dedup's Pack/Chunk/File rows need real pack bytes and manifests: tests make them through dedup.services.)


class NamespaceConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dedup.NamespaceConfig"

    namespace = factory.SubFactory(NamespaceFactory)


class NamespaceTotalsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dedup.NamespaceTotals"

    namespace = factory.SubFactory(NamespaceFactory)


class StorageDailyFactory(factory.django.DjangoModelFactory):
    """One day's snapshot of what a namespace holds."""

    class Meta:
        model = "dedup.StorageDaily"

    namespace = factory.SubFactory(NamespaceFactory)
    organization = factory.LazyAttribute(lambda o: o.namespace.organization)
    day = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    files = 10
    logical_bytes = 10 * 1024 * 1024
    stored_bytes = 4 * 1024 * 1024


class EvaluationFactory(factory.django.DjangoModelFactory):
    """A queued inline evaluation (no spooled input)."""

    class Meta:
        model = "cdn_eval.Evaluation"

    namespace = factory.SubFactory(NamespaceFactory, nodes=["cdn_accelerator", "desktop_cdn"])
    organization = factory.LazyAttribute(lambda o: o.namespace.organization)


class AppliedUsageBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "portal.AppliedUsageBatch"

    batch_id = factory.Sequence(lambda n: f"batch-{n:08d}")
    run_id = "run-0001"
    namespace = factory.SubFactory(NamespaceFactory)
    organization = factory.LazyAttribute(lambda o: o.namespace.organization)
    day = datetime.date(2026, 1, 1)
    counts = factory.LazyFunction(lambda: {"hits": 1, "misses": 0})
