from django.conf import settings
from django.urls import path

from cache_api import views

urlpatterns = [
    path("set", views.SetView.as_view(), name="cache-set"),
    path("get", views.GetView.as_view(), name="cache-get"),
    path("delete", views.DeleteView.as_view(), name="cache-delete"),
    path("mget", views.MgetView.as_view(), name="cache-mget"),
    path("mset", views.MsetView.as_view(), name="cache-mset"),
    path("stats", views.StatsView.as_view(), name="cache-stats"),
]

if settings.CACHE_API_BENCHMARK_FLOOR:
    from cache_api import floor

    urlpatterns.append(path("_floor", floor.floor, name="cache-benchmark-floor"))
