from django.apps import AppConfig


class DedupConfig(AppConfig):
    name = "dedup"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tenants.models import Namespace
        from tenants.services import namespace_deleted

        def free_namespace_files(sender, namespace, **kwargs):
            from dedup import services

            services.delete_namespace_files(namespace)

        namespace_deleted.connect(free_namespace_files, sender=Namespace, dispatch_uid="dedup-free-namespace")
