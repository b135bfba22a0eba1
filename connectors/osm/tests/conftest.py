"""Fixtures of the connector's tests.

The unit tests (test_unit.py) need nothing. The others run against a real kdu serve on the local control
plane, which `go test ./connectors/osm` (and so `make test`) starts and describes in KDU_SERVER, KDU_TOKEN and
KDU_OSM_TEST_* variables. Run outside it, those tests fail and say how to run them: they never skip.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pymongo
import pytest
import yaml

import kdu_osm

HOW = "run them with `go test ./connectors/osm` or `make test` (they need the kdu serve it starts)"


def pytest_sessionstart(session):
    # The tests must exercise the installed package, not the source tree.
    path = os.path.abspath(kdu_osm.__file__)
    src = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "kdu_osm"))
    if path.startswith(src):
        raise pytest.UsageError(f"kdu_osm was imported from the source tree ({path}), not from an installation")


class Env:
    def __init__(self):
        missing = [k for k in ("KDU_SERVER", "KDU_TOKEN", "KDU_OSM_TEST_MONGO_URI", "KDU_OSM_TEST_KUBECONFIG",
                               "KDU_OSM_TEST_REPO_URL") if not os.environ.get(k)]
        if missing:
            pytest.fail(f"{', '.join(missing)} not set: {HOW}", pytrace=False)
        e = os.environ
        self.server = e["KDU_SERVER"]
        self.token = e["KDU_TOKEN"]
        self.mongo_uri = e["KDU_OSM_TEST_MONGO_URI"]
        self.mongo_db = e.get("KDU_OSM_TEST_MONGO_DB", "osm")
        self.kubeconfig_path = e["KDU_OSM_TEST_KUBECONFIG"]
        with open(self.kubeconfig_path) as f:
            self.kubeconfig = f.read()
        self.repo_url = e["KDU_OSM_TEST_REPO_URL"]
        self.multi_repo_url = e.get("KDU_OSM_TEST_MULTI_REPO_URL", "")
        self.charts = e.get("KDU_OSM_TEST_CHARTS", "")
        self.testdata_charts = e.get("KDU_OSM_TEST_TESTDATA_CHARTS", "")
        self.tiller_address = e.get("KDU_OSM_TEST_TILLER_ADDRESS", "")
        self.tiller_namespace = e.get("KDU_OSM_TEST_TILLER_NAMESPACE", "")


@pytest.fixture(scope="session")
def env() -> Env:
    return Env()


class DbException(Exception):
    def __init__(self, message, http_code=404):
        super().__init__(message)
        self.http_code = http_code


class Db:
    """The part of osm_common's DbMongo that LCM's connectors use, over pymongo (test code only)."""

    def __init__(self, uri: str, name: str):
        self.client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
        self.db = self.client[name]

    def get_one(self, table, q_filter=None, fail_on_empty=True, fail_on_more=True):
        docs = list(self.db[table].find(q_filter or {}).limit(2))
        if not docs:
            if fail_on_empty:
                raise DbException(f"Not found any {table[:-1]} with filter='{q_filter}'")
            return None
        if len(docs) > 1 and fail_on_more:
            raise DbException(f"Found more than one {table[:-1]} with filter='{q_filter}'", 409)
        return docs[0]

    def get_list(self, table, q_filter=None):
        return list(self.db[table].find(q_filter or {}))

    def create(self, table, indata):
        indata = dict(indata)
        indata.setdefault("_id", str(uuid.uuid4()))
        self.db[table].insert_one(indata)
        return indata["_id"]

    def set_one(self, table, q_filter, update_dict, fail_on_empty=True, unset=None, **kwargs):
        update = {}
        if update_dict:
            update["$set"] = update_dict
        if unset:
            update["$unset"] = unset
        res = self.db[table].update_one(q_filter, update)
        if res.matched_count == 0 and fail_on_empty:
            raise DbException(f"Not found any {table[:-1]} with filter='{q_filter}'")
        return {"updated": res.modified_count}

    def del_one(self, table, q_filter=None, fail_on_empty=True):
        res = self.db[table].delete_one(q_filter or {})
        if res.deleted_count == 0 and fail_on_empty:
            raise DbException(f"Not found any {table[:-1]} with filter='{q_filter}'")


@pytest.fixture(scope="session")
def db(env) -> Db:
    d = Db(env.mongo_uri, env.mongo_db)
    yield d
    d.client.close()


class Fs:
    """LCM's FsLocal as the connectors see it (kdu needs none of it)."""

    def __init__(self, path):
        self.path = path

    def sync(self, from_path=None):
        pass

    def reverse_sync(self, from_path=None):
        pass

    def file_delete(self, storage, ignore_non_exist=False):
        pass


class Kube:
    """A tiny Kubernetes API client over the admin kubeconfig: the tests' oracle, independent of kdu."""

    def __init__(self, kubeconfig: str):
        cfg = yaml.safe_load(kubeconfig)
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        self._dir = tempfile.mkdtemp(prefix="kdu-osm-kube-")
        ca = os.path.join(self._dir, "ca.crt")
        cert = os.path.join(self._dir, "client.crt")
        key = os.path.join(self._dir, "client.key")
        for path, data in ((ca, cluster["certificate-authority-data"]), (cert, user["client-certificate-data"]),
                           (key, user["client-key-data"])):
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))
            os.chmod(path, 0o600)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)

    def request(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.request("GET", path)
        return body if status == 200 else None

    def wait_for(self, what, fn, timeout=60.0):
        deadline = time.time() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.time() > deadline:
                raise AssertionError(f"{what}: not so after {timeout}s")
            time.sleep(0.2)

    def apply(self, path, obj, manager):
        """Server-side apply of obj as field manager `manager` (forced)."""
        status, body = self.request("PATCH", f"{path}?fieldManager={manager}&force=true", obj,
                                    content_type="application/apply-patch+yaml")
        assert status == 200, body
        return body

    def deployment(self, ns, name):
        return self.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")

    def delete_namespace(self, ns):
        self.request("DELETE", f"/api/v1/namespaces/{ns}")


@pytest.fixture(scope="session")
def kube(env) -> Kube:
    return Kube(env.kubeconfig)


class UpdateRecorder:
    """LCM's on_update_db callback: records its calls."""

    def __init__(self):
        self.calls = []

    async def __call__(self, table, filter, path, updated_data):
        self.calls.append((table, filter, path, updated_data))


@pytest.fixture
def on_update():
    return UpdateRecorder()


def _log():
    log = logging.getLogger("kdu_osm.test")
    log.setLevel(logging.DEBUG)
    return log


@pytest.fixture
async def helm3(env, db, on_update):
    c = kdu_osm.K8sHelm3Connector(fs=Fs("/app/storage"), db=db, log=_log(), on_update_db=on_update,
                                  kubectl_command="/usr/bin/kubectl", helm_command="/usr/bin/helm3")
    yield c
    await c.close()


@pytest.fixture
async def helm2(env, db, on_update):
    c = kdu_osm.K8sHelmConnector(fs=Fs("/app/storage"), db=db, log=_log(), on_update_db=on_update,
                                 tiller_address=env.tiller_address)
    yield c
    await c.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def namespace(kube):
    """A fresh namespace name; the namespace (if anything created it) is deleted afterwards."""
    ns = unique("osm")
    yield ns
    kube.delete_namespace(ns)


async def register(connector, db, env, *, helm_id_field: str, namespace: str = "kube-system") -> str:
    """LCM's cluster registration: a k8sclusters document, init_env with its _id, the id written back."""
    cid = db.create("k8sclusters", {"name": unique("vim-k8s"), "namespace": namespace, "_admin": {}})
    got, installed = await connector.init_env(env.kubeconfig, namespace=namespace, reuse_cluster_uuid=cid)
    assert got == cid and installed is False
    db.set_one("k8sclusters", {"_id": cid}, {helm_id_field: cid, helm_id_field[:-len(".id")] + ".created": installed})
    return cid


@pytest.fixture
async def cluster(helm3, db, env):
    """A cluster registered through init_env (LCM's way); reset (releases uninstalled) afterwards."""
    cid = await register(helm3, db, env, helm_id_field="_admin.helm-chart-v3.id")
    yield cid
    try:
        await helm3.reset(cid, force=True, uninstall_sw=True)
    except Exception as e:  # the test may have reset it already
        logging.getLogger("kdu_osm.test").warning("reset %s: %s", cid, e)


@pytest.fixture
async def repo(helm3, cluster, env):
    """The webapp chart repository, added to the cluster as "local"."""
    await helm3.repo_add(cluster, "local", env.repo_url)
    return "local"


def nsr_documents(db, kdu_instance: str, *, cluster: str, namespace: str, model: str):
    """An NS record with one KDU (LCM's shape) and its VNF record; returns (nsr_id, db_dict)."""
    nsr_id = str(uuid.uuid4())
    vnfr_id = str(uuid.uuid4())
    db.create("nsrs", {"_id": nsr_id, "nsd": {"_id": "nsd-" + nsr_id[:8]}, "_admin": {"deployed": {"K8s": [{
        "kdu-instance": kdu_instance, "k8scluster-uuid": cluster, "k8scluster-type": "helm-chart-v3",
        "member-vnf-index": "1", "kdu-name": "web", "kdu-model": model, "namespace": namespace}]}}})
    db.create("vnfrs", {"_id": vnfr_id, "nsr-id-ref": nsr_id, "member-vnf-index-ref": "1", "vnfd-id": "vnfd-web"})
    return nsr_id, {"collection": "nsrs", "filter": {"_id": nsr_id}, "path": "_admin.deployed.K8s.0"}


def kdu_status(db, nsr_id: str, index: int = 0) -> dict:
    return db.get_one("nsrs", {"_id": nsr_id})["_admin"]["deployed"]["K8s"][index]


def loop_time() -> float:
    return asyncio.get_running_loop().time()
