import re

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
        expected = {"200", "400", "401", "403", "404", "429", "503"} | ({"413", "415"} if method == "post" else set())
        assert expected <= set(responses), route
        for code in expected - {"200"}:
            content = responses[code]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
            assert content["examples"], (route, code)
        if method == "post":
            assert operation["requestBody"]["content"]["application/json"]["examples"], route
    for route in ("/api/cache/set", "/api/cache/mset"):
        assert "value_too_large" in example_codes(schema["paths"][route]["post"]["responses"]["413"])


def example_codes(response):
    return {
        example["value"]["error"]["code"] for example in response["content"]["application/json"]["examples"].values()
    }


def test_retry_after_is_declared_on_429_and_503(cache_schema):
    schema, _, _ = cache_schema
    for route, method in OPERATIONS.items():
        responses = schema["paths"][route][method]["responses"]
        for code in ("429", "503"):
            assert responses[code]["headers"]["Retry-After"]["schema"] == {"type": "integer"}, (route, code)
        assert "rate_limited" in example_codes(responses["429"])
        assert example_codes(responses["503"]) == {"cache_unavailable", "database_unavailable"}
        assert "Retry-After" not in responses["200"].get("headers", {})


def test_body_errors_are_documented_for_posts_only(cache_schema):
    schema, _, _ = cache_schema
    for route, method in OPERATIONS.items():
        responses = schema["paths"][route][method]["responses"]
        if method == "post":
            assert "body_too_large" in example_codes(responses["413"]), route
            assert example_codes(responses["415"]) == {"unsupported_media_type"}, route
            assert "invalid_json" in example_codes(responses["400"]), route
        else:  # stats takes no body: no body errors
            assert not {"413", "415"} & set(responses), route
            assert "invalid_json" not in example_codes(responses["400"]), route


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
    # Every script and stylesheet the page loads is served by the app itself.
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith(".js") for asset in assets) and any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset  # same origin, no CDN
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, asset
