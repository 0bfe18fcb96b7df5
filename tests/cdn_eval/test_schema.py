from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator


def test_evaluator_schema_generates_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("cdn_eval.urls"))])
    with GENERATOR_STATS.silence():
        schema = generator.get_schema(request=None, public=True)
    warnings, errors = dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    assert warnings == {} and errors == {}
    post = schema["paths"]["/api/cdn/evaluate"]["post"]
    assert {"200", "202", "400", "401", "403", "413"} <= set(post["responses"])
    assert {"/api/cdn/evaluations", "/api/cdn/evaluations/{evaluation_id}"} <= set(schema["paths"])
