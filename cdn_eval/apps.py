from django.apps import AppConfig


class CdnEvalConfig(AppConfig):
    name = "cdn_eval"

    def ready(self):
        from tenants.services import namespace_deleted

        namespace_deleted.connect(_free_spooled_logs, dispatch_uid="cdn_eval_free_spooled_logs")


def _free_spooled_logs(sender, namespace, **kwargs):
    # the rows go with the namespace (CASCADE); spooled log files would not
    from cdn_eval.services import delete_inputs_for_namespace

    delete_inputs_for_namespace(namespace.id)
