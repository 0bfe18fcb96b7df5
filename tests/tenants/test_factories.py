import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "factory_class",
    [
        factories.NamespaceConfigFactory,
        factories.NamespaceTotalsFactory,
        factories.StorageDailyFactory,
        factories.EvaluationFactory,
        factories.AppliedUsageBatchFactory,
    ],
)
def test_factories_make_valid_rows_of_one_organization(factory_class):
    first, second = factory_class(), factory_class()
    for row in (first, second):
        row.full_clean()
        organization = getattr(row, "organization", None)
        if organization is not None:
            assert organization == row.namespace.organization
    assert first.pk != second.pk
