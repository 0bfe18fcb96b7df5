import gzip
from dataclasses import dataclass

import orjson
import pytest

from cdn_eval.engine.synthetic import zipf_trace  # noqa: F401  (re-exported for the tests)
from tests.factories import ApiKeyFactory, NamespaceFactory, OrganizationFactory, PlanFactory


@dataclass
class Tenant:
    organization: object
    namespace: object
    key: object

    def headers(self, namespace=None):
        return {"HTTP_X_API_KEY": self.key.plaintext, "HTTP_X_NAMESPACE": namespace or self.namespace.name}


def make_tenant(nodes=("desktop_cdn",), plan=None, name="desktop"):
    organization = OrganizationFactory(plan=plan or PlanFactory(slug="starter"))
    namespace = NamespaceFactory(organization=organization, name=name, nodes=list(nodes))
    return Tenant(organization, namespace, ApiKeyFactory(organization=organization))


@pytest.fixture
def tenant(db):
    return make_tenant()


@pytest.fixture(autouse=True)
def _spool_dir(settings, tmp_path):
    settings.CDN_EVAL_UPLOAD_DIR = str(tmp_path / "spool")


def records(trace, start=1_700_000_000_000, step=60_000):
    return [
        {"timestamp": start + i * step, "path": trace.paths[o], "size": int(trace.osize[o])}
        for i, o in enumerate(trace.obj.tolist())
    ]


def ndjson(rows):
    return b"\n".join(orjson.dumps(r) for r in rows) + b"\n"


def csv_bytes(rows, compress=False):
    text = "size,path,timestamp\n" + "".join(f"{r['size']},{r['path']},{r['timestamp']}\n" for r in rows)
    data = text.encode()
    return gzip.compress(data) if compress else data
