from django.urls import path

from dedup import views

# Mounted at api/ by config/urls.py.
urlpatterns = [
    path("files", views.FileListView.as_view(), name="dedup-files"),
    path("files/", views.EmptyPathView.as_view()),
    path("files/<path:path>/manifest", views.ManifestView.as_view(), name="dedup-manifest"),
    path("files/<path:path>", views.FileView.as_view(), name="dedup-file"),
    path("dedup/missing", views.MissingView.as_view(), name="dedup-missing"),
    path("dedup/chunks", views.ChunkBatchView.as_view(), name="dedup-chunk-batch"),
    path("dedup/chunks/<str:sha256>", views.ChunkView.as_view(), name="dedup-chunk"),
    path("dedup/config", views.ConfigView.as_view(), name="dedup-config"),
    path("dedup/stats", views.StatsView.as_view(), name="dedup-stats"),
    path("dedup/origin", views.OriginView.as_view(), name="dedup-origin"),
]
