from celery import shared_task

from cache_api import metering, stores


@shared_task(name="cache_api.drop_namespace_values", acks_late=True)
def drop_namespace_values(organization_id, namespace_id):
    """Delete a deleted namespace's cached values and usage counters (safe to repeat)."""
    values = stores.get_store().drop_namespace(organization_id, namespace_id)
    metering.drop_namespace_counters(organization_id, namespace_id)
    return values
