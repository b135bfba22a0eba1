"""Pure parts of the connector: names, chart references and packaging, N2VC's answer shapes, and arguments
refused before anything is sent. No server is needed."""

from __future__ import annotations

import inspect
import io
import os
import re
import tarfile

import pytest

import kdu_osm
from kdu_osm import charts, shapes
from kdu_osm.connector import _cluster_of_kubeconfig


@pytest.mark.parametrize("model, prefix", [
    ("stable/openldap:1.2.4", "stable-openldap-1-2-4"),
    ("/app/storage/pkg/charts/MyChart", "mychart"),
    ("oci://registry.example:5000/charts/web:1.0", "web-1-0"),
    ("https://charts.example/x/webapp-0.1.0.tgz", "webapp-0-1-0-tgz"),
    ("1chart", "a1chart"),
    ("ñame", "a-ame"),  # N2VC kept non-ASCII letters, which Kubernetes refuses
    ("x" * 50, "x" * 35),
])
def test_generate_kdu_instance_name(model, prefix):
    name = kdu_osm.K8sHelm3Connector.generate_kdu_instance_name(kdu_model=model, kdu_name="k")
    assert re.fullmatch(re.escape(prefix) + r"-\d{10}", name), name
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 53
    assert 1 <= int(name.rsplit("-", 1)[1]) <= 99999999


def test_generate_kdu_instance_name_is_static_and_synchronous():
    # LCM calls it without an instance and without await.
    assert not inspect.iscoroutinefunction(kdu_osm.K8sHelmConnector.generate_kdu_instance_name)
    with pytest.raises(kdu_osm.K8sException, match="kdu_model"):
        kdu_osm.K8sHelm3Connector.generate_kdu_instance_name(kdu_model="")


N2VC_METHODS = {
    # name: N2VC's parameters (spec of the base, Helm 3 and Helm 2 connectors)
    "init_env": ["k8s_creds", "namespace", "reuse_cluster_uuid", "kwargs"],
    "repo_add": ["cluster_uuid", "name", "url", "repo_type", "cert", "user", "password", "oci"],
    "repo_update": ["cluster_uuid", "name", "repo_type"],
    "repo_list": ["cluster_uuid"],
    "repo_remove": ["cluster_uuid", "name"],
    "synchronize_repos": ["cluster_uuid"],
    "reset": ["cluster_uuid", "force", "uninstall_sw", "kwargs"],
    "install": ["cluster_uuid", "kdu_model", "kdu_instance", "atomic", "timeout", "params", "db_dict", "kdu_name",
                "namespace", "kwargs"],
    "upgrade": ["cluster_uuid", "kdu_instance", "kdu_model", "atomic", "timeout", "params", "db_dict", "namespace",
                "targetHostK8sLabels", "reset_values", "reuse_values", "reset_then_reuse_values", "force"],
    "scale": ["kdu_instance", "scale", "resource_name", "total_timeout", "cluster_uuid", "kdu_model", "atomic",
              "db_dict", "kwargs"],
    "get_scale_count": ["resource_name", "kdu_instance", "cluster_uuid", "kdu_model", "kwargs"],
    "rollback": ["cluster_uuid", "kdu_instance", "revision", "db_dict"],
    "uninstall": ["cluster_uuid", "kdu_instance", "kwargs"],
    "instances_list": ["cluster_uuid"],
    "get_instance_info": ["cluster_uuid", "kdu_instance"],
    "status_kdu": ["cluster_uuid", "kdu_instance", "yaml_format", "kwargs"],
    "get_services": ["cluster_uuid", "kdu_instance", "namespace"],
    "get_service": ["cluster_uuid", "service_name", "namespace"],
    "inspect_kdu": ["kdu_model", "repo_url"],
    "values_kdu": ["kdu_model", "repo_url"],
    "help_kdu": ["kdu_model", "repo_url"],
    "get_values_kdu": ["kdu_instance", "namespace", "kubeconfig", "kwargs"],
    "exec_primitive": ["cluster_uuid", "kdu_instance", "primitive_name", "timeout", "params", "db_dict", "kwargs"],
    "upgrade_charm": ["ee_id", "path", "charm_id", "charm_type", "timeout"],
    "migrate": ["nsr_id", "target"],
    "get_namespace": ["cluster_uuid"],
    "create_certificate": ["cluster_uuid", "namespace", "dns_prefix", "name", "secret_name", "usage"],
    "delete_certificate": ["cluster_uuid", "namespace", "certificate_name"],
    "create_namespace": ["namespace", "cluster_uuid", "labels"],
    "delete_namespace": ["namespace", "cluster_uuid"],
    "copy_secret_data": ["src_secret", "dst_secret", "cluster_uuid", "data_key", "src_namespace", "dst_namespace"],
    "setup_default_rbac": ["name", "namespace", "cluster_uuid", "api_groups", "resources", "verbs",
                           "service_account"],
    "write_app_status_to_db": ["db_dict", "status", "detailed_status", "operation"],
}

N2VC_DEFAULTS = {
    ("init_env", "namespace"): "kube-system", ("install", "atomic"): True, ("install", "timeout"): 300,
    ("upgrade", "reuse_values"): True, ("upgrade", "force"): False, ("scale", "total_timeout"): 1800,
    ("scale", "atomic"): True, ("rollback", "revision"): 0, ("status_kdu", "yaml_format"): False,
    ("copy_secret_data", "src_namespace"): "osm", ("repo_add", "repo_type"): "chart", ("repo_add", "oci"): False,
}


@pytest.mark.parametrize("cls", [kdu_osm.K8sHelm3Connector, kdu_osm.K8sHelmConnector])
@pytest.mark.parametrize("method", sorted(N2VC_METHODS))
def test_n2vc_signatures(cls, method):
    fn = getattr(cls, method)
    assert inspect.iscoroutinefunction(fn), f"{method} must be async"
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    names = ["kwargs" if p.kind is p.VAR_KEYWORD else p.name for p in params]
    assert names == N2VC_METHODS[method]
    for (m, arg), default in N2VC_DEFAULTS.items():
        if m == method:
            assert inspect.signature(fn).parameters[arg].default == default


def test_constructor_takes_n2vc_arguments(monkeypatch):
    monkeypatch.setenv("KDU_SERVER", "http://127.0.0.1:9")
    monkeypatch.setenv("KDU_TOKEN", "t0ken")
    # Binaries that do not exist are fine: kdu runs none.
    c = kdu_osm.K8sHelm3Connector(kubectl_command="/nonexistent/kubectl", helm_command="/nonexistent/helm3",
                                  fs=object(), db=None, log=None, on_update_db=None)
    assert c.kdu.url == "http://127.0.0.1:9"
    assert "t0ken" not in repr(c.kdu)
    c2 = kdu_osm.K8sHelmConnector(None, None, kdu_url="http://127.0.0.1:10/", kdu_token="x")
    assert c2.kdu.url == "http://127.0.0.1:10"


def test_constructor_without_server(monkeypatch):
    monkeypatch.delenv("KDU_SERVER", raising=False)
    with pytest.raises(kdu_osm.K8sException, match="KDU_SERVER"):
        kdu_osm.K8sHelm3Connector()
    with pytest.raises(kdu_osm.K8sException, match="kdu_url"):
        kdu_osm.K8sHelm3Connector(kdu_url="ftp://x")


def test_exception_is_n2vcs():
    e = kdu_osm.KduException("boom", code="invalid", field="params")
    assert isinstance(e, kdu_osm.K8sException) and str(e) == "boom" and e.message == "boom"


@pytest.mark.parametrize("model, kind", [
    ("stable/openldap:1.2.4", "chart"),
    ("openldap", "chart"),
    ("oci://registry.example/charts/web:1.0", "chart"),
    ("https://charts.example/a/b/web-1.0.tgz", "chart"),
    ("stable/x;reboot", "chart"),  # sent as given: kdu refuses it, naming the field
])
def test_chart_source_references(model, kind):
    assert list(charts.chart_source(model)) == [kind]


def test_chart_source_missing_local_path():
    with pytest.raises(kdu_osm.K8sException) as e:
        charts.chart_source("/app/storage/nope/charts/web")
    assert e.value.code == "not_found" and "/app/storage/nope/charts/web" in str(e.value)


def _chart(tmp_path, helmignore: str):
    d = tmp_path / "src"
    (d / "templates").mkdir(parents=True)
    (d / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (d / "values.yaml").write_text("a: 1\n")
    (d / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    (d / "templates" / ".swp").write_text("editor junk\n")
    (d / "templates" / "junk.bak").write_text("{{ fail \"must be ignored\" }}\n")
    (d / "secret").mkdir()
    (d / "secret" / "key.pem").write_text("x\n")
    (d / "top.txt").write_text("x\n")
    (d / "docs").mkdir()
    (d / "docs" / "top.txt").write_text("kept: /top.txt anchors at the root\n")
    (d / ".helmignore").write_text(helmignore)
    return d


def test_package_dir_honours_helmignore(tmp_path):
    d = _chart(tmp_path, "# comment\n*.bak\nsecret/\n/top.txt\n")
    data = charts.package_dir(str(d))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = sorted(tar.getnames())
    assert names == ["web/.helmignore", "web/Chart.yaml", "web/docs/top.txt", "web/templates/cm.yaml",
                     "web/values.yaml"]
    src = charts.chart_source(str(d))
    assert list(src) == ["chartArchive"]


@pytest.mark.parametrize("rule, path, is_dir, ignored", [
    # Helm's pkg/ignore rules_test cases
    ("helm.txt", "helm.txt", False, True),
    ("helm.*", "helm.txt", False, True),
    ("helm.*", "rudder.txt", False, False),
    ("*.txt", "tiller.txt", False, True),
    ("*.txt", "cargo/a.txt", False, True),
    ("cargo/*.txt", "cargo/a.txt", False, True),
    ("cargo/*.*", "cargo/a.txt", False, True),
    ("cargo/*.txt", "mast/a.txt", False, False),
    ("ru[c-e]?er.txt", "rudder.txt", False, True),
    ("templates/.?*", "templates/.dotfile", False, True),
    ("/helm.txt", "helm.txt", False, True),
    ("/helm.txt", "cargo/helm.txt", False, False),
    ("helm.txt/", "helm.txt", False, False),
    ("cargo/", "cargo", True, True),
    ("cargo/", "mast/", True, False),
    ("!cargo/*.txt", "cargo/a.txt", False, False),
    ("!cargo/*.txt", "mast/a.txt", False, True),
    ("*.txt", "a/b/c.txt", False, True),
    ("a/*", "a/b/c.txt", False, False),  # '*' does not cross '/'
])
def test_helmignore_rules(rule, path, is_dir, ignored):
    r = charts.HelmIgnore(rule)
    r.rules.pop()  # the default templates/.?* rule
    assert r.ignore(path, is_dir) is ignored


def test_helmignore_refuses_double_star():
    with pytest.raises(kdu_osm.K8sException, match="double-star"):
        charts.HelmIgnore("a/**/b\n")


def test_package_dir_refuses_non_chart(tmp_path):
    with pytest.raises(kdu_osm.K8sException, match="Chart.yaml"):
        charts.package_dir(str(tmp_path))
    (tmp_path / "Chart.yaml").write_text("name: ../evil\n")
    with pytest.raises(kdu_osm.K8sException, match="not a chart name"):
        charts.package_dir(str(tmp_path))


def test_split_repo_version():
    assert charts.split_repo_version("stable/openldap:1.2.4") == ("openldap", "stable", "1.2.4")
    assert charts.split_repo_version("openldap") == ("openldap", None, None)
    assert charts.split_repo_version("a:b:c") == ("a:b:c", None, None)


def test_helm_time():
    assert shapes.helm_time("2026-12-04T21:00:00.123456789Z") == "2026-12-04 21:00:00.123456789 +0000 UTC"
    assert shapes.helm_time("2026-12-04T21:00:00+01:00") == "2026-12-04 21:00:00 +0100"
    assert shapes.helm_time("") == ""


def test_instance_shapes():
    rel = {"name": "web", "namespace": "ns", "revision": 3, "status": "deployed", "chart": "webapp-0.1.0",
           "appVersion": "1.0", "updated": "2026-12-04T21:00:00Z"}
    assert shapes.instance(rel) == {"name": "web", "namespace": "ns", "revision": "3",
                                    "updated": "2026-12-04 21:00:00 +0000 UTC", "status": "deployed",
                                    "chart": "webapp-0.1.0", "app_version": "1.0"}
    v2 = shapes.instance(rel, helm2=True)
    assert v2["appversion"] == "1.0" and "app_version" not in v2 and v2["status"] == "DEPLOYED"


def test_service_shapes():
    lb = {"name": "s", "type": "LoadBalancer", "clusterIP": "10.0.0.1", "externalIPs": ["1.2.3.4"],
          "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "8080", "nodePort": 30080}]}
    assert shapes.service(lb) == {"name": "s", "type": "LoadBalancer", "cluster_ip": "10.0.0.1",
                                  "external_ip": ["1.2.3.4"],
                                  "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080,
                                             "nodePort": 30080}]}
    pending = dict(lb, externalIPs=[])
    assert "external_ip" not in shapes.service(pending)  # N2VC crashed on a pending LoadBalancer
    assert "external_ip" not in shapes.service(dict(lb, type="ClusterIP"))
    assert shapes.service({"name": "s", "type": "ClusterIP", "ports": [{"port": 1, "targetPort": "http"}]})[
        "ports"][0]["targetPort"] == "http"


def test_cluster_of_kubeconfig():
    assert _cluster_of_kubeconfig("/app/storage/abc-123/.kube/config") == "abc-123"
    with pytest.raises(kdu_osm.K8sException, match="kubeconfig"):
        _cluster_of_kubeconfig("/etc/kubeconfig")


async def test_bad_arguments_are_refused_before_any_request():
    # Port 9 (discard) on loopback: nothing answers, so a request would fail with "unreachable"; these fail
    # earlier, naming the argument.
    c = kdu_osm.K8sHelm3Connector(kdu_url="http://127.0.0.1:9", kdu_token="x")
    cases = [
        (c.install("c1", "stable/web", "web", params=["not", "a", "mapping"]), "params"),
        (c.install("c1", "stable/web", "web", db_dict={"collection": "nsrs", "filter": {}}), "db_dict"),
        (c.install("c1", "stable/web", "web", db_dict="nsrs"), "db_dict"),
        (c.install("c1", "stable/web", "web", timeout=-1), "timeout"),
        (c.install("c1", "", "web"), "kdu_model"),
        (c.install("", "stable/web", "web"), "cluster_uuid"),
        (c.install("c1/../x", "stable/web", "web"), "cluster_uuid"),
        (c.scale("web", -1, "", cluster_uuid="c1"), "scale"),
        (c.scale("web", 2, "", cluster_uuid=None), "cluster_uuid"),
        (c.rollback("c1", "web", revision="x"), "revision"),
        (c.upgrade("c1", "web", targetHostK8sLabels="zone=a"), "targetHostK8sLabels"),
        (c.status_kdu("c1", "a/b"), "kdu_instance"),
        (c.migrate("nsr", {"vdu": {"vduId": "x"}}), "migrate needs"),
    ]
    for coro, what in cases:
        with pytest.raises(kdu_osm.K8sException, match=re.escape(what)):
            await coro
    await c.close()


async def test_unsupported_operations():
    c = kdu_osm.K8sHelm3Connector(kdu_url="http://127.0.0.1:9", kdu_token="x")
    with pytest.raises(kdu_osm.K8sException, match="do not support charm upgrade"):
        await c.upgrade_charm(ee_id="x")
    with pytest.raises(kdu_osm.K8sException, match="don't support actions"):
        await c.exec_primitive(primitive_name="restart")
    await c.close()


async def test_write_app_status_to_db_without_db():
    c = kdu_osm.K8sHelm3Connector(kdu_url="http://127.0.0.1:9", kdu_token="x")
    assert await c.write_app_status_to_db({"collection": "nsrs", "filter": {}, "path": "p"}, "s", "d", "install") is False
    await c.close()


def test_package_is_installed_not_imported_from_source():
    here = os.path.dirname(os.path.abspath(__file__))
    assert not os.path.abspath(kdu_osm.__file__).startswith(os.path.dirname(here) + os.sep + "kdu_osm")


def test_runtime_dependencies_are_lcms_own():
    from importlib.metadata import requires

    deps = sorted(re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in requires("kdu-osm") or [])
    assert deps == ["aiohttp", "pyyaml"]


def test_runs_no_programs():
    # No helm, no kubectl, no process of any kind: only HTTP to kdu.
    pkg = os.path.dirname(kdu_osm.__file__)
    for name in os.listdir(pkg):
        if name.endswith(".py"):
            src = open(os.path.join(pkg, name), encoding="utf-8").read()
            for forbidden in ("subprocess", "os.system", "create_subprocess", "Popen", "os.exec", "shlex"):
                assert forbidden not in src, f"{name} uses {forbidden}"


def test_raises_n2vcs_own_exception_class_when_importable(tmp_path):
    # LCM's `except K8sException` must catch what the connector raises: with N2VC importable, it is that class.
    import subprocess
    import sys

    (tmp_path / "n2vc").mkdir()
    (tmp_path / "n2vc" / "__init__.py").write_text("")
    (tmp_path / "n2vc" / "exceptions.py").write_text(
        "class K8sException(Exception):\n    def __init__(self, message):\n        self._message = message\n"
        "    def __str__(self):\n        return self._message\n")
    code = ("import n2vc.exceptions, kdu_osm\n"
            "assert kdu_osm.K8sException is n2vc.exceptions.K8sException\n"
            "e = kdu_osm.KduException('boom', code='invalid')\n"
            "assert isinstance(e, n2vc.exceptions.K8sException) and str(e) == 'boom' and e.code == 'invalid'\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
