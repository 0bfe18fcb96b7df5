from django.urls import path

from cdn_eval import views

# Mounted at api/ by config/urls.py.
urlpatterns = [
    path("cdn/evaluate", views.EvaluateView.as_view(), name="cdn-evaluate"),
    path("cdn/evaluations", views.EvaluationListView.as_view(), name="cdn-evaluations"),
    path("cdn/evaluations/<str:evaluation_id>", views.EvaluationDetailView.as_view(), name="cdn-evaluation"),
]
