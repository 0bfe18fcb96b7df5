from django.apps import AppConfig


class CacheApiConfig(AppConfig):
    name = "cache_api"

    def ready(self):
        from cache_api import schema, signals  # noqa: F401  (schema registers the OpenAPI auth extension)

        signals.connect()
