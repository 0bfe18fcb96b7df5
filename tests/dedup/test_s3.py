"""S3-compatible storage (moto's server mode on a free port): the pack backend and origin read-through."""

import hashlib
import socket
import time

import boto3
import pytest
from django.test import override_settings

from dedup import crypto, origin, services
from dedup.models import Origin
from tests.dedup.conftest import body, firmware, random_bytes

pytestmark = pytest.mark.django_db

CREDENTIALS = {"aws_access_key_id": "testing-key-id", "aws_secret_access_key": "testing-secret"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server):
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **CREDENTIALS)
    return client


def make_bucket(s3, name):
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_backend(s3, s3_server):
    bucket = make_bucket(s3, f"packs-{free_port()}")
    with override_settings(
        BLOB_BACKEND="s3",
        BLOB_S3_ENDPOINT_URL=s3_server,
        BLOB_S3_BUCKET=bucket,
        BLOB_S3_REGION="us-east-1",
        BLOB_S3_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        BLOB_S3_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
    ):
        yield bucket


def test_s3_pack_backend_round_trip_and_gc(tenant, s3, s3_backend):
    v1 = firmware(700_000, seed=71)
    assert tenant.put("fw/a.bin", v1).status_code == 201
    assert tenant.put("fw/b.bin", v1[:300_000]).json()["new_bytes"] < 100_000
    assert body(tenant.get("fw/a.bin")) == v1
    ranged = tenant.get("fw/a.bin", HTTP_RANGE="bytes=1000-99999")
    assert body(ranged) == v1[1000:100000]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_backend).get("Contents", [])]
    assert keys and all(key.startswith(f"packs/o{tenant.organization.id}/") for key in keys)
    assert len(keys) <= 2  # packs, not one object per chunk
    tenant.delete("fw/a.bin")
    tenant.delete("fw/b.bin")
    import datetime

    from django.utils import timezone

    services.collect_garbage(tenant.organization.id, now=timezone.now() + datetime.timedelta(hours=2))
    assert not s3.list_objects_v2(Bucket=s3_backend).get("Contents")


def test_unreachable_s3_is_503(tenant):
    with override_settings(
        BLOB_BACKEND="s3",
        BLOB_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        BLOB_S3_BUCKET="nope",
        BLOB_S3_ACCESS_KEY_ID="x",
        BLOB_S3_SECRET_ACCESS_KEY="y",
    ):
        response = tenant.put("a.bin", random_bytes(10_000, 1))
    assert response.status_code == 503
    from dedup.models import Chunk, File

    assert not File.objects.exists() and not Chunk.objects.exists()


def configure(namespace, s3, s3_server):
    bucket = make_bucket(s3, f"origin-{free_port()}")
    origin.configure_origin(
        namespace,
        endpoint_url=s3_server,
        bucket=bucket,
        prefix="releases",
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )
    return bucket


@pytest.fixture
def origin_bucket(s3, s3_server, tenant):
    return configure(tenant.namespace, s3, s3_server)


def test_read_through_counts_misses_and_hits_exactly(tenant, s3, origin_bucket, settings):
    data = random_bytes(250_000, seed=72)
    s3.put_object(Bucket=origin_bucket, Key="releases/fw/1.0.bin", Body=data, ContentType="application/x-firmware")
    first = tenant.get("fw/1.0.bin")
    assert first.status_code == 200 and body(first) == data
    assert first["Content-Type"] == "application/x-firmware"
    # Gone from the origin now: later requests are served from the store.
    s3.delete_object(Bucket=origin_bucket, Key="releases/fw/1.0.bin")
    for _ in range(3):
        assert body(tenant.get("fw/1.0.bin")) == data
    assert tenant.get("fw/missing.bin").status_code == 404
    stats = tenant.stats()
    assert stats["misses"] == 2 and stats["hits"] == 3
    assert stats["origin_bytes"] == len(data)
    assert stats["served_bytes"] == 4 * len(data)
    assert stats["bandwidth_saved_bytes"] == 3 * len(data)
    # Lyve Cloud charges no egress: the saving is in bandwidth, not dollars, and the stats say so.
    assert stats["cost_breakdown"]["egress_saved_usd"] == 0
    assert any("no egress" in note for note in stats["notes"])
    if settings.REDIS_URL:
        from cache_api import metering

        counts = metering.live_counts(tenant.organization.id, tenant.namespace.id)
        assert counts["misses"] == 2 and counts["hits"] == 3
        assert counts["origin_bytes"] == len(data) and counts["bytes_served"] == 4 * len(data)


def test_aws_origin_prices_egress(tenant, s3, origin_bucket):
    Origin.objects.filter(namespace=tenant.namespace).update(kind=Origin.Kind.AWS_S3)
    data = random_bytes(100_000, seed=73)
    s3.put_object(Bucket=origin_bucket, Key="releases/x.bin", Body=data)
    tenant.get("x.bin")
    tenant.get("x.bin")
    stats = tenant.stats()
    assert stats["cost_breakdown"]["egress_avoided_bytes"] == len(data)
    assert stats["cost_breakdown"]["egress_saved_usd"] == pytest.approx(len(data) / 1e9 * 0.09)


def test_credentials_are_encrypted_at_rest(tenant, origin_bucket):
    row = Origin.objects.get(namespace=tenant.namespace)
    assert CREDENTIALS["aws_secret_access_key"] not in row.secret_access_key_encrypted
    assert crypto.decrypt(row.secret_access_key_encrypted) == CREDENTIALS["aws_secret_access_key"]


def test_production_requires_the_credentials_key(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.IS_PRODUCTION = True
    settings.ORIGIN_CREDENTIALS_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("secret")


def test_unreachable_origin_is_502(tenant, origin_bucket):
    Origin.objects.filter(namespace=tenant.namespace).update(endpoint_url=f"http://127.0.0.1:{free_port()}")
    origin._clients.clear()
    response = tenant.get("fw/any.bin")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "origin_unavailable"


def test_origin_needs_the_connector_node(tenant, s3, origin_bucket):
    tenant.namespace.nodes = ["file_dedup_cache"]
    tenant.namespace.save()
    s3.put_object(Bucket=origin_bucket, Key="releases/y.bin", Body=b"y")
    assert tenant.get("y.bin").status_code == 404
    assert hashlib.sha256(b"y")  # the object exists at the origin but is not read through


def test_origin_api_never_shows_credentials(tenant, s3_server, settings):
    body_in = {
        "endpoint_url": s3_server,
        "bucket": "b",
        "prefix": "p",
        "access_key_id": "AKIDSECRET1",
        "secret_access_key": "very-secret-2",
        "kind": "aws_s3",
    }
    response = tenant.client.put("/api/dedup/origin", body_in, format="json", **tenant.headers())
    assert response.status_code == 200, response.content
    for text in (response.content, tenant.client.get("/api/dedup/origin", **tenant.headers()).content):
        assert b"AKIDSECRET1" not in text and b"very-secret-2" not in text
    assert Origin.objects.get(namespace=tenant.namespace).kind == "aws_s3"
    settings.DEDUP_ORIGIN_ALLOW_PRIVATE = False
    refused = tenant.client.put("/api/dedup/origin", body_in, format="json", **tenant.headers())
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "endpoint_url"
    assert tenant.client.delete("/api/dedup/origin", **tenant.headers()).status_code == 204
    assert tenant.client.get("/api/dedup/origin", **tenant.headers()).status_code == 404


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_misses_of_one_path_fetch_it_from_the_origin_once(s3, s3_server, monkeypatch, settings):
    import threading

    from django.db import connections
    from rest_framework.test import APIClient

    from tests.dedup.conftest import make_tenant

    tenant = make_tenant(APIClient())
    bucket = configure(tenant.namespace, s3, s3_server)
    data = random_bytes(600_000, seed=75)
    s3.put_object(Bucket=bucket, Key="releases/fw/2.0.bin", Body=data)
    real_fetch = origin._fetch

    def slow_fetch(*args, **kwargs):
        time.sleep(0.3)  # every request has missed before the first fetch ends
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(origin, "_fetch", slow_fetch)
    start = threading.Barrier(4)
    results, errors = [], []

    def download():
        try:
            start.wait()
            response = APIClient().get("/api/files/fw/2.0.bin", **tenant.headers())
            results.append((response.status_code, body(response)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=download) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert results == [(200, data)] * 4
    stats = tenant.stats()
    assert stats["origin_bytes"] == len(data)  # one fetch, not four
    assert (stats["misses"], stats["hits"]) == (1, 3)
    assert stats["served_bytes"] == 4 * len(data)


def test_a_miss_takes_over_once_a_dead_fetchers_lock_expires(tenant, s3, origin_bucket):
    from django.core.cache import cache

    data = random_bytes(50_000, seed=76)
    s3.put_object(Bucket=origin_bucket, Key="releases/drivers/x.bin", Body=data)
    # A fetcher that died holding the lock: nobody refreshes it, so it lapses and the waiter fetches.
    assert cache.add(origin.fetch_lock_key(tenant.namespace.id, "drivers/x.bin"), "dead", timeout=1)
    started = time.monotonic()
    response = tenant.get("drivers/x.bin")
    assert response.status_code == 200 and body(response) == data
    assert 0.9 < time.monotonic() - started < origin.FETCH_WAIT_SECONDS
    stats = tenant.stats()
    assert stats["origin_bytes"] == len(data) and stats["misses"] == 1


def test_a_waiter_gives_up_inside_the_worker_timeout_with_a_503(tenant, s3, origin_bucket, monkeypatch):
    from django.core.cache import cache

    s3.put_object(Bucket=origin_bucket, Key="releases/video/big.mp4", Body=b"x" * 1000)
    monkeypatch.setattr(origin, "FETCH_WAIT_SECONDS", 0.5)
    assert cache.add(origin.fetch_lock_key(tenant.namespace.id, "video/big.mp4"), "busy", timeout=60)
    response = tenant.get("video/big.mp4")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "origin_fetch_in_progress"
    assert tenant.stats()["origin_bytes"] == 0


def test_waiters_take_a_fetch_that_found_nothing_at_its_word(tenant, s3, origin_bucket, monkeypatch):
    from django.core.cache import cache

    key = origin.fetch_lock_key(tenant.namespace.id, "gone.bin")
    assert cache.add(key, "busy", timeout=60)
    cache.set(key + ":outcome", f"busy:{origin.MISSING}", timeout=60)  # the fetch we saw found nothing
    monkeypatch.setattr(origin, "_fetch", lambda *args, **kwargs: pytest.fail("fetched again"))
    started = time.monotonic()
    assert tenant.get("gone.bin").status_code == 404
    assert time.monotonic() - started < 1


def test_an_earlier_fetchs_outcome_does_not_answer_for_the_fetch_in_flight(tenant, s3, origin_bucket, monkeypatch):
    from django.core.cache import cache

    # "new.bin" was missing a minute ago; it has been published since and another request fetches it now.
    key = origin.fetch_lock_key(tenant.namespace.id, "new.bin")
    cache.set(key + ":outcome", f"earlier:{origin.MISSING}", timeout=60)
    assert cache.add(key, "in-flight", timeout=60)
    monkeypatch.setattr(origin, "FETCH_WAIT_SECONDS", 0.5)
    response = tenant.get("new.bin")
    assert response.status_code == 503  # still being fetched: retry, not a 404 from the old outcome
    assert response.json()["error"]["code"] == "origin_fetch_in_progress"


def test_the_fetch_lock_stays_alive_while_its_fetch_runs(monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(origin, "FETCH_LOCK_SECONDS", 1)
    monkeypatch.setattr(origin, "FETCH_LOCK_REFRESH_SECONDS", 0.2)
    cache.delete("dedup:test-alive")
    lock = origin.FetchLock("dedup:test-alive")
    assert lock.acquire()
    time.sleep(1.6)  # longer than the lock's lifetime: only the keep-alive can have kept it
    assert cache.get("dedup:test-alive") == lock.token
    lock.release()
    assert cache.get("dedup:test-alive") is None


def test_the_fetch_lock_is_released_only_by_its_owner():
    from django.core.cache import cache

    first, second = origin.FetchLock("dedup:test-lock"), origin.FetchLock("dedup:test-lock")
    cache.delete("dedup:test-lock")
    assert first.acquire() and not second.acquire()
    cache.set("dedup:test-lock", second.token)  # first's lock lapsed and second took it
    second.held = True
    first.release()
    assert cache.get("dedup:test-lock") == second.token
    second.release()
    assert cache.get("dedup:test-lock") is None


@pytest.mark.parametrize("failure", ["blob_backend_down", "over_quota"])
def test_origin_bytes_are_counted_when_storing_the_fetch_fails(tenant, s3, origin_bucket, settings, failure):
    """The object left the origin (its egress is paid) but could not be stored: its bytes count as origin
    bytes of a miss, with no hit, no bytes served and no file."""
    from dedup.models import File

    data = random_bytes(300_000, seed=77)
    s3.put_object(Bucket=origin_bucket, Key="releases/fw/3.0.bin", Body=data)
    if failure == "blob_backend_down":
        # The origin answers; the pack store does not (a closed port): the write fails after the read.
        broken = override_settings(
            BLOB_BACKEND="s3",
            BLOB_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
            BLOB_S3_BUCKET="packs-down",
            BLOB_S3_ACCESS_KEY_ID="x",
            BLOB_S3_SECRET_ACCESS_KEY="y",
        )
        expected = (503, "storage_unavailable")
    else:
        plan = tenant.organization.plan
        plan.storage_quota_bytes = 100_000
        plan.save()
        broken = override_settings()
        expected = (413, "storage_quota_exceeded")
    with broken:
        response = tenant.get("fw/3.0.bin")
    assert (response.status_code, response.json()["error"]["code"]) == expected
    assert not File.objects.filter(namespace=tenant.namespace).exists()
    stats = tenant.stats()
    assert stats["origin_bytes"] == len(data)
    assert (stats["misses"], stats["hits"], stats["served_bytes"], stats["files"]) == (1, 0, 0, 0)
    assert stats["bandwidth_saved_bytes"] == 0
    if settings.REDIS_URL:
        from cache_api import metering

        counts = metering.live_counts(tenant.organization.id, tenant.namespace.id)
        assert counts["origin_bytes"] == len(data)
        assert (counts["requests"], counts["misses"], counts["hits"], counts["bytes_served"]) == (1, 1, 0, 0)
    # Once storing works again the next miss fetches (and pays) again, and is served.
    if failure == "over_quota":
        plan.storage_quota_bytes = None
        plan.save()
    assert body(tenant.get("fw/3.0.bin")) == data
    stats = tenant.stats()
    assert stats["origin_bytes"] == 2 * len(data) and (stats["misses"], stats["hits"]) == (2, 0)


def test_egress_avoided_counts_only_hits_on_files_read_through_from_the_origin(tenant, s3, origin_bucket, settings):
    """Hits on an origin-fetched file are egress avoided; hits on uploaded files in the same namespace are
    not, and a path overwritten by an upload (PUT or manifest commit) stops counting."""
    from cache_api import metering
    from portal import selectors as portal_selectors
    from portal import services as portal_services
    from portal.models import UsageDaily
    from tests.dedup.test_client_dedup import commit, pieces

    Origin.objects.filter(namespace=tenant.namespace).update(kind=Origin.Kind.AWS_S3)  # $0.09/GB egress
    fetched, uploaded = random_bytes(200_000, seed=81), random_bytes(150_000, seed=82)
    other, replaced = random_bytes(120_000, seed=83), random_bytes(90_000, seed=84)
    s3.put_object(Bucket=origin_bucket, Key="releases/fw/o.bin", Body=fetched)
    s3.put_object(Bucket=origin_bucket, Key="releases/fw/p.bin", Body=other)
    s3.put_object(Bucket=origin_bucket, Key="releases/fw/q.bin", Body=other)
    assert tenant.put("fw/u.bin", uploaded).status_code == 201
    for path in ("fw/o.bin", "fw/p.bin", "fw/q.bin"):
        assert tenant.get(path).status_code == 200  # misses: read through (these bytes left the origin)
    assert body(tenant.get("fw/o.bin")) == fetched  # hit on an origin file: 200,000 avoided
    assert body(tenant.get("fw/o.bin", HTTP_RANGE="bytes=1000-1999")) == fetched[1000:2000]  # 1,000 more
    assert body(tenant.get("fw/u.bin")) == body(tenant.get("fw/u.bin")) == uploaded  # uploaded: nothing avoided
    # Overwrites by a client: p.bin by PUT, q.bin by a manifest commit of already stored chunks.
    assert tenant.put("fw/p.bin", replaced).status_code == 201
    assert commit(tenant, "fw/q.bin", uploaded, pieces(uploaded)).status_code == 201  # 150,000 not uploaded
    assert body(tenant.get("fw/p.bin")) == replaced
    assert body(tenant.get("fw/q.bin")) == uploaded
    avoided = len(fetched) + 1000
    served = len(fetched) + 2 * len(other) + avoided + 3 * len(uploaded) + len(replaced)
    stats = tenant.stats()
    assert stats["served_bytes"] == served  # every byte served, misses and hits on any file
    assert stats["origin_bytes"] == len(fetched) + 2 * len(other)
    assert stats["origin_hit_bytes"] == avoided == stats["cost_breakdown"]["egress_avoided_bytes"]
    assert stats["upload_bytes_saved"] == len(uploaded)
    assert stats["bandwidth_saved_bytes"] == avoided + len(uploaded)
    assert stats["cost_breakdown"]["egress_saved_usd"] == 0.000018  # 201,000 B x $0.09/GB, to the micro-dollar
    storage_usd = stats["cost_breakdown"]["storage_saved_usd_per_month"]
    assert stats["cost_saved_usd"] == pytest.approx(avoided * 0.09 / 1e9 + storage_usd, abs=1e-6)
    # The day's counters carry the same split, and the portal's daily rows and figures use it.
    counts = metering.live_counts(tenant.organization.id, tenant.namespace.id)
    assert counts["bytes_served"] == counts["file_bytes_served"] == served
    assert counts["origin_hit_bytes"] == avoided and counts["upload_bytes_saved"] == len(uploaded)
    today = metering.utc_today()
    live = portal_selectors.summary(tenant.organization, today, today, today=today)["totals"]
    assert live["bandwidth_saved_bytes"] == avoided + len(uploaded)
    portal_services.rollup_usage(days=[today])
    row = UsageDaily.objects.get(namespace=tenant.namespace, day=today)
    assert (row.bytes_served, row.file_bytes_served, row.origin_hit_bytes) == (served, served, avoided)
    assert row.bandwidth_saved_bytes == avoided + len(uploaded)
    assert str(row.cost_saved_usd) == "0.000032"  # (201,000 + 150,000) B x $0.09/GB = $0.00003159
    rolled = portal_selectors.summary(tenant.organization, today, today, today=today)["totals"]
    assert rolled["bandwidth_saved_bytes"] == avoided + len(uploaded) and rolled["origin_hit_bytes"] == avoided
