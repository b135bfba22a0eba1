"""LCM's flow for an NS with one KDU, step by step as LCM drives a connector, on a Helm 3 and a Helm 2
cluster."""

from __future__ import annotations

import pytest

import kdu_osm
from conftest import kdu_status, nsr_documents, unique

OSM_LABELS = ("managed-by", "osm.etsi.org/ns-id", "osm.etsi.org/nsd-id", "osm.etsi.org/vnf-id",
              "osm.etsi.org/vnfd-id", "osm.etsi.org/kdu-id", "osm.etsi.org/kdu-name")


def assert_written(db, nsr_id, operation, status):
    doc = kdu_status(db, nsr_id)
    assert doc.get("operation") == operation, doc
    assert doc.get("status") == status, doc
    assert doc.get("detailed-status"), doc
    float(doc["status-time"])  # epoch seconds in a string, as N2VC wrote them
    return doc


async def lcm_flow(conn, db, kube, env, on_update, namespace, *, helm2: bool):
    helm_id = "_admin.helm-chart.id" if helm2 else "_admin.helm-chart-v3.id"
    cluster_ns = env.tiller_namespace if helm2 else "kube-system"

    # 1. the cluster: LCM reuses its k8sclusters _id as the connector's id.
    cid = db.create("k8sclusters", {"name": unique("vim"), "namespace": cluster_ns, "_admin": {}})
    got, installed_sw = await conn.init_env(env.kubeconfig, namespace=cluster_ns, reuse_cluster_uuid=cid)
    assert (got, installed_sw) == (cid, False)
    db.set_one("k8sclusters", {"_id": cid}, {helm_id: cid})
    # Registering again (LCM re-runs init on a cluster edit) replaces the registration.
    assert await conn.init_env(env.kubeconfig, namespace=cluster_ns, reuse_cluster_uuid=cid) == (cid, False)

    try:
        # 2. repositories from k8srepos.
        repo_id = db.create("k8srepos", {"name": unique("charts"), "url": env.repo_url, "type": "helm-chart"})
        repo_name = db.get_one("k8srepos", {"_id": repo_id})["name"]
        db.set_one("k8sclusters", {"_id": cid}, {"_admin.helm_chart_repos": [repo_id]})
        assert await conn.synchronize_repos(cid) == ([], {repo_id: repo_name})
        assert await conn.synchronize_repos(cid) == ([], {})
        assert repo_name in [r["name"] for r in await conn.repo_list(cid)]

        # 3. the KDU's name, then its place in the NS record.
        model = f"{repo_name}/webapp:0.1.0"
        name = conn.generate_kdu_instance_name(kdu_model=model, kdu_name="web")
        assert name.startswith(repo_name.lower()) and len(name.rsplit("-", 1)[1]) == 10
        nsr_id, db_dict = nsr_documents(db, name, cluster=cid, namespace=namespace, model=model)
        if helm2:
            # Tiller installs into an existing namespace; kdu creates it (with its default ServiceAccount).
            await conn.create_namespace(namespace, cid, None)
            kube.wait_for("default ServiceAccount", lambda: kube.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"))

        # 4. install: atomic, a timeout, params with !!yaml, db_dict.
        params = {"message": "deployed by LCM", "podLabels": "!!yaml {tier: web}"}
        assert await conn.install(cid, model, name, atomic=True, timeout=300, params=params, db_dict=db_dict,
                                  kdu_name="web", namespace=namespace) is True
        # 5. the status is in the NS record when the call returns, and LCM's on_update_db was called.
        assert_written(db, nsr_id, "install", "Install complete")
        assert on_update.calls and on_update.calls[-1][0] == "nsrs" and on_update.calls[-1][2] == db_dict["path"]
        assert f"{db_dict['path']}.status" in on_update.calls[-1][3]
        dep = kube.deployment(namespace, name + "-webapp")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels.get("tier") == "web"
        if helm2:
            assert not set(OSM_LABELS) & set(labels)  # N2VC's Helm 2 connector had no labels either
        else:
            assert {k: labels.get(k) for k in OSM_LABELS} == {
                "managed-by": "osm.etsi.org", "osm.etsi.org/ns-id": nsr_id,
                "osm.etsi.org/nsd-id": "nsd-" + nsr_id[:8], "osm.etsi.org/vnf-id": labels["osm.etsi.org/vnf-id"],
                "osm.etsi.org/vnfd-id": "vnfd-web", "osm.etsi.org/kdu-id": name, "osm.etsi.org/kdu-name": "web"}
            assert labels["osm.etsi.org/vnf-id"] == db.get_one("vnfrs", {"nsr-id-ref": nsr_id})["_id"]
        info = await conn.get_instance_info(cid, name)
        assert info["namespace"] == namespace and info["revision"] == "1" and info["chart"] == "webapp-0.1.0"

        # 6. services
        services = await conn.get_services(cid, name, namespace)
        assert [s["name"] for s in services] == [name + "-webapp"]
        assert services[0]["type"] == "ClusterIP" and services[0]["cluster_ip"]
        assert services[0]["ports"][0]["port"] == 80 and "external_ip" not in services[0]

        # 7. upgrade: the new revision, never 0.
        assert await conn.upgrade(cid, name, kdu_model=f"{repo_name}/webapp:0.2.0", atomic=True, timeout=300,
                                  db_dict=db_dict, namespace=namespace) == 2
        assert_written(db, nsr_id, "upgrade", "Upgrade complete")
        assert (await conn.get_instance_info(cid, name))["chart"] == "webapp-0.2.0"
        values = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}-webapp")
        assert values and "deployed by LCM" in str(values.get("data")), "reused values lost in the upgrade"

        # 8. rollback
        assert await conn.rollback(cid, name, revision=1, db_dict=db_dict) == 3
        assert_written(db, nsr_id, "rollback", "Rollback to 1")

        # 9. status
        st = await conn.status_kdu(cid, name)
        assert st["info"]["description"] == "Rollback to 1" and st["info"]["status"] == "deployed"
        assert st["name"] == name and st["namespace"] == namespace and st["version"] == 3
        assert "notes" not in st["info"]
        assert {d["kind"] for d in st["manifest"]} >= {"Deployment", "Service"}

        # 10. scale
        assert await conn.get_scale_count("", name, cid, model) == 1
        assert await conn.scale(name, 2, "", cluster_uuid=cid, kdu_model=model, atomic=True, db_dict=db_dict) is True
        assert await conn.get_scale_count("", name, cid, model) == 2
        assert kube.deployment(namespace, name + "-webapp")["spec"]["replicas"] == 2
        assert kdu_status(db, nsr_id)["operation"] == "scale"

        # 11. migrate (Helm 3 only)
        if not helm2:
            assert await conn.migrate(nsr_id, {"vdu": {"vduId": name}, "targetHostK8sLabels": {"type": "kwok"}}) is True
            spec = kube.deployment(namespace, name + "-webapp")["spec"]["template"]["spec"]
            assert spec.get("nodeSelector") == {"type": "kwok"}
            assert kdu_status(db, nsr_id)["operation"] == "migrate"
            assert await conn.migrate(nsr_id, {"vdu": {"vduId": "other"}, "targetHostK8sLabels": {"a": "b"}}) is None
        else:
            with pytest.raises(kdu_osm.K8sException):
                await conn.migrate(nsr_id, {"vdu": {"vduId": name}, "targetHostK8sLabels": {"type": "kwok"}})

        # 12. uninstall: True, and again (idempotent).
        assert await conn.uninstall(cid, name) is True
        assert await conn.get_instance_info(cid, name) is None
        assert await conn.uninstall(cid, name) is True
        kube.wait_for("Deployment gone", lambda: kube.deployment(namespace, name + "-webapp") is None)
    finally:
        # 13. reset
        assert await conn.reset(cid, force=True, uninstall_sw=True) is True
    with pytest.raises(kdu_osm.K8sException) as e:
        await conn.instances_list(cid)
    assert e.value.code == "not_found"


async def test_lcm_flow_helm3(helm3, db, kube, env, on_update, namespace):
    await lcm_flow(helm3, db, kube, env, on_update, namespace, helm2=False)


async def test_lcm_flow_helm2(helm2, db, kube, env, on_update, namespace):
    await lcm_flow(helm2, db, kube, env, on_update, namespace, helm2=True)
