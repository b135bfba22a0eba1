"""LCM's execution-environment flow: a namespace with labels, a certificate, a secret copy, RBAC, a chart
installed from a local path (packaged here, .helmignore honoured), then everything deleted."""

from __future__ import annotations

import base64
import shutil

import pytest

import kdu_osm
from conftest import unique


async def test_execution_environment_flow(helm3, cluster, kube, env, tmp_path):
    ns = unique("ee")
    labels = {"osm.etsi.org/ee": "true", "pod-security.kubernetes.io/enforce": "baseline"}
    await helm3.create_namespace(ns, cluster, labels)
    try:
        got = kube.get(f"/api/v1/namespaces/{ns}")["metadata"]["labels"]
        assert {k: got.get(k) for k in labels} == labels
        await helm3.create_namespace(ns, cluster, labels)  # again: nothing changes, no error

        # certificate (cert-manager's CRD is installed; no controller issues it)
        await helm3.create_certificate(cluster, ns, "*", "ee-cert", "ee-cert-secret", "server auth")
        cert = kube.get(f"/apis/cert-manager.io/v1/namespaces/{ns}/certificates/ee-cert")
        assert cert["spec"]["secretName"] == "ee-cert-secret"
        assert cert["spec"]["issuerRef"]["name"] == "ca-issuer"
        assert cert["spec"]["usages"] == ["server auth"]
        assert any(n.startswith("*") for n in cert["spec"]["dnsNames"])

        # secret copy: one key into a new Opaque secret
        status, body = kube.request("POST", f"/api/v1/namespaces/{ns}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca"},
            "data": {"ca.crt": base64.b64encode(b"CA").decode(), "ca.key": base64.b64encode(b"KEY").decode()}})
        assert status == 201, body
        await helm3.copy_secret_data("ca", "ee-ca", cluster, "ca.crt", src_namespace=ns, dst_namespace=ns)
        copied = kube.get(f"/api/v1/namespaces/{ns}/secrets/ee-ca")
        assert copied["type"] == "Opaque" and copied["data"] == {"ca.crt": base64.b64encode(b"CA").decode()}
        with pytest.raises(kdu_osm.K8sException) as e:
            await helm3.copy_secret_data("ca", "ee-ca2", cluster, "missing", src_namespace=ns, dst_namespace=ns)
        assert e.value.code == "not_found" and kube.get(f"/api/v1/namespaces/{ns}/secrets/ee-ca2") is None

        # RBAC: a Role and a RoleBinding of the same name
        await helm3.setup_default_rbac("ee-role", ns, cluster, api_groups=[""], resources=["secrets"],
                                       verbs=["get", "list"], service_account="ee-sa")
        role = kube.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/ee-role")
        assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
        binding = kube.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/ee-role")
        assert binding["roleRef"]["name"] == "ee-role"
        assert binding["subjects"][0]["name"] == "ee-sa" and binding["subjects"][0]["namespace"] == ns

        # a chart from a local path, as LCM passes package paths from its file system: a directory whose
        # .helmignore leaves out a template that would break the install if it were packaged
        chart = tmp_path / "pkg" / "charts" / "webapp"
        shutil.copytree(f"{env.charts}/webapp", chart)
        (chart / "templates" / "broken.yaml.bak").write_text('{{ fail "packaged although .helmignore excludes it" }}\n')
        (chart / ".helmignore").write_text("*.bak\n")
        name = helm3.generate_kdu_instance_name(kdu_model=str(chart))
        assert name.startswith("webapp-")
        assert await helm3.install(cluster, str(chart), name, atomic=True, timeout=120, namespace=ns) is True
        assert (await helm3.get_instance_info(cluster, name))["chart"] == "webapp-0.1.0"
        assert kube.deployment(ns, f"{name}-webapp")["status"].get("readyReplicas") == 1
        # …and a packaged one (.tgz), for an upgrade
        (chart / "templates" / "broken.yaml.bak").unlink()
        archive = shutil.make_archive(str(tmp_path / "webapp-pkg"), "gztar", root_dir=chart.parent, base_dir="webapp")
        assert await helm3.upgrade(cluster, name, kdu_model=archive, namespace=ns) == 2
        assert await helm3.uninstall(cluster, name) is True

        await helm3.delete_certificate(cluster, ns, "ee-cert")
        assert kube.get(f"/apis/cert-manager.io/v1/namespaces/{ns}/certificates/ee-cert") is None
        await helm3.delete_certificate(cluster, ns, "ee-cert")  # a missing one is fine
    finally:
        await helm3.delete_namespace(ns, cluster)
    ns_obj = kube.get(f"/api/v1/namespaces/{ns}")
    assert ns_obj is None or ns_obj["status"]["phase"] == "Terminating"
    await helm3.delete_namespace(ns, cluster)  # a missing or terminating namespace is success
