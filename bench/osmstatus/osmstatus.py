"""bench/osmstatus: status of one KDU through the OSM connector (Python → kdu serve) against `helm status`
exec'd and parsed the way N2VC's connector does it, both from the same Python process, in the same run.

    python osmstatus.py --kdu BIN --helm BIN --kubeconfig FILE --chart DIR [-n 300] [--helm-n 50]

It starts `kdu serve` (open loopback mode, a temporary data directory), registers the cluster and installs
the chart through the connector (init_env, install), then times -n sequential `status_kdu` calls and --helm-n
sequential N2VC-style status calls, uninstalls, resets and prints a table and the line

    BENCH osm-status connector_ms=<median> helm_ms=<median> ratio=<helm/connector>

A benchmark, not a test: nothing checks a time limit; it fails only if a step fails or a result is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

import kdu_osm

NAME = "osm-bench"
NAMESPACE = "kdu-osm-bench"
CLUSTER = "osm-bench"


def progress(msg: str) -> None:
    print(f"osmstatus: {msg}", file=sys.stderr, flush=True)


def start_serve(kdu: str, work: str) -> tuple[subprocess.Popen, str, str]:
    log_path = os.path.join(work, "serve.log")
    log = open(log_path, "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KDU_")}
    proc = subprocess.Popen([kdu, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data"),
                             "--log-format", "json"], stdout=log, stderr=log, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kdu serve exited: {open(log_path).read()}")
        for line in open(log_path, encoding="utf-8", errors="replace"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "kdu serving":
                return proc, "http://" + rec["address"], log_path
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("kdu serve did not report its address within a minute")


async def n2vc_status(helm: str, env: dict) -> dict:
    """N2VC's _status_kdu: `helm status <inst> --namespace=<ns> --output yaml` as a subprocess, then the YAML
    parsed, info.notes removed and the manifest split into documents."""
    proc = await asyncio.create_subprocess_exec(helm, "status", NAME, f"--namespace={NAMESPACE}", "--output", "yaml",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"helm status: {err.decode().strip()}")
    data = yaml.safe_load(out.decode().strip())
    data.get("info", {}).pop("notes", None)
    if "manifest" in data:
        data["manifest"] = list(yaml.safe_load_all(data["manifest"]))
    return data


def summary(ms: list[float]) -> dict:
    s = sorted(ms)
    return {"n": len(s), "p50": statistics.median(s), "p90": s[int(0.9 * (len(s) - 1))], "max": s[-1]}


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdu", required=True)
    ap.add_argument("--helm", required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("-n", type=int, default=300, help="timed connector calls")
    ap.add_argument("--helm-n", type=int, default=50, help="timed helm status runs")
    ap.add_argument("--warmup", type=int, default=10)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="kdu-osmstatus-")
    proc, url, log_path = start_serve(a.kdu, work)
    conn = kdu_osm.K8sHelm3Connector(kdu_url=url, kdu_token=None)
    try:
        with open(a.kubeconfig) as f:
            kubeconfig = f.read()
        cid, _ = await conn.init_env(kubeconfig, reuse_cluster_uuid=CLUSTER)
        await conn.uninstall(cid, NAME)  # a leftover of an interrupted run
        progress(f"installing {a.chart} as {NAMESPACE}/{NAME} through the connector")
        await conn.install(cid, a.chart, NAME, atomic=True, timeout=120, namespace=NAMESPACE)
        try:
            st = await conn.status_kdu(cid, NAME)
            if st["info"]["status"] != "deployed" or not st["manifest"]:
                raise SystemExit(f"status_kdu: {st['info']}")
            for _ in range(a.warmup):
                await conn.status_kdu(cid, NAME)
            progress(f"timing {a.n} connector status_kdu calls")
            kdu_ms = []
            for _ in range(a.n):
                t = time.perf_counter()
                await conn.status_kdu(cid, NAME)
                kdu_ms.append(1000 * (time.perf_counter() - t))

            home = os.path.join(work, "helm-home")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "KUBECONFIG"))}
            env.update(KUBECONFIG=a.kubeconfig, HELM_CACHE_HOME=f"{home}/cache", HELM_CONFIG_HOME=f"{home}/config",
                       HELM_DATA_HOME=f"{home}/data", KUBECACHEDIR=f"{home}/kube-cache")
            ref = await n2vc_status(a.helm, env)  # untimed; fills helm's discovery cache
            if ref["info"]["status"] != "deployed" or ref["info"]["description"] != st["info"]["description"]:
                raise SystemExit(f"helm status disagrees: {ref['info']} vs {st['info']}")
            progress(f"timing {a.helm_n} `helm status` runs the way N2VC makes them")
            helm_ms = []
            for _ in range(a.helm_n):
                t = time.perf_counter()
                await n2vc_status(a.helm, env)
                helm_ms.append(1000 * (time.perf_counter() - t))
        finally:
            await conn.uninstall(cid, NAME)
            await conn.reset(cid, force=True, uninstall_sw=True)
    finally:
        await conn.close()
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    k, h = summary(kdu_ms), summary(helm_ms)
    print(f"{'osm status':<34} {'n':>6} {'p50 ms':>9} {'p90 ms':>9} {'max ms':>9}")
    for label, s in (("connector status_kdu → kdu serve", k), ("helm status exec'd (N2VC)", h)):
        print(f"{label:<34} {s['n']:>6} {s['p50']:>9.2f} {s['p90']:>9.2f} {s['max']:>9.2f}")
    print(f"BENCH osm-status connector_ms={k['p50']:.2f} helm_ms={h['p50']:.2f} ratio={h['p50'] / k['p50']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
