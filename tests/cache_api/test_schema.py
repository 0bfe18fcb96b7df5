import pytest
import yaml
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

OPERATIONS = {
    "/api/cache/set": "post",
    "/api/cache/get": "post",
    "/api/cache/delete": "post",
    "/api/cache/mget": "post",
    "/api/cache/mset": "post",
    "/api/cache/stats": "get",
}


@pytest.fixture
def cache_schema():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/cache/", include("cache_api.urls"))])
    with GENERATOR_STATS.silence():
        schema = generator.get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache)
    errors = dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    return schema, warnings, errors


def test_schema_of_the_cache_api_generates_without_warnings(cache_schema):
    schema, warnings, errors = cache_schema
    assert warnings == {} and errors == {}
    assert set(schema["paths"]) == set(OPERATIONS)


def test_every_endpoint_documents_headers_bodies_and_errors_with_examples(cache_schema):
    schema, _, _ = cache_schema
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    for route, method in OPERATIONS.items():
        operation = schema["paths"][route][method]
        assert {"ApiKeyAuth": []} in operation["security"]
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert headers["X-Namespace"]["required"] is True
        responses = operation["responses"]
        expected = {"200", "400", "401", "403", "404", "503"} | ({"429"} if method == "post" else set())
        assert expected <= set(responses), route
        for code in expected - {"200"}:
            content = responses[code]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
            assert content["examples"], (route, code)
        if method == "post":
            assert operation["requestBody"]["content"]["application/json"]["examples"], route
    for route in ("/api/cache/set", "/api/cache/mset"):
        examples = schema["paths"][route]["post"]["responses"]["413"]["content"]["application/json"]["examples"]
        assert next(iter(examples.values()))["value"]["error"]["code"] == "value_too_large"


@pytest.mark.django_db
def test_full_schema_and_docs_are_served_without_a_cdn(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert set(OPERATIONS) <= set(schema["paths"])
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
