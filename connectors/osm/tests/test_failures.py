"""Failures LCM must see as K8sException, with nothing changed: timeouts, an unreachable kdu, a bad token,
a cancelled call, and bad input."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

import kdu_osm
from conftest import nsr_documents, unique

NEVER_READY = {"podLabels": "!!yaml {kdu.test/never-ready: 'true'}"}


def operations(env, name):
    """kdu's operations on a release, newest first (the tests' view of what was queued)."""
    req = urllib.request.Request(f"{env.server}/v1/operations?limit=100",
                                 headers={"Authorization": f"Bearer {env.token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        items = json.load(resp)["items"]
    return [op for op in items if op["target"]["name"] == name]


async def test_atomic_install_that_times_out_leaves_nothing(helm3, cluster, repo, namespace, kube):
    name = unique("slow")
    with pytest.raises(kdu_osm.K8sException) as e:
        await helm3.install(cluster, f"{repo}/webapp:0.1.0", name, atomic=True, timeout=5, params=NEVER_READY,
                            namespace=namespace)
    assert e.value.code == "timeout", e.value
    assert e.value.operation and e.value.operation["state"] == "failed"
    assert await helm3.get_instance_info(cluster, name) is None
    kube.wait_for("objects gone", lambda: kube.deployment(namespace, f"{name}-webapp") is None)


async def test_non_atomic_install_does_not_wait(helm3, cluster, repo, namespace):
    # N2VC ran helm without --atomic and without --wait: the call returns once the objects are accepted.
    name = unique("nowait")
    assert await helm3.install(cluster, f"{repo}/webapp:0.1.0", name, atomic=False, timeout=5, params=NEVER_READY,
                               namespace=namespace) is True
    assert (await helm3.get_instance_info(cluster, name))["status"] == "deployed"


async def test_kdu_unreachable(db):
    c = kdu_osm.K8sHelm3Connector(db=db, kdu_url="http://127.0.0.1:9", kdu_token="x")
    with pytest.raises(kdu_osm.K8sException) as e:
        await c.instances_list("c1")
    assert "unreachable" in str(e.value) and "127.0.0.1:9" in str(e.value)
    await c.close()


async def test_bad_token(env, db):
    c = kdu_osm.K8sHelm3Connector(db=db, kdu_url=env.server, kdu_token="kdu_not-a-token")
    with pytest.raises(kdu_osm.K8sException) as e:
        await c.repo_list("c1")
    assert e.value.status == 401 and e.value.code == "unauthorized" and "token" in str(e.value)
    assert "kdu_not-a-token" not in str(e.value)
    await c.close()


async def test_cancelled_call_cancels_the_operation(helm3, cluster, repo, namespace, kube, env):
    name = unique("cancel")
    install = helm3.install(cluster, f"{repo}/webapp:0.1.0", name, atomic=True, timeout=600, params=NEVER_READY,
                            namespace=namespace)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(install, 3)  # what LCM does
    (op,) = operations(env, name)
    kube.wait_for("operation cancelled", lambda: operations(env, name)[0]["state"] == "cancelled", timeout=60)
    assert op["kind"] == "install"
    # atomic: kdu removed what the install had created
    assert await helm3.get_instance_info(cluster, name) is None
    kube.wait_for("objects gone", lambda: kube.deployment(namespace, f"{name}-webapp") is None)


async def test_bad_input_changes_nothing(helm3, cluster, repo, namespace, db, env):
    name = unique("bad")
    nsr_id, db_dict = nsr_documents(db, name, cluster=cluster, namespace=namespace, model=f"{repo}/webapp")
    cases = [
        # (call, what the message must name)
        (helm3.install("no-such-cluster", f"{repo}/webapp:0.1.0", name, namespace=namespace), "cluster"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0", name, params="replicaCount=2", namespace=namespace), "params"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0", name, namespace=namespace,
                       db_dict={"collection": "nsrs", "filter": {"_id": {"$ne": ""}}, "path": "p"}), "filter"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0", name, namespace=namespace,
                       db_dict={"collection": "nsrs", "filter": {"_id": nsr_id}}), "db_dict.path"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0;reboot", name, namespace=namespace), "chart"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0 --post-renderer /bin/sh", name, namespace=namespace), "chart"),
        (helm3.install(cluster, "$(reboot)/webapp", name, namespace=namespace), "chart"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0", "Bad_Name", namespace=namespace), "name"),
        (helm3.install(cluster, f"{repo}/webapp:0.1.0", name, namespace=namespace, params={"a": "!!yaml {"}), "params"),
        (helm3.upgrade(cluster, "no-such-kdu", kdu_model=f"{repo}/webapp:0.2.0"), "no-such-kdu"),
        (helm3.rollback(cluster, "no-such-kdu"), "no-such-kdu"),
        (helm3.scale("no-such-kdu", 2, "", cluster_uuid=cluster), "no-such-kdu"),
        (helm3.get_scale_count("", "no-such-kdu", cluster, None), "no-such-kdu"),
        (helm3.status_kdu(cluster, "no-such-kdu"), "no-such-kdu"),
        (helm3.get_services(cluster, "no-such-kdu", namespace), "no-such-kdu"),
        (helm3.instances_list("no-such-cluster"), "cluster"),
    ]
    for coro, what in cases:
        with pytest.raises(kdu_osm.K8sException) as e:
            await coro
        assert what in str(e.value) or what in (e.value.field or ""), (what, str(e.value))
    assert await helm3.instances_list(cluster) == []
    assert operations(env, name) == [] and operations(env, "Bad_Name") == []
    assert "operation" not in db.get_one("nsrs", {"_id": nsr_id})["_admin"]["deployed"]["K8s"][0]


async def test_call_cancelled_while_submitting_leaves_no_operation_running(helm3, cluster, repo, namespace, kube, env):
    # Cancelled before the submission's answer arrived: the connector repeats the submission with the same
    # idempotency key (so it is never made twice) to learn the operation, and cancels it.
    name = unique("early")
    task = asyncio.ensure_future(helm3.install(cluster, f"{repo}/webapp:0.1.0", name, atomic=True, timeout=600,
                                               params=NEVER_READY, namespace=namespace))
    await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ops = operations(env, name)
    assert len(ops) == 1, ops
    kube.wait_for("operation cancelled", lambda: operations(env, name)[0]["state"] == "cancelled", timeout=60)
    assert await helm3.get_instance_info(cluster, name) is None
