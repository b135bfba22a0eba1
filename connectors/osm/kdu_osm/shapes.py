"""kdu's answers turned into the dictionaries N2VC returned (pure functions, no I/O)."""

from __future__ import annotations

import datetime as _dt
import re

#: The OSM labels N2VC's post-renderer added to a KDU's pods (spec of _labels_dict).
OSM_LABEL_KEYS = (
    "managed-by",
    "osm.etsi.org/ns-id",
    "osm.etsi.org/nsd-id",
    "osm.etsi.org/vnf-id",
    "osm.etsi.org/vnfd-id",
    "osm.etsi.org/kdu-id",
    "osm.etsi.org/kdu-name",
)


def helm_time(ts: str | None) -> str:
    """An RFC 3339 time as helm prints it in lists and status: ``2026-12-04 21:00:00.123456789 +0000 UTC``."""
    if not ts:
        return ""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", ts)
    if not m:
        return ts
    date, clock, frac, zone = m.groups()
    frac = frac or ""
    if zone == "Z":
        return f"{date} {clock}{frac} +0000 UTC"
    return f"{date} {clock}{frac} {zone.replace(':', '')}"


def instance(rel: dict, *, helm2: bool = False) -> dict:
    """One entry of instances_list: helm 3's ``list -o yaml`` keys (helm 2: N2VC's lower-cased ones)."""
    out = {
        "name": rel.get("name", ""),
        "namespace": rel.get("namespace", ""),
        "revision": str(rel.get("revision", "")),
        "updated": helm_time(rel.get("updated")),
        "status": rel.get("status", ""),
        "chart": rel.get("chart", ""),
    }
    if helm2:
        out["status"] = str(out["status"]).upper()
        out["appversion"] = rel.get("appVersion", "")
    else:
        out["app_version"] = rel.get("appVersion", "")
    return out


def status(st: dict) -> dict:
    """status_kdu's dict: helm's ``status -o yaml`` shape, ``info.notes`` removed and ``manifest`` the list of
    the release's objects; kdu adds ``resources`` (the readiness of each object)."""
    info = {
        "first_deployed": helm_time(st.get("firstDeployed")),
        "last_deployed": helm_time(st.get("updated")),
        "deleted": "",
        "description": st.get("description", ""),
        "status": st.get("status", ""),
    }
    out = {
        "name": st.get("name", ""),
        "namespace": st.get("namespace", ""),
        "version": st.get("revision", 0),
        "info": info,
        "chart": {"metadata": {"name": st.get("chartName", ""), "version": st.get("chartVersion", ""),
                               "appVersion": st.get("appVersion", "")}},
        "manifest": st.get("manifest") or [],
        "resources": [
            {k: r.get(k) for k in ("apiVersion", "kind", "namespace", "name", "status", "ready", "message")
             if r.get(k) not in (None, "")}
            for r in st.get("resources") or []
        ],
    }
    return out


def _port(p: dict) -> dict:
    out = {"port": p.get("port"), "protocol": p.get("protocol", "TCP")}
    if p.get("name"):
        out["name"] = p["name"]
    tp = p.get("targetPort")
    if tp not in (None, ""):
        out["targetPort"] = int(tp) if str(tp).isdigit() else tp
    if p.get("nodePort"):
        out["nodePort"] = p["nodePort"]
    return out


def service(svc: dict) -> dict:
    """get_service's dict: ``name``, ``type``, ``ports`` (Kubernetes' port objects), ``cluster_ip``, and
    ``external_ip`` (a list) only for a LoadBalancer that has addresses."""
    out = {
        "name": svc.get("name", ""),
        "type": svc.get("type", ""),
        "ports": [_port(p) for p in svc.get("ports") or []],
        "cluster_ip": svc.get("clusterIP") or None,
    }
    if out["type"] == "LoadBalancer":
        ips = list(svc.get("externalIPs") or [])
        if ips:
            out["external_ip"] = ips
    return out


def repo(r: dict) -> dict:
    """repo_list's entry: N2VC's lower-case ``name`` and ``url``, plus kdu's ``type``, ``scope`` and ``id``."""
    out = {"name": r.get("name", ""), "url": r.get("url", ""), "type": r.get("type", ""),
           "scope": r.get("scope", "")}
    if r.get("id"):
        out["id"] = r["id"]
    return out


def show_all(info: dict) -> str:
    """inspect_kdu's text: as ``helm show all``, the chart's metadata, then its values, then its README."""
    import yaml  # local: the only YAML use here

    meta = {k: v for k, v in (info.get("metadata") or {}).items() if v not in (None, "", [], False)}
    parts = [yaml.safe_dump(meta, sort_keys=False).rstrip("\n")]
    if info.get("values"):
        parts.append(info["values"].rstrip("\n"))
    if info.get("readme"):
        parts.append(info["readme"].rstrip("\n"))
    return "\n---\n".join(parts) + "\n"


def now_epoch() -> str:
    """Epoch seconds as ``str(time.time())`` writes them."""
    return str(_dt.datetime.now(_dt.timezone.utc).timestamp())
