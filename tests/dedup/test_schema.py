from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator


def test_file_api_schema_generates_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("dedup.urls"))])
    with GENERATOR_STATS.silence():
        schema = generator.get_schema(request=None, public=True)
    warnings, errors = dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    assert warnings == {} and errors == {}
    assert {
        "/api/files",
        "/api/files/{path}",
        "/api/files/{path}/manifest",
        "/api/dedup/missing",
        "/api/dedup/chunks/{sha256}",
        "/api/dedup/stats",
        "/api/dedup/config",
    } <= set(schema["paths"])
    put = schema["paths"]["/api/files/{path}"]["put"]
    assert {"201", "400", "401", "403", "404", "413", "503"} <= set(put["responses"])
    assert any(p["name"] == "X-Namespace" for p in put["parameters"])
    download = schema["paths"]["/api/files/{path}"]["get"]["responses"]
    assert {"200", "206", "304", "502", "503"} <= set(download)
    examples = download["503"]["content"]["application/json"]["examples"].values()
    assert {"storage_unavailable", "origin_fetch_in_progress"} <= {e["value"]["error"]["code"] for e in examples}
