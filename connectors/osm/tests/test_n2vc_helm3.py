"""The scenarios of N2VC's own Helm 3 connector tests (test_k8s_helm3_conn.py), re-expressed as behaviour
against a real kdu serve: where N2VC's tests asserted the helm command line, these assert what that command
was for."""

from __future__ import annotations

import asyncio

import pytest
import yaml

import kdu_osm
from conftest import unique

WEB = "webapp"


def fullname(release: str) -> str:
    return f"{release}-{WEB}"


async def installed(helm3, cluster, repo, namespace, *, version="0.1.0", params=None, name=None, db_dict=None):
    name = name or unique("web")
    assert await helm3.install(cluster, f"{repo}/{WEB}:{version}", name, atomic=True, timeout=300, params=params,
                               db_dict=db_dict, namespace=namespace) is True
    return name


async def test_init_env(helm3, db, env, kube, namespace):
    cid = unique("c")
    # A reused id is returned as is; a namespace other than kube-system is created, as N2VC did.
    assert await helm3.init_env(env.kubeconfig, namespace=namespace, reuse_cluster_uuid=cid) == (cid, False)
    try:
        assert kube.get(f"/api/v1/namespaces/{namespace}") is not None
        assert await helm3.get_namespace(cid) == namespace
        # Without a reused id a new uuid is made.
        new, installed_sw = await helm3.init_env(env.kubeconfig)
        assert len(new) == 36 and installed_sw is False
        await helm3.reset(new)
    finally:
        await helm3.reset(cid)


async def test_repo_add(helm3, cluster, env):
    assert await helm3.repo_add(cluster, "bitnami", env.repo_url) is None
    repos = {r["name"]: r for r in await helm3.repo_list(cluster)}
    assert repos["bitnami"]["url"] == env.repo_url
    # helm repo add of the same name and URL succeeds again; another URL is refused.
    await helm3.repo_add(cluster, "bitnami", env.repo_url)
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.repo_add(cluster, "bitnami", env.multi_repo_url)
    assert e.value.code == "exists"
    # A repository that cannot be reached is not added (N2VC's helm repo add failed too).
    with pytest.raises(kdu_osm.K8sException):
        await helm3.repo_add(cluster, "gone", "http://127.0.0.1:9/charts")
    assert "gone" not in [r["name"] for r in await helm3.repo_list(cluster)]


async def test_repo_update(helm3, cluster, repo):
    assert await helm3.repo_update(cluster, repo) is None
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.repo_update(cluster, "nope")
    assert e.value.code == "not_found"


async def test_repo_list(helm3, cluster, env):
    assert await helm3.repo_list(cluster) == []  # N2VC: [] when there are none
    await helm3.repo_add(cluster, "one", env.repo_url)
    assert [(r["name"], r["url"]) for r in await helm3.repo_list(cluster)] == [("one", env.repo_url)]


async def test_repo_remove(helm3, cluster, repo):
    await helm3.repo_remove(cluster, repo)
    assert await helm3.repo_list(cluster) == []
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.repo_remove(cluster, repo)
    assert e.value.code == "not_found"


async def test_install(helm3, cluster, repo, namespace, kube):
    name = await installed(helm3, cluster, repo, namespace, version="0.1.0")
    # the namespace was created; the chart and version are those asked for; atomic waited for readiness.
    assert kube.get(f"/api/v1/namespaces/{namespace}") is not None
    info = await helm3.get_instance_info(cluster, name)
    assert info["chart"] == "webapp-0.1.0" and info["namespace"] == namespace and info["status"] == "deployed"
    dep = kube.deployment(namespace, fullname(name))
    assert dep["status"].get("readyReplicas") == 1


async def test_install_into_missing_namespace_that_cannot_be_created(helm3, cluster, repo):
    # N2VC: namespace creation fails → K8sException, nothing installed.
    name = unique("web")
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.install(cluster, f"{repo}/{WEB}:0.1.0", name, namespace="Not_A_Namespace")
    assert "namespace" in str(e.value)
    assert await helm3.get_instance_info(cluster, name) is None


async def test_install_without_namespace_uses_the_kubeconfig_context(helm3, cluster, repo, kube):
    name = await installed(helm3, cluster, repo, None)
    assert (await helm3.get_instance_info(cluster, name))["namespace"] == "default"  # the context's
    await helm3.uninstall(cluster, name)


async def test_upgrade(helm3, cluster, repo, namespace, kube):
    name = await installed(helm3, cluster, repo, namespace, params={"message": "first"})
    uid = kube.deployment(namespace, fullname(name))["metadata"]["uid"]
    # Without force: patched in place; values reused (the install's message stays), the version asked for.
    assert await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0", atomic=True, timeout=300,
                               params={"replicaCount": 1}) == 2
    assert kube.deployment(namespace, fullname(name))["metadata"]["uid"] == uid
    info = await helm3.get_instance_info(cluster, name)
    assert info["chart"] == "webapp-0.2.0" and info["namespace"] == namespace  # the release's own namespace
    cm = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{fullname(name)}")
    assert "first" in cm["data"]["index.html"]
    # force=True replaces (N2VC's --force): a field another manager took makes the patch conflict, and
    # force wins.
    kube.apply(f"/apis/apps/v1/namespaces/{namespace}/deployments/{fullname(name)}",
               {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": fullname(name)},
                "spec": {"replicas": 3}}, "intruder")
    with pytest.raises(kdu_osm.K8sException, match="conflict"):
        await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0", params={"replicaCount": 2})
    # (the refused upgrade was atomic: revision 3 failed, 4 rolled back to 2)
    assert await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0", force=True,
                               params={"replicaCount": 2}) == 5
    assert kube.deployment(namespace, fullname(name))["spec"]["replicas"] == 2
    # reset_values drops the user values.
    assert await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0", reset_values=True) == 6
    assert yaml.safe_load(await helm3.get_values_kdu(name, namespace, f"/app/storage/{cluster}/.kube/config")) == {}
    # Without kdu_model the release's chart is kept (N2VC crashed).
    assert await helm3.upgrade(cluster, name, params={"message": "third"}) == 7
    assert (await helm3.get_instance_info(cluster, name))["chart"] == "webapp-0.2.0"


async def test_upgrade_namespace(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace)
    # An explicit namespace names where the release is; one where it is not is an error, nothing changes.
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0", namespace="default")
    assert e.value.code == "not_found"
    assert (await helm3.get_instance_info(cluster, name))["revision"] == "1"
    assert await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0", namespace=namespace) == 2


async def test_scale(helm3, cluster, namespace, kube, env):
    await helm3.repo_add(cluster, "multi", env.multi_repo_url)
    await helm3.repo_add(cluster, "web", env.repo_url)
    # Top level: replicaCount (resource "").
    web = unique("web")
    await helm3.install(cluster, "web/webapp:0.1.0", web, namespace=namespace)
    assert await helm3.scale(web, 2, "", total_timeout=1800, cluster_uuid=cluster, kdu_model="web/webapp:0.1.0") is True
    assert kube.deployment(namespace, fullname(web))["spec"]["replicas"] == 2
    # Per resource: <resource>.replicas and <resource>.replicaCount.
    multi = unique("multi")
    await helm3.install(cluster, "multi/multi:0.1.0", multi, namespace=namespace)
    assert await helm3.get_scale_count("backend", multi, cluster, "multi/multi:0.1.0") == 2
    assert await helm3.scale(multi, 3, "backend", cluster_uuid=cluster, kdu_model="multi/multi:0.1.0") is True
    assert await helm3.get_scale_count("backend", multi, cluster, "multi/multi:0.1.0") == 3
    assert await helm3.get_scale_count("frontend", multi, cluster, "multi/multi:0.1.0") == 1
    # A resource without a replica key cannot be scaled, and nothing changes.
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.scale(multi, 3, "sidecar", cluster_uuid=cluster, kdu_model="multi/multi:0.1.0")
    assert "sidecar" in str(e.value)
    assert (await helm3.get_instance_info(cluster, multi))["revision"] == "2"


async def test_rollback(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace)
    await helm3.upgrade(cluster, name, kdu_model=f"{repo}/{WEB}:0.2.0")
    assert await helm3.rollback(cluster, name, revision=1) == 3
    info = await helm3.get_instance_info(cluster, name)
    assert info["chart"] == "webapp-0.1.0" and info["status"] == "deployed"
    assert await helm3.rollback(cluster, name) == 4  # 0: the previous revision
    assert (await helm3.get_instance_info(cluster, name))["chart"] == "webapp-0.2.0"


async def test_uninstall(helm3, cluster, repo, namespace, kube):
    name = await installed(helm3, cluster, repo, namespace)
    assert await helm3.uninstall(cluster, name) is True
    assert await helm3.get_instance_info(cluster, name) is None
    kube.wait_for("objects gone", lambda: kube.deployment(namespace, fullname(name)) is None)
    assert await helm3.uninstall(cluster, name) is True  # N2VC: a missing instance is a warning and True


async def test_get_services(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace)
    services = await helm3.get_services(cluster, name, namespace)
    assert len(services) == 1
    s = services[0]
    assert s["name"] == fullname(name) and s["type"] == "ClusterIP" and s["cluster_ip"]
    assert s["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}] or \
        s["ports"][0]["port"] == 80


async def test_get_services_load_balancer(helm3, cluster, repo, namespace, kube):
    name = await installed(helm3, cluster, repo, namespace, params={"service": "!!yaml {type: LoadBalancer, port: 80}"})
    # No load-balancer controller here: the Service is pending, and has no external_ip (N2VC crashed on it).
    (s,) = await helm3.get_services(cluster, name, namespace)
    assert s["type"] == "LoadBalancer" and "external_ip" not in s
    # Once the load balancer has an address, it is reported.
    path = f"/api/v1/namespaces/{namespace}/services/{fullname(name)}/status"
    status, body = kube.request("PATCH", path, {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}},
                                content_type="application/merge-patch+json")
    assert status == 200, body

    async def external():
        return (await helm3.get_service(cluster, fullname(name), namespace)).get("external_ip")

    for _ in range(100):
        if await external():
            break
        await asyncio.sleep(0.1)
    assert await external() == ["192.0.2.10"]


async def test_get_service(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace)
    s = await helm3.get_service(cluster, fullname(name), namespace)
    assert set(s) == {"name", "type", "ports", "cluster_ip"} and s["name"] == fullname(name)
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.get_service(cluster, "nope", namespace)
    assert e.value.code == "not_found"


async def test_inspect_kdu(helm3, env):
    # The repository prefix is dropped when repo_url is given; the version is used.
    text = await helm3.inspect_kdu("stable/webapp:0.2.0", repo_url=env.repo_url)
    meta, values, readme = text.split("\n---\n", 2)
    assert yaml.safe_load(meta)["version"] == "0.2.0" and yaml.safe_load(meta)["name"] == "webapp"
    assert "replicaCount" in yaml.safe_load(values)
    assert readme.strip()


async def test_help_kdu(helm3, env):
    readme = await helm3.help_kdu("stable/webapp:0.1.0", repo_url=env.repo_url)
    assert "webapp" in readme.lower()


async def test_values_kdu(helm3, env):
    values = yaml.safe_load(await helm3.values_kdu("webapp", repo_url=env.repo_url))  # N2VC crashed without "/"
    assert values["replicaCount"] == 1
    with pytest.raises(kdu_osm.K8sException):  # N2VC returned helm's error text instead
        await helm3.values_kdu("stable/webapp:9.9.9", repo_url=env.repo_url)


async def test_get_values_kdu(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace, params={"message": "hi", "service": "!!yaml {port: 8080}"})
    got = yaml.safe_load(await helm3.get_values_kdu(name, namespace, f"/app/storage/{cluster}/.kube/config"))
    assert got == {"message": "hi", "service": {"port": 8080}}  # user values only, !!yaml parsed
    assert yaml.safe_load(await helm3.get_values_kdu(name, namespace, None, cluster_uuid=cluster)) == got


async def test_instances_list(helm3, cluster, repo, namespace):
    assert await helm3.instances_list(cluster) == []
    name = await installed(helm3, cluster, repo, namespace)
    (entry,) = await helm3.instances_list(cluster)
    assert set(entry) == {"name", "namespace", "revision", "updated", "status", "chart", "app_version"}
    assert (entry["name"], entry["namespace"], entry["revision"], entry["status"], entry["chart"]) == \
        (name, namespace, "1", "deployed", "webapp-0.1.0")
    assert entry["updated"].endswith("+0000 UTC")


async def test_status_kdu(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace)
    text = await helm3.status_kdu(cluster, name, yaml_format=True)
    st = yaml.safe_load(text)
    assert st == await helm3.status_kdu(cluster, name)
    assert st["info"]["description"] == "Install complete" and st["info"]["status"] == "deployed"
    assert st["namespace"] == namespace and "notes" not in st["info"]
    assert sorted(d["kind"] for d in st["manifest"]) == ["ConfigMap", "Deployment", "Service"]
    with pytest.raises(kdu_osm.K8sException, match=f"Instance name: nope not found in cluster: {cluster}"):
        await helm3.status_kdu(cluster, "nope")


async def test_store_status(helm3, cluster, repo, namespace, db, on_update):
    from conftest import kdu_status, nsr_documents
    name = unique("web")
    nsr_id, db_dict = nsr_documents(db, name, cluster=cluster, namespace=namespace, model=f"{repo}/{WEB}")
    await installed(helm3, cluster, repo, namespace, name=name, db_dict=db_dict)
    doc = kdu_status(db, nsr_id)
    assert doc["operation"] == "install" and doc["status"] == "Install complete"
    assert float(doc["status-time"]) > 0 and "deployed" in doc["detailed-status"]
    table, flt, path, update = on_update.calls[-1]
    assert (table, flt, path) == ("nsrs", {"_id": nsr_id}, "_admin.deployed.K8s.0")
    assert update[path + ".status"] == "Install complete"
    # write_app_status_to_db itself, as N2VC's.
    assert await helm3.write_app_status_to_db(db_dict, "Custom", "{}", "upgrade") is True
    assert kdu_status(db, nsr_id)["status"] == "Custom"
    assert await helm3.write_app_status_to_db(dict(db_dict, filter={"_id": "missing"}), "x", "{}", "x") is False


async def test_reset_uninstall_false(helm3, db, env, repo, namespace, kube):
    from conftest import register
    cid = await register(helm3, db, env, helm_id_field="_admin.helm-chart-v3.id")
    await helm3.repo_add(cid, "local", env.repo_url)
    name = unique("web")
    await helm3.install(cid, "local/webapp:0.1.0", name, namespace=namespace)
    # Not forced: kdu forgets the cluster, its releases stay on it.
    assert await helm3.reset(cid) is True
    with pytest.raises(kdu_osm.K8sException):
        await helm3.instances_list(cid)
    assert kube.deployment(namespace, fullname(name)) is not None
    assert await helm3.reset(cid) is True  # already reset
    # Registering it again finds the release.
    await helm3.init_env(env.kubeconfig, reuse_cluster_uuid=cid)
    assert [r["name"] for r in await helm3.instances_list(cid)] == [name]
    await helm3.reset(cid, force=True, uninstall_sw=True)


async def test_reset_uninstall(helm3, db, env, namespace, kube):
    from conftest import register
    cid = await register(helm3, db, env, helm_id_field="_admin.helm-chart-v3.id")
    await helm3.repo_add(cid, "local", env.repo_url)
    name = unique("web")
    await helm3.install(cid, "local/webapp:0.1.0", name, namespace=namespace)
    # uninstall_sw without force keeps the releases (and the cluster is forgotten), as N2VC.
    assert await helm3.reset(cid, force=True, uninstall_sw=True) is True
    kube.wait_for("release uninstalled", lambda: kube.deployment(namespace, fullname(name)) is None)
    with pytest.raises(kdu_osm.K8sException):
        await helm3.instances_list(cid)


async def test_sync_repos_add(helm3, cluster, db, env):
    repo_id = db.create("k8srepos", {"name": unique("bitnami"), "url": env.repo_url})
    db.set_one("k8sclusters", {"_id": cluster}, {"_admin.helm_chart_repos": [repo_id]})
    name = db.get_one("k8srepos", {"_id": repo_id})["name"]
    assert await helm3.synchronize_repos(cluster) == ([], {repo_id: name})
    assert [r["name"] for r in await helm3.repo_list(cluster)] == [name]
    # A changed URL: updated in place, reported as added (never both added and deleted: LCM's $set and $unset
    # of one key would conflict).
    db.set_one("k8srepos", {"_id": repo_id}, {"url": env.multi_repo_url})
    assert await helm3.synchronize_repos(cluster) == ([], {repo_id: name})
    assert (await helm3.repo_list(cluster))[0]["url"] == env.multi_repo_url


async def test_sync_repos_delete(helm3, cluster, db, env):
    await helm3.repo_add(cluster, "bitnami", env.repo_url)
    db.set_one("k8sclusters", {"_id": cluster}, {"_admin.helm_chart_repos": []})
    assert await helm3.synchronize_repos(cluster) == (["bitnami"], {})
    assert await helm3.repo_list(cluster) == []


async def test_sync_repos_unknown_cluster(helm3):
    with pytest.raises(kdu_osm.K8sException, match="k8cluster with helm-id : nope not found"):
        await helm3.synchronize_repos("nope")


async def test_exec_primitive_and_upgrade_charm(helm3, cluster, repo, namespace):
    name = await installed(helm3, cluster, repo, namespace)
    with pytest.raises(kdu_osm.K8sException, match="don't support actions different from rollback, upgrade and status"):
        await helm3.exec_primitive(cluster, name, "restart", params={"a": 1})
    with pytest.raises(kdu_osm.K8sException) as e:  # a cluster kdu does not know is said so first
        await helm3.exec_primitive("nope", name, "restart")
    assert e.value.code == "not_found"
    with pytest.raises(kdu_osm.K8sException, match="do not support charm upgrade"):
        await helm3.upgrade_charm(ee_id="x", path="/p")
