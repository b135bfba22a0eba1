"""N2VC's Helm connectors, implemented over a kdu server.

``K8sHelm3Connector`` and ``K8sHelmConnector`` take N2VC's constructor arguments and have its public methods
with the same parameters, defaults and return shapes. Instead of running ``helm`` and ``kubectl`` against
kubeconfigs on LCM's file system, every method is one or two calls to the kdu API; kdu keeps the clusters,
their credentials (encrypted) and their repositories in its own store. See docs/osm.md.
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets
import time
import uuid
from typing import Any, Union

import yaml

from . import charts, shapes
from .client import KduClient, seg
from .exceptions import K8sException, KduException, invalid

KDU_SERVER_ENV = "KDU_SERVER"
KDU_TOKEN_ENV = "KDU_TOKEN"

_EXEC_PRIMITIVE_MSG = "KDUs deployed with Helm don't support actions different from rollback, upgrade and status"
_UPGRADE_CHARM_MSG = "KDUs deployed with Helm do not support charm upgrade"


def _seconds(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid(field, f"{value!r} is not a number of seconds")
    try:
        f = float(value)
    except ValueError:
        raise invalid(field, f"{value!r} is not a number of seconds") from None
    if not f > 0 or f != f or f == float("inf"):
        raise invalid(field, f"{value!r} must be a positive number of seconds")
    return f


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(field, "must be a non-empty string")
    return value


def _mapping(value: Any, field: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(field, f"must be a mapping, not {type(value).__name__}")
    return value


def _labels(value: Any, field: str) -> dict[str, str] | None:
    m = _mapping(value, field)
    if m is None:
        return None
    for k, v in m.items():
        if not isinstance(k, str) or not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise invalid(field, f"entry {k!r}: keys and values must be strings")
    return {k: str(v) for k, v in m.items()}


def _db_target(db_dict: Any) -> dict | None:
    """N2VC's db_dict as a kdu MongoDB status target (kdu validates it further)."""
    if not db_dict:
        return None
    if not isinstance(db_dict, dict):
        raise invalid("db_dict", f"must be a mapping with collection, filter and path, not {type(db_dict).__name__}")
    for key, typ in (("collection", str), ("filter", dict), ("path", str)):
        if not isinstance(db_dict.get(key), typ) or not db_dict.get(key):
            raise invalid(f"db_dict.{key}", f"must be a non-empty {typ.__name__}")
    return {"mongo": {"collection": db_dict["collection"], "filter": db_dict["filter"],
                      "path": db_dict["path"].rstrip(".")}}


def _cluster(cluster_uuid: Any) -> tuple[str, str]:
    """(id, namespace) of a cluster reference: the plain id, or N2VC's legacy ``namespace:id``."""
    ref = _name(cluster_uuid, "cluster_uuid")
    ns, _, cid = ref.rpartition(":")
    if not cid:
        raise invalid("cluster_uuid", f"{ref!r} has no cluster id after ':'")
    return seg(cid, "cluster_uuid"), ns


class _KduHelmConnector:
    """What both connectors share. Not for direct use: take K8sHelm3Connector or K8sHelmConnector."""

    _flavour = "helm3"
    #: k8sclusters field that holds the id of this connector's registration (LCM writes it).
    _helm_id_field = "_admin.helm-chart-v3.id"
    service_account = "osm"

    def __init__(
        self,
        fs: object = None,
        db: object = None,
        kubectl_command: str = "/usr/bin/kubectl",
        helm_command: str = "/usr/bin/helm3",
        log: object = None,
        on_update_db=None,
        *,
        kdu_url: str | None = None,
        kdu_token: str | None = None,
        project: str | None = None,
        tiller_address: str | None = None,
        request_timeout: float | None = None,
    ):
        """N2VC's arguments; ``kubectl_command`` and ``helm_command`` are accepted and ignored (no binaries).

        ``kdu_url`` and ``kdu_token`` default to ``$KDU_SERVER`` and ``$KDU_TOKEN``. ``project`` is the kdu
        project clusters are registered in (default: the token's). ``tiller_address`` (Helm 2 only) is where
        Tiller answers when kdu should not port-forward to it.
        """
        self.fs = fs
        self.db = db
        self.on_update_db = on_update_db
        self.log = log if log is not None else logging.getLogger("kdu_osm")
        self.kubectl_command = kubectl_command
        self._helm_command = helm_command
        self._project = project
        self._tiller_address = tiller_address
        kw = {} if request_timeout is None else {"request_timeout": request_timeout}
        self.kdu = KduClient(kdu_url or os.environ.get(KDU_SERVER_ENV, ""),
                             kdu_token if kdu_token is not None else os.environ.get(KDU_TOKEN_ENV),
                             log=self.log, **kw)

    async def close(self) -> None:
        """Closes the HTTP session (LCM never needs to; tests do)."""
        await self.kdu.close()

    # -- paths ------------------------------------------------------------------------------------------

    @staticmethod
    def _kdus(cluster_uuid: str) -> str:
        cid, _ = _cluster(cluster_uuid)
        return f"/v1/clusters/{cid}/kdus"

    def _kdu(self, cluster_uuid: str, kdu_instance: str) -> tuple[str, dict]:
        cid, ns = _cluster(cluster_uuid)
        path = f"/v1/clusters/{cid}/kdus/{seg(_name(kdu_instance, 'kdu_instance'), 'kdu_instance')}"
        return path, ({"namespace": ns} if ns else {})

    async def _run(self, method: str, path: str, body: dict, *, query: dict | None = None,
                   db_dict: dict | None = None) -> dict:
        op = await self.kdu.run(method, path, body, query=query)
        if db_dict:
            await self._notify(db_dict)
        return op

    async def _notify(self, db_dict: dict) -> None:
        """N2VC called on_update_db(table, filter, path, updated_data) after each status write; kdu wrote the
        status, so the connector reads it back and makes the same call."""
        if self.on_update_db is None or self.db is None:
            return
        try:
            path = db_dict["path"].rstrip(".")
            doc = self.db.get_one(db_dict["collection"], db_dict["filter"], fail_on_empty=False) or {}
            node: Any = doc
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else (
                    node[int(part)] if isinstance(node, list) and part.isdigit() and int(part) < len(node) else None)
            node = node if isinstance(node, dict) else {}
            update = {f"{path}.{k}": node[k] for k in ("operation", "status", "detailed-status", "status-time")
                      if k in node}
            result = self.on_update_db(db_dict["collection"], db_dict["filter"], path, update)
            if inspect.isawaitable(result):
                await result
        except Exception as e:  # N2VC never let on_update_db fail an operation either
            self.log.warning("on_update_db after a kdu status write: %s", e)

    # -- clusters ---------------------------------------------------------------------------------------

    async def init_env(self, k8s_creds: str, namespace: str = "kube-system", reuse_cluster_uuid=None,
                       **kwargs) -> tuple[str, bool]:
        """Registers the cluster in kdu (re-registers a reused id with the new credentials) and returns
        ``(cluster_uuid, installed_sw)``."""
        if not isinstance(k8s_creds, str) or not k8s_creds.strip():
            raise invalid("k8s_creds", "must be the kubeconfig's text")
        ref = reuse_cluster_uuid or str(uuid.uuid4())
        cid, ref_ns = _cluster(ref)
        namespace = namespace or ref_ns or "kube-system"
        body: dict[str, Any] = {"id": cid, "kubeconfig": k8s_creds, "flavour": self._flavour, "replace": True}
        if kwargs.get("context"):
            body["context"] = kwargs["context"]
        project = kwargs.get("project") or self._project
        if project:
            body["project"] = project
        body.update(self._cluster_fields(namespace, kwargs))
        cluster = await self.kdu.request("POST", "/v1/clusters", body=body, ok=(200, 201))
        await self._after_init(cid, namespace)
        self.log.info("cluster %s registered in kdu (%s)", cid, self._flavour)
        return ref, bool(cluster.get("installedSW"))

    def _cluster_fields(self, namespace: str, kwargs: dict) -> dict:
        # Helm 3: installs without a namespace go to the kubeconfig context's, as with N2VC; kube-system, N2VC's
        # default here, only says "no namespace of its own".
        return {"namespace": namespace} if namespace and namespace != "kube-system" else {}

    async def _after_init(self, cid: str, namespace: str) -> None:
        if namespace and namespace != "kube-system":  # N2VC created it
            await self.create_namespace(namespace, cid, None)

    async def reset(self, cluster_uuid: str, force: bool = False, uninstall_sw: bool = False, **kwargs) -> bool:
        """N2VC's meaning: without ``force`` and ``uninstall_sw`` the cluster is forgotten (releases stay);
        with both, its releases are uninstalled and (Helm 2) Tiller removed. A cluster kdu does not know is
        already reset."""
        cid, _ = _cluster(cluster_uuid)
        query: dict[str, Any]
        if uninstall_sw and force:
            query = {"force": True, "uninstallSW": True}
        elif uninstall_sw and not await self.instances_list(cid):
            query = {"uninstallSW": True}
        else:
            if uninstall_sw:
                self.log.warning("cluster %s has releases and not force: leaving its software", cid)
            query = {"forget": True}
        try:
            await self.kdu.request("DELETE", f"/v1/clusters/{cid}", query=query)
        except KduException as e:
            if e.code != "not_found":
                raise
            self.log.warning("reset: cluster %s is not registered in kdu", cid)
        return True

    async def get_namespace(self, cluster_uuid: str) -> str | None:
        """The cluster's namespace: from its k8sclusters document, as N2VC read it, else kdu's registration."""
        cid, ns = _cluster(cluster_uuid)
        if ns:
            return ns
        if self.db is not None:
            doc = self.db.get_one("k8sclusters", {"_id": cid}, fail_on_empty=False)
            if doc and doc.get("namespace"):
                return doc["namespace"]
        cluster = await self.kdu.request("GET", f"/v1/clusters/{cid}")
        return cluster.get("namespace") or None

    # -- repositories -----------------------------------------------------------------------------------

    async def repo_add(self, cluster_uuid: str, name: str, url: str, repo_type: str = "chart", cert: str = None,
                       user: str = None, password: str = None, oci: bool = False):
        cid, _ = _cluster(cluster_uuid)
        body = self._repo_body(None, name, url, cert, user, password, oci)
        try:
            await self.kdu.request("POST", f"/v1/clusters/{cid}/repos", body=body, ok=(201,))
        except KduException as e:
            if e.code != "exists":
                raise
            # helm repo add of the same name and URL succeeds; a different URL is an error, as with helm.
            for r in await self.repo_list(cid):
                if r["name"] == name and r.get("scope") == "cluster" and r["url"].rstrip("/") == body["url"].rstrip("/"):
                    return None
            raise

    @staticmethod
    def _repo_body(repo_id, name, url, cert, user, password, oci) -> dict:
        _name(name, "name")
        _name(url, "url")
        if oci and not url.startswith("oci://"):
            url = "oci://" + url
        body: dict[str, Any] = {"name": name, "url": url}
        if repo_id:
            body["id"] = str(repo_id)
        if oci:
            body["type"] = "oci"
        if user:
            body["username"] = user
        if password:
            body["password"] = password
        if cert:
            body["caCert"] = cert
        return body

    async def repo_update(self, cluster_uuid: str, name: str, repo_type: str = "chart"):
        """Refreshes one repository's index. As with N2VC a failed refresh does not raise (kdu keeps using the
        previous index); it is logged. An unknown cluster or repository raises."""
        cid, _ = _cluster(cluster_uuid)
        res = await self.kdu.request("POST", f"/v1/clusters/{cid}/repos:update", body={"names": [name]})
        for r in (res or {}).get("items", []):
            if r.get("error"):
                self.log.warning("repo_update %s on %s: %s", r.get("name"), cid, r["error"])

    async def repo_list(self, cluster_uuid: str) -> list:
        cid, _ = _cluster(cluster_uuid)
        res = await self.kdu.request("GET", f"/v1/clusters/{cid}/repos")
        return [shapes.repo(r) for r in (res or {}).get("items", [])]

    async def repo_remove(self, cluster_uuid: str, name: str):
        cid, _ = _cluster(cluster_uuid)
        await self.kdu.request("DELETE", f"/v1/clusters/{cid}/repos/{seg(_name(name, 'name'), 'name')}")

    async def synchronize_repos(self, cluster_uuid: str):
        """Makes the cluster's repositories those OSM assigns to it (``k8sclusters._admin.helm_chart_repos`` →
        ``k8srepos``) and returns N2VC's ``(deleted, added)``: the ids (names for repositories without an id)
        of those removed, and ``{id: name}`` of those added or changed."""
        cid, _ = _cluster(cluster_uuid)
        if self.db is None:
            raise K8sException("synchronize_repos needs the connector's db")
        cluster_doc = self.db.get_one("k8sclusters", {self._helm_id_field: cid}, fail_on_empty=False)
        if not cluster_doc:
            raise K8sException(f"k8cluster with helm-id : {cid} not found")
        desired = []
        for repo_id in (cluster_doc.get("_admin") or {}).get("helm_chart_repos") or []:
            doc = self.db.get_one("k8srepos", {"_id": repo_id}, fail_on_empty=False)
            if not doc:
                raise K8sException(f"Error adding repo id: {repo_id}, err_msg: no k8srepos document")
            try:
                desired.append(self._repo_body(doc.get("_id"), doc.get("name"), doc.get("url"), doc.get("ca_cert"),
                                               doc.get("user"), doc.get("password"), bool(doc.get("oci", False))))
            except KduException as e:
                raise K8sException(f"Error adding repo id: {repo_id}, err_msg: {e}") from e
        res = await self.kdu.request("POST", f"/v1/clusters/{cid}/repos:sync", body={"repos": desired})
        deleted = [r.get("id") or r.get("name") for r in res.get("removed") or []]
        added = {(r.get("id") or r.get("name")): r.get("name")
                 for r in (res.get("added") or []) + (res.get("updated") or [])}
        return deleted, added

    # -- the KDU life cycle -----------------------------------------------------------------------------

    def _wait_fields(self, atomic: bool, timeout: Any, field: str = "timeout") -> dict:
        # N2VC ran helm with --atomic (which waits) or with neither --atomic nor --wait.
        body: dict[str, Any] = {"atomic": bool(atomic), "wait": bool(atomic)}
        t = _seconds(timeout, field)
        if t is not None:
            body["timeout"] = t
        return body

    async def _pod_labels(self, db_dict: dict | None, kdu_instance: str) -> dict[str, str]:
        return {}

    async def install(self, cluster_uuid: str, kdu_model: str, kdu_instance: str, atomic: bool = True,
                      timeout: float = 300, params: dict = None, db_dict: dict = None, kdu_name: str = None,
                      namespace: str = None, **kwargs) -> bool:
        path = self._kdus(cluster_uuid)
        _, ref_ns = _cluster(cluster_uuid)
        body: dict[str, Any] = {"name": _name(kdu_instance, "kdu_instance"), "createNamespace": True}
        body.update(charts.chart_source(kdu_model))
        ns = namespace or ref_ns
        if ns:
            body["namespace"] = ns
        if _mapping(params, "params"):
            body["params"] = params
        body.update(self._wait_fields(atomic, timeout))
        target = _db_target(db_dict)
        if target:
            body["statusTargets"] = [target]
        labels = await self._pod_labels(db_dict, kdu_instance)
        if labels:
            body["podLabels"] = labels
        await self._run("POST", path, body, db_dict=db_dict)
        return True

    async def upgrade(self, cluster_uuid: str, kdu_instance: str, kdu_model: str = None, atomic: bool = True,
                      timeout: float = 300, params: dict = None, db_dict: dict = None, namespace: str = None,
                      targetHostK8sLabels: dict = None, reset_values: bool = False, reuse_values: bool = True,
                      reset_then_reuse_values: bool = False, force: bool = False) -> int:
        """Upgrades and returns the new revision. Without ``kdu_model`` the release's chart is kept."""
        path, query = self._kdu(cluster_uuid, kdu_instance)
        body: dict[str, Any] = {}
        if kdu_model:
            body.update(charts.chart_source(kdu_model))
        if namespace:
            body["namespace"] = namespace
        if _mapping(params, "params"):
            body["params"] = params
        if reset_values:
            body["valuesMode"] = "reset"
        elif reuse_values:
            body["valuesMode"] = "reuse"
        elif reset_then_reuse_values:
            body["valuesMode"] = "reset-then-reuse"
        else:
            body["valuesMode"] = "reuse"
        if force:
            body["forceReplace"] = True
        body.update(self._wait_fields(atomic, timeout))
        node_selector = _labels(targetHostK8sLabels, "targetHostK8sLabels")
        if node_selector:
            body["nodeSelector"] = node_selector
        target = _db_target(db_dict)
        if target:
            body["statusTargets"] = [target]
        labels = await self._pod_labels(db_dict, kdu_instance)
        if labels:
            body["podLabels"] = labels
        op = await self._run("POST", path + ":upgrade", body, query=query, db_dict=db_dict)
        return _revision(op)

    async def scale(self, kdu_instance: str, scale: int, resource_name: str, total_timeout: float = 1800,
                    cluster_uuid: str = None, kdu_model: str = None, atomic: bool = True, db_dict: dict = None,
                    **kwargs) -> bool:
        path, query = self._kdu(cluster_uuid, kdu_instance)
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 0:
            raise invalid("scale", f"{scale!r} is not a replica count")
        body: dict[str, Any] = {"replicas": scale, "resource": resource_name or ""}
        body.update(self._wait_fields(atomic, total_timeout, "total_timeout"))
        target = _db_target(db_dict)
        if target:
            body["statusTargets"] = [target]
        await self._run("POST", path + ":scale", body, query=query, db_dict=db_dict)
        return True

    async def get_scale_count(self, resource_name: str, kdu_instance: str, cluster_uuid: str, kdu_model: str,
                              **kwargs) -> int:
        path, query = self._kdu(cluster_uuid, kdu_instance)
        res = await self.kdu.request("GET", path + "/scale", query={**query, "resource": resource_name or ""})
        return int(res["replicas"])

    async def rollback(self, cluster_uuid: str, kdu_instance: str, revision=0, db_dict: dict = None) -> int:
        """Rolls back (``revision`` 0: to the previous one), waits, and returns the new revision."""
        path, query = self._kdu(cluster_uuid, kdu_instance)
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
            raise invalid("revision", f"{revision!r} is not a revision number")
        body: dict[str, Any] = {"revision": revision, "wait": True}
        target = _db_target(db_dict)
        if target:
            body["statusTargets"] = [target]
        op = await self._run("POST", path + ":rollback", body, query=query, db_dict=db_dict)
        return _revision(op)

    async def uninstall(self, cluster_uuid: str, kdu_instance: str, **kwargs):
        """Uninstalls; a release that does not exist is already uninstalled (True, as N2VC)."""
        path, query = self._kdu(cluster_uuid, kdu_instance)
        await self._run("DELETE", path, {}, query=query)
        return True

    async def migrate(self, nsr_id: str, target: dict):
        """Moves the KDU whose kdu-instance is ``target["vdu"]["vduId"]`` to the nodes
        ``target["targetHostK8sLabels"]`` selects (kdu's migrate: an atomic, force-replacing upgrade of the
        current chart and values). True when done, None when no deployed KDU matches."""
        if self.db is None:
            raise K8sException("migrate needs the connector's db")
        _name(nsr_id, "nsr_id")
        if not isinstance(target, dict) or not isinstance(target.get("vdu"), dict):
            raise invalid("target", "must be a mapping with vdu.vduId and targetHostK8sLabels")
        node_selector = _labels(target.get("targetHostK8sLabels"), "target.targetHostK8sLabels")
        if not node_selector:
            raise invalid("target.targetHostK8sLabels", "the labels of the nodes to move to are required")
        nsr = self.db.get_one("nsrs", {"_id": nsr_id}, fail_on_empty=False) or {}
        deployed = ((nsr.get("_admin") or {}).get("deployed") or {}).get("K8s") or []
        if not deployed:
            raise K8sException("INFO: No deployed KDUs")
        for index, kdu in enumerate(deployed):
            if kdu.get("kdu-instance") != target["vdu"].get("vduId"):
                continue
            db_dict = {"collection": "nsrs", "filter": {"_id": nsr_id}, "path": f"_admin.deployed.K8s.{index}"}
            path, query = self._kdu(kdu["k8scluster-uuid"], kdu["kdu-instance"])
            body: dict[str, Any] = {"nodeSelector": node_selector, "statusTargets": [_db_target(db_dict)]}
            if kdu.get("namespace"):
                body["namespace"] = kdu["namespace"]
            await self._run("POST", path + ":migrate", body, query=query, db_dict=db_dict)
            return True
        self.log.debug("migrate: no deployed KDU is %s", target["vdu"].get("vduId"))
        return None

    # -- reads ------------------------------------------------------------------------------------------

    async def instances_list(self, cluster_uuid: str) -> list:
        cid, ns = _cluster(cluster_uuid)
        res = await self.kdu.request("GET", f"/v1/clusters/{cid}/kdus", query={"namespace": ns} if ns else None)
        return [shapes.instance(r, helm2=self._flavour == "helm2") for r in (res or {}).get("items", [])]

    async def get_instance_info(self, cluster_uuid: str, kdu_instance: str):
        """The instances_list entry of the release, or None."""
        path, query = self._kdu(cluster_uuid, kdu_instance)
        try:
            st = await self.kdu.request("GET", path, query=query)
        except KduException as e:
            if e.code == "not_found" and e.field in ("", "name", "kdu_instance"):
                return None
            raise
        return shapes.instance(st, helm2=self._flavour == "helm2")

    async def status_kdu(self, cluster_uuid: str, kdu_instance: str, yaml_format: str = False,
                         **kwargs) -> Union[str, dict]:
        path, query = self._kdu(cluster_uuid, kdu_instance)
        try:
            st = await self.kdu.request("GET", path, query={**query, "manifest": True})
        except KduException as e:
            if e.code == "not_found" and e.field in ("", "name"):
                raise KduException(f"Instance name: {kdu_instance} not found in cluster: {cluster_uuid}",
                                   code="not_found", field="kdu_instance", status=e.status) from e
            raise
        out = shapes.status(st)
        return yaml.safe_dump(out, sort_keys=False) if yaml_format else out

    async def get_services(self, cluster_uuid: str, kdu_instance: str, namespace: str) -> list:
        path, query = self._kdu(cluster_uuid, kdu_instance)
        if namespace:
            query = {"namespace": namespace}
        res = await self.kdu.request("GET", path + "/services", query=query)
        return [shapes.service(s) for s in (res or {}).get("items", [])]

    async def get_service(self, cluster_uuid: str, service_name: str, namespace: str) -> object:
        cid, ns = _cluster(cluster_uuid)
        ns = namespace or ns
        svc = await self.kdu.request(
            "GET", f"/v1/clusters/{cid}/services/{seg(_name(ns, 'namespace'), 'namespace')}/"
                   f"{seg(_name(service_name, 'service_name'), 'service_name')}")
        return shapes.service(svc)

    async def get_values_kdu(self, kdu_instance: str, namespace: str, kubeconfig: str, **kwargs) -> str:
        """The release's user values as YAML. N2VC took the cluster from the kubeconfig path
        (``<fs.path>/<cluster>/.kube/config``): so does this, unless ``cluster_uuid=`` is given."""
        cluster_uuid = kwargs.get("cluster_uuid") or _cluster_of_kubeconfig(kubeconfig)
        path, query = self._kdu(cluster_uuid, kdu_instance)
        if namespace:
            query = {"namespace": namespace}
        values = await self.kdu.request("GET", path + "/values", query=query)
        return yaml.safe_dump(values or {}, sort_keys=False)

    # -- charts -----------------------------------------------------------------------------------------

    async def _show(self, kdu_model: str, repo_url: str | None) -> dict:
        body: dict[str, Any]
        if repo_url:
            if not isinstance(kdu_model, str) or not kdu_model:
                raise invalid("kdu_model", "a chart reference is required")
            chart, _repo, version = charts.split_repo_version(kdu_model)
            body = {"chart": chart, "repoUrl": repo_url}
            if version:
                body["version"] = version
        else:
            body = charts.chart_source(kdu_model)
        return await self.kdu.request("POST", "/v1/charts:show", body=body)

    async def inspect_kdu(self, kdu_model: str, repo_url: str = None) -> str:
        return shapes.show_all(await self._show(kdu_model, repo_url))

    async def values_kdu(self, kdu_model: str, repo_url: str = None) -> str:
        return (await self._show(kdu_model, repo_url)).get("values", "")

    async def help_kdu(self, kdu_model: str, repo_url: str = None) -> str:
        return (await self._show(kdu_model, repo_url)).get("readme", "")

    async def readme_kdu(self, kdu_model: str, repo_url: str = None) -> str:
        return await self.help_kdu(kdu_model, repo_url)

    @staticmethod
    def generate_kdu_instance_name(**kwargs) -> str:
        """N2VC's name (synchronous and static, as LCM calls it): the chart part of ``kdu_model`` with every
        character other than an ASCII letter or digit turned into '-', cut to 35, prefixed 'a' unless it starts
        with a letter, then '-' and 10 random digits, lower-cased. kdu checks uniqueness at install."""
        model = kwargs.get("kdu_model")
        if not isinstance(model, str) or not model:
            raise invalid("kdu_model", "is required to generate a name")
        return generate_name(model)

    # -- unsupported ------------------------------------------------------------------------------------

    async def exec_primitive(self, cluster_uuid: str = None, kdu_instance: str = None, primitive_name: str = None,
                             timeout: float = 300, params: dict = None, db_dict: dict = None, **kwargs) -> str:
        if not cluster_uuid or not kdu_instance:
            raise KduException(_EXEC_PRIMITIVE_MSG, code="unsupported")
        path, query = self._kdu(cluster_uuid, kdu_instance)
        body = {"primitive": primitive_name or "", "params": _mapping(params, "params") or {}}
        if query.get("namespace"):
            body["namespace"] = query["namespace"]
        await self.kdu.request("POST", path + ":execPrimitive", body=body)
        raise KduException(_EXEC_PRIMITIVE_MSG, code="unsupported")  # the server always refuses

    async def upgrade_charm(self, ee_id: str = None, path: str = None, charm_id: str = None,
                            charm_type: str = None, timeout: float = None) -> str:
        raise KduException(_UPGRADE_CHARM_MSG, code="unsupported")

    # -- status -----------------------------------------------------------------------------------------

    async def write_app_status_to_db(self, db_dict: dict, status: str, detailed_status: str,
                                     operation: str) -> bool:
        """N2VC's own status write through the connector's db (kdu writes operation status itself; this is
        for callers that call it directly). Never raises: False when nothing was written."""
        if not self.db or not db_dict:
            self.log.warning("write_app_status_to_db: no db or db_dict")
            return False
        try:
            path = db_dict["path"]
            if not path.endswith("."):
                path += "."
            update = {path + "operation": operation, path + "status": status,
                      path + "detailed-status": detailed_status, path + "status-time": str(time.time())}
            self.db.set_one(table=db_dict["collection"], q_filter=db_dict["filter"], update_dict=update,
                            fail_on_empty=True)
            if self.on_update_db:
                result = self.on_update_db(db_dict["collection"], db_dict["filter"], path.rstrip("."), update)
                if inspect.isawaitable(result):
                    await result
            return True
        except Exception as e:
            self.log.info("write_app_status_to_db: %s", e)
            return False

    # -- Kubernetes helpers -----------------------------------------------------------------------------

    async def create_namespace(self, namespace, cluster_uuid, labels=None):
        cid, _ = _cluster(cluster_uuid)
        body = {"labels": _labels(labels, "labels") or {}}
        await self.kdu.request("PUT", f"/v1/clusters/{cid}/namespaces/{seg(_name(namespace, 'namespace'), 'namespace')}",
                               body=body)

    async def delete_namespace(self, namespace, cluster_uuid):
        cid, _ = _cluster(cluster_uuid)
        await self.kdu.request("DELETE", f"/v1/clusters/{cid}/namespaces/{seg(_name(namespace, 'namespace'), 'namespace')}")

    def _ns_path(self, cluster_uuid, namespace, kind, name, field) -> str:
        cid, _ = _cluster(cluster_uuid)
        return (f"/v1/clusters/{cid}/namespaces/{seg(_name(namespace, 'namespace'), 'namespace')}/{kind}/"
                f"{seg(_name(name, field), field)}")

    async def create_certificate(self, cluster_uuid, namespace, dns_prefix, name, secret_name, usage):
        usages = [usage] if isinstance(usage, str) else list(usage or [])
        body = {"dnsPrefix": _name(dns_prefix, "dns_prefix"), "secretName": secret_name or name,
                "issuerName": "ca-issuer", "usages": usages}
        await self.kdu.request("PUT", self._ns_path(cluster_uuid, namespace, "certificates", name, "name"), body=body)

    async def delete_certificate(self, cluster_uuid, namespace, certificate_name):
        await self.kdu.request("DELETE", self._ns_path(cluster_uuid, namespace, "certificates", certificate_name,
                                                       "certificate_name"))

    async def copy_secret_data(self, src_secret: str, dst_secret: str, cluster_uuid: str, data_key: str,
                               src_namespace: str = "osm", dst_namespace: str = "osm"):
        cid, _ = _cluster(cluster_uuid)
        body = {"source": {"namespace": src_namespace, "name": _name(src_secret, "src_secret"),
                           "key": _name(data_key, "data_key")},
                "target": {"namespace": dst_namespace, "name": _name(dst_secret, "dst_secret")}}
        await self.kdu.request("POST", f"/v1/clusters/{cid}/secrets:copy", body=body)

    async def setup_default_rbac(self, name, namespace, cluster_uuid, api_groups, resources, verbs,
                                 service_account):
        body = {"serviceAccount": _name(service_account, "service_account"),
                "rules": [{"apiGroups": list(api_groups or []), "resources": list(resources or []),
                           "verbs": list(verbs or [])}]}
        await self.kdu.request("PUT", self._ns_path(cluster_uuid, namespace, "rbac", name, "name"), body=body)


class K8sHelm3Connector(_KduHelmConnector):
    """N2VC's ``K8sHelm3Connector`` over kdu: Helm 3 KDUs (the Helm v4 SDK in kdu)."""

    _flavour = "helm3"
    _helm_id_field = "_admin.helm-chart-v3.id"

    async def _pod_labels(self, db_dict: dict | None, kdu_instance: str) -> dict[str, str]:
        """N2VC's OSM labels of the KDU (from its nsrs entry and vnfrs document), or {} when the NS record
        has no entry for it (an execution-environment chart)."""
        if not db_dict or self.db is None:
            return {}
        ns_id = (db_dict.get("filter") or {}).get("_id")
        if not ns_id or db_dict.get("collection") != "nsrs":
            return {}
        nsr = self.db.get_one("nsrs", {"_id": ns_id}, fail_on_empty=False)
        if not nsr:
            raise KduException(f"db_dict.filter: nsr {ns_id} not found", code="not_found", field="db_dict.filter")
        for kdu in ((nsr.get("_admin") or {}).get("deployed") or {}).get("K8s") or []:
            if kdu.get("kdu-instance") == kdu_instance:
                break
        else:
            return {}
        vnfr = self.db.get_one("vnfrs", {"nsr-id-ref": ns_id, "member-vnf-index-ref": kdu.get("member-vnf-index")},
                               fail_on_empty=False)
        if not vnfr:
            raise KduException(f"vnfr of member-vnf-index {kdu.get('member-vnf-index')!r} of nsr {ns_id} not found",
                               code="not_found", field="db_dict.filter")
        return {
            "managed-by": "osm.etsi.org",
            "osm.etsi.org/ns-id": str(ns_id),
            "osm.etsi.org/nsd-id": str((nsr.get("nsd") or {}).get("_id", "")),
            "osm.etsi.org/vnf-id": str(vnfr.get("_id", "")),
            "osm.etsi.org/vnfd-id": str(vnfr.get("vnfd-id", "")),
            "osm.etsi.org/kdu-id": kdu_instance,
            "osm.etsi.org/kdu-name": str(kdu.get("kdu-name", "")),
        }


class K8sHelmConnector(_KduHelmConnector):
    """N2VC's ``K8sHelmConnector`` over kdu: Helm 2 KDUs, on clusters where Tiller runs (kdu speaks Tiller's
    gRPC API; it installs Tiller at ``init_env`` when it is absent)."""

    _flavour = "helm2"
    _helm_id_field = "_admin.helm-chart.id"

    def __init__(self, fs: object = None, db: object = None, kubectl_command: str = "/usr/bin/kubectl",
                 helm_command: str = "/usr/bin/helm", log: object = None, on_update_db=None, **kwargs):
        super().__init__(fs, db, kubectl_command, helm_command, log, on_update_db, **kwargs)

    def _cluster_fields(self, namespace: str, kwargs: dict) -> dict:
        # Helm 2: the namespace is Tiller's.
        out = {"tillerNamespace": namespace or "kube-system"}
        address = kwargs.get("tiller_address") or self._tiller_address
        if address:
            out["tillerAddress"] = address
        return out

    async def _after_init(self, cid: str, namespace: str) -> None:
        return None  # kdu looked for Tiller (and installed it if absent) at registration

    async def migrate(self, nsr_id: str, target: dict):
        raise KduException("migrate: Helm 2 KDUs cannot be migrated (N2VC's Helm 2 connector had no migrate)",
                           code="unsupported")


def _revision(op: dict) -> int:
    rev = op.get("revision") or (op.get("release") or {}).get("revision") or 0
    return int(rev)


def _cluster_of_kubeconfig(kubeconfig: Any) -> str:
    """N2VC's per-cluster kubeconfig path ``…/<cluster>/.kube/config`` → ``<cluster>``."""
    if not isinstance(kubeconfig, str) or not kubeconfig:
        raise invalid("kubeconfig", "give cluster_uuid=, or N2VC's kubeconfig path <fs.path>/<cluster>/.kube/config")
    parts = [p for p in kubeconfig.replace("\\", "/").split("/") if p]
    if len(parts) >= 3 and parts[-2:] == [".kube", "config"]:
        return parts[-3]
    raise invalid("kubeconfig", f"{kubeconfig!r} is not <fs.path>/<cluster>/.kube/config; give cluster_uuid=")


def generate_name(model: str) -> str:
    """The rule of kdu's naming.GenerateReleaseName (and N2VC's, ASCII only)."""
    base = model
    if base.startswith("/") or "://" in base:
        base = base[base.rfind("/") + 1:]
    out = []
    for c in base[:35]:
        if "a" <= c <= "z" or "0" <= c <= "9":
            out.append(c)
        elif "A" <= c <= "Z":
            out.append(c.lower())
        else:
            out.append("-")
    prefix = "".join(out)
    if not prefix or not ("a" <= prefix[0] <= "z"):
        prefix = "a" + prefix
    return f"{prefix}-{secrets.randbelow(99999999) + 1:010d}"


__all__ = ["K8sHelm3Connector", "K8sHelmConnector", "K8sException", "KduException", "generate_name"]
