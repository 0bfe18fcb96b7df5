import os
import random
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from tests.factories import ApiKeyFactory, NamespaceFactory, OrganizationFactory, PlanFactory

# The client tests run this checkout's client (clients/python), not whichever copy is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))

FILE_NODES = ["file_dedup_cache", "seagate_lyve_connector"]


@pytest.fixture(autouse=True)
def blob_root(tmp_path):
    """Every dedup test stores packs in its own folder (local backend)."""
    root = tmp_path / "blobs"
    with override_settings(BLOB_BACKEND="local", BLOB_ROOT=root):
        yield root


class Tenant:
    def __init__(self, organization, namespace, key, client):
        self.organization = organization
        self.namespace = namespace
        self.key = key
        self.client = client

    def headers(self, namespace=None):
        return {"HTTP_X_API_KEY": self.key.plaintext, "HTTP_X_NAMESPACE": namespace or self.namespace.name}

    def put(self, path, data, **extra):
        return self.client.put(
            f"/api/files/{path}", data, content_type="application/octet-stream", **self.headers(), **extra
        )

    def get(self, path, **extra):
        return self.client.get(f"/api/files/{path}", **self.headers(), **extra)

    def head(self, path, **extra):
        return self.client.head(f"/api/files/{path}", **self.headers(), **extra)

    def delete(self, path):
        return self.client.delete(f"/api/files/{path}", **self.headers())

    def post_json(self, url, body):
        return self.client.post(url, body, format="json", **self.headers())

    def stats(self):
        return self.client.get("/api/dedup/stats", **self.headers()).json()


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def make_tenant(api_client, plan="starter", nodes=None):
    org = OrganizationFactory(plan=PlanFactory(slug=plan))
    namespace = NamespaceFactory(organization=org, name="storage", nodes=nodes or FILE_NODES)
    key = ApiKeyFactory(organization=org)
    return Tenant(org, namespace, key, api_client)


@pytest.fixture
def tenant(db, api_client):
    return make_tenant(api_client)


@pytest.fixture
def other_tenant(db):
    from rest_framework.test import APIClient

    return make_tenant(APIClient())


def random_bytes(size, seed):
    return random.Random(seed).randbytes(size)


def firmware(size, seed):
    """Semi-compressible bytes: random runs mixed with repetitive tables, like a firmware image."""
    rng = random.Random(seed)
    parts, total = [], 0
    while total < size:
        if rng.random() < 0.5:
            piece = rng.randbytes(rng.randint(512, 8192))
        else:
            piece = bytes([rng.randrange(256)]) * rng.randint(64, 4096) + os.urandom(0)
        parts.append(piece)
        total += len(piece)
    return b"".join(parts)[:size]
