"""The HTTP API: auth, node and plan checks, sync answers, jobs, errors, tenant isolation."""

import os
import uuid

import orjson
import pytest

from cdn_eval.engine.synthetic import zipf_trace
from cdn_eval.models import Evaluation
from tests.cdn_eval.conftest import csv_bytes, make_tenant, ndjson, records
from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

EVALUATE = "/api/cdn/evaluate"
SMALL = records(zipf_trace(400, 60, seed=3, median=50_000))
OPTIONS = {"policies": ["lru", "fifo", "sieve"], "max_paths": 5}


def post_json(client, tenant, body, **headers):
    return client.post(
        EVALUATE, data=orjson.dumps(body), content_type="application/json", **{**tenant.headers(), **headers}
    )


def test_small_log_is_answered_at_once_and_stored(api_client, tenant):
    response = post_json(api_client, tenant, {"accessHistory": SMALL, "options": OPTIONS})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["requests"] == 400 and len(body["curve"]) >= 100
    assert set(body["at_sizes"][0]["policies"]) == {"lru", "fifo", "sieve"}
    assert all(len(t["paths"]) <= 5 for t in body["tiers"])
    stored = Evaluation.objects.get(id=body["evaluation"]["id"])
    assert stored.status == "done" and stored.namespace_id == tenant.namespace.id
    assert stored.result["recommended"] == body["recommended"]

    detail = api_client.get(f"/api/cdn/evaluations/{stored.id}", **tenant.headers())
    assert detail.status_code == 200 and detail.json()["result"]["requests"] == 400
    listing = api_client.get("/api/cdn/evaluations", **tenant.headers())
    assert [e["id"] for e in listing.json()["evaluations"]] == [str(stored.id)]


def test_cdn_accelerator_node_also_qualifies(api_client, db):
    tenant = make_tenant(nodes=("cdn_accelerator",))
    assert post_json(api_client, tenant, {"accessHistory": SMALL[:50], "options": OPTIONS}).status_code == 200


def test_namespace_without_the_node_is_refused(api_client, db):
    tenant = make_tenant(nodes=("kv_cache",))
    response = post_json(api_client, tenant, {"accessHistory": SMALL})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "node_not_enabled"
    assert api_client.get("/api/cdn/evaluations", **tenant.headers()).status_code == 403


def test_missing_or_wrong_key_is_401(api_client, tenant):
    assert api_client.post(EVALUATE, data=b"{}", content_type="application/json").status_code == 401
    bad = api_client.post(
        EVALUATE,
        data=b"{}",
        content_type="application/json",
        HTTP_X_API_KEY="ac_" + "0" * 64,
        HTTP_X_NAMESPACE=tenant.namespace.name,
    )
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    "history, field, line",
    [
        (SMALL[:3] + [{"timestamp": 5, "path": "/x"}], "size", 4),
        (SMALL[:1] + [{"timestamp": "soon", "path": "/x", "size": 1}], "timestamp", 2),
        ([{"timestamp": 5, "path": "", "size": 1}], "path", 1),
    ],
)
def test_malformed_record_is_a_400_naming_record_and_field(api_client, tenant, history, field, line):
    response = post_json(api_client, tenant, {"accessHistory": history})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"], error["line"]) == ("invalid_record", field, line)
    assert f"Record {line}" in error["message"]
    assert not Evaluation.objects.exists()


def test_skip_invalid_reports_the_count(api_client, tenant):
    history = SMALL[:20] + [{"timestamp": 5, "path": "/x"}]
    response = post_json(api_client, tenant, {"accessHistory": history, "skipInvalid": True, "options": OPTIONS})
    assert response.status_code == 200 and response.json()["skipped_records"] == 1


@pytest.mark.parametrize("body", [{"accessHistory": []}, {"options": {}}, [], "x"])
def test_empty_or_missing_log_is_a_clear_400(api_client, tenant, body):
    response = post_json(api_client, tenant, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("empty_log", "missing_field", "invalid_json", "invalid_field")


def test_invalid_json_and_bad_options_are_400(api_client, tenant):
    response = api_client.post(EVALUATE, data=b"{nope", content_type="application/json", **tenant.headers())
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    response = post_json(api_client, tenant, {"accessHistory": SMALL, "options": {"target_share": 2}})
    assert response.status_code == 400 and response.json()["error"]["field"] == "options.target_share"


def test_one_object_log_gives_a_valid_report(api_client, tenant):
    response = post_json(api_client, tenant, {"accessHistory": [{"timestamp": 1, "path": "/only", "size": 10}]})
    assert response.status_code == 200
    assert response.json()["objects"] == 1 and response.json()["recommended"]["cache_bytes"] >= 1


def test_upload_over_the_plan_limit_is_413_naming_it(api_client, db):
    tenant = make_tenant(plan=PlanFactory(slug="tiny-cdn", max_upload_bytes=2_000))
    response = api_client.post(EVALUATE, data=ndjson(SMALL), content_type="application/x-ndjson", **tenant.headers())
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "upload_too_large" and error["limit"] == 2_000
    assert "2000 bytes" in error["message"] and "max_upload_bytes" in error["message"]
    response = post_json(api_client, tenant, {"accessHistory": SMALL})
    assert response.status_code == 413
    assert not Evaluation.objects.exists()


def test_raw_upload_runs_as_a_job(api_client, tenant, django_capture_on_commit_callbacks, settings):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            EVALUATE + "?options=" + orjson.dumps(OPTIONS).decode(),
            data=ndjson(SMALL),
            content_type="application/x-ndjson",
            **tenant.headers(),
        )
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    assert response["Location"] == url
    job = api_client.get(url, **tenant.headers()).json()
    assert job["status"] == "done" and job["progress"] == 1.0 and job["source"] == "upload"
    assert job["result"]["requests"] == 400
    assert Evaluation.objects.get().input_path == ""
    assert os.listdir(settings.CDN_EVAL_UPLOAD_DIR) == []  # the spooled log is gone


def test_multipart_gzip_csv_upload(api_client, tenant, django_capture_on_commit_callbacks, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("access.csv.gz", csv_bytes(SMALL, compress=True), content_type="application/gzip")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            EVALUATE,
            data={"file": upload, "options": orjson.dumps(OPTIONS).decode()},
            format="multipart",
            **tenant.headers(),
        )
    assert response.status_code == 202, response.content
    job = api_client.get(response.json()["url"], **tenant.headers()).json()
    assert job["status"] == "done" and job["result"]["requests"] == 400
    assert os.listdir(settings.CDN_EVAL_UPLOAD_DIR) == []


def test_malformed_upload_fails_the_job_with_the_line(api_client, tenant, django_capture_on_commit_callbacks):
    data = ndjson(SMALL[:5]) + b'{"timestamp": 1, "path": "/x", "size": -3}\n'
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(EVALUATE, data=data, content_type="text/plain", **tenant.headers())
    job = api_client.get(response.json()["url"], **tenant.headers()).json()
    assert job["status"] == "failed" and job["result"] is None
    assert (job["error"]["line"], job["error"]["field"]) == (6, "size")


def test_large_inline_log_becomes_a_job(api_client, tenant, settings, django_capture_on_commit_callbacks):
    settings.CDN_EVAL_SYNC_MAX_RECORDS = 100
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api_client, tenant, {"accessHistory": SMALL, "options": OPTIONS})
    assert response.status_code == 202
    job = api_client.get(response.json()["url"], **tenant.headers()).json()
    assert job["status"] == "done" and job["result"]["requests"] == 400


def test_other_organizations_never_see_an_evaluation(api_client, tenant, db):
    response = post_json(api_client, tenant, {"accessHistory": SMALL[:50], "options": OPTIONS})
    evaluation_id = response.json()["evaluation"]["id"]
    stranger = make_tenant(name=tenant.namespace.name)  # same namespace name, other organization
    seen = api_client.get(f"/api/cdn/evaluations/{evaluation_id}", **stranger.headers())
    missing = api_client.get(f"/api/cdn/evaluations/{uuid.uuid4()}", **stranger.headers())
    assert seen.status_code == missing.status_code == 404
    assert seen.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert api_client.get("/api/cdn/evaluations", **stranger.headers()).json()["evaluations"] == []
    garbage = api_client.get("/api/cdn/evaluations/not-a-uuid", **tenant.headers())
    assert garbage.status_code == 404


def test_other_namespace_of_the_same_organization_does_not_list_it(api_client, tenant):
    from tests.factories import NamespaceFactory

    post_json(api_client, tenant, {"accessHistory": SMALL[:50], "options": OPTIONS})
    other = NamespaceFactory(organization=tenant.organization, name="second", nodes=["desktop_cdn"])
    listing = api_client.get("/api/cdn/evaluations", **tenant.headers(namespace=other.name))
    assert listing.status_code == 200 and listing.json()["evaluations"] == []


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_job_commits_and_runs_against_postgres(api_client, redis_client):
    # Real commit: the job is handed over by transaction.on_commit, as in production.
    tenant = make_tenant()
    response = api_client.post(EVALUATE, data=ndjson(SMALL), content_type="application/x-ndjson", **tenant.headers())
    assert response.status_code == 202
    job = api_client.get(response.json()["url"], **tenant.headers()).json()
    assert job["status"] == "done" and job["result"]["requests"] == 400
    assert Evaluation.objects.filter(namespace=tenant.namespace).count() == 1


def test_deleting_the_namespace_removes_its_evaluations_and_spooled_logs(tenant):
    from cdn_eval import services as cdn_services
    from tenants import services as tenant_services

    path, size = cdn_services.spool([ndjson(SMALL)])
    Evaluation.objects.create(
        organization=tenant.organization, namespace=tenant.namespace, input_path=path, input_bytes=size
    )
    tenant_services.delete_namespace(tenant.namespace)
    assert not Evaluation.objects.exists()
    assert not os.path.exists(path)


@pytest.mark.parametrize(
    "encode",
    [
        lambda body: orjson.dumps(body, option=orjson.OPT_INDENT_2),  # pretty-printed
        lambda body: (
            orjson.dumps({"options": body["options"], "accessHistory": body["accessHistory"]})
            .replace(b'"accessHistory":[', b'"accessHistory":[\n')
            .replace(b"},{", b"},\n{")
        ),  # options first, one record per line
        lambda body: b"\n  " + orjson.dumps(body).replace(b"},{", b"},\n{"),  # leading blank line
    ],
    ids=["pretty", "options-first", "leading-whitespace"],
)
def test_large_inline_json_in_any_layout_runs_as_a_job(
    api_client, tenant, settings, django_capture_on_commit_callbacks, encode
):
    settings.CDN_EVAL_SYNC_MAX_RECORDS = 100  # SMALL's 400 records go to the worker as the raw body
    body = encode({"accessHistory": SMALL, "options": OPTIONS})
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(EVALUATE, data=body, content_type="application/json", **tenant.headers())
    assert response.status_code == 202, response.content
    job = api_client.get(response.json()["url"], **tenant.headers()).json()
    assert job["status"] == "done", job["error"]
    assert job["result"]["requests"] == 400
    assert set(job["result"]["at_sizes"][0]["policies"]) == {"lru", "fifo", "sieve"}


@pytest.mark.parametrize("value", ["false", 0, "true", None, [True]])
def test_skip_invalid_must_be_a_json_boolean(api_client, tenant, value):
    response = post_json(api_client, tenant, {"accessHistory": SMALL[:20], "skipInvalid": value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"
    assert response.json()["error"]["field"] == "skipInvalid"


def add_origin(namespace, kind):
    from dedup import models as dedup_models

    return dedup_models.Origin.objects.create(
        namespace=namespace,
        kind=kind,
        endpoint_url="https://s3.example.test",
        bucket="assets",
        access_key_id_encrypted="sealed",
        secret_access_key_encrypted="sealed",
    )


def test_savings_use_the_namespaces_egress_price(api_client, tenant, settings):
    from decimal import Decimal

    from dedup.models import Origin, OriginPrice

    settings.CDN_EVAL_EGRESS_PRICE_PER_GB = 0.09
    # no origin: the default price, and the report says so
    default = post_json(api_client, tenant, {"accessHistory": SMALL, "options": OPTIONS}).json()["savings"]
    assert default["price_per_gb"] == 0.09 and default["price_source"].startswith("default")
    # an AWS origin with the organization's own price
    add_origin(tenant.namespace, Origin.Kind.AWS_S3)
    OriginPrice.objects.create(
        organization=tenant.organization,
        kind=Origin.Kind.AWS_S3,
        egress_usd_per_gb=Decimal("0.05"),
        storage_usd_per_gb_month=Decimal("0.02"),
        source="negotiated 2026",
    )
    own = post_json(api_client, tenant, {"accessHistory": SMALL, "options": OPTIONS}).json()["savings"]
    assert own["price_per_gb"] == 0.05 and "negotiated 2026" in own["price_source"]
    assert own["usd_per_month"] == pytest.approx(own["bytes_per_month"] / 1e9 * 0.05, abs=0.01)
    # an explicit option wins
    given = post_json(
        api_client, tenant, {"accessHistory": SMALL, "options": {**OPTIONS, "egress_price_per_gb": 0.2}}
    ).json()["savings"]
    assert given["price_per_gb"] == 0.2 and given["price_source"] == "options.egress_price_per_gb"


def test_an_origin_without_egress_charges_saves_no_dollars(api_client, db, django_capture_on_commit_callbacks):
    from dedup.models import Origin

    tenant = make_tenant()
    add_origin(tenant.namespace, Origin.Kind.LYVE)
    sync = post_json(api_client, tenant, {"accessHistory": SMALL, "options": OPTIONS}).json()["savings"]
    assert sync["price_per_gb"] == 0.0 and sync["usd_per_month"] == 0.0 and sync["bytes_per_day"] > 0
    assert "no egress" in sync["price_source"]
    # the job path prices the same way
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(EVALUATE, data=ndjson(SMALL), content_type="text/plain", **tenant.headers())
    job = api_client.get(response.json()["url"], **tenant.headers()).json()
    assert job["result"]["savings"]["price_per_gb"] == 0.0 and "no egress" in job["result"]["savings"]["price_source"]
