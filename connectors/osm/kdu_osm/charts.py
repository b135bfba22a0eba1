"""Chart references as LCM passes them (``kdu_model``), and local charts packaged as ``helm package`` does.

kdu parses chart references itself (``repo/chart[:version]``, ``oci://…``, ``https://…/x.tgz``) and refuses
malformed ones with an error naming the field. What it cannot see is a path on LCM's file system: those are
packaged here (a directory, honouring its ``.helmignore`` exactly as Helm's loader does) or read (a ``.tgz``)
and sent as the request's ``chartArchive``.
"""

from __future__ import annotations

import base64
import io
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from .exceptions import KduException, invalid

#: The largest chart archive kdu accepts (its own limit is the same).
MAX_ARCHIVE = 20 << 20


def is_url(model: str) -> bool:
    parts = urlsplit(model)
    return bool(parts.scheme and parts.netloc)


def is_local_path(model: str) -> bool:
    """A path on this machine: absolute, ``./`` or ``../``, more than one ``/`` (N2VC's rule), or an
    existing ``.tgz``."""
    if is_url(model):
        return False
    if model.startswith(("/", "./", "../", "~")) or model.count("/") > 1:
        return True
    return model.endswith((".tgz", ".tar.gz")) and os.path.isfile(model)


def chart_source(model: str, *, field: str = "kdu_model") -> dict:
    """The request fields naming the chart: ``{"chart": …}`` for references kdu resolves, ``{"chartArchive":
    …}`` for a local chart directory or archive."""
    if not isinstance(model, str) or model.strip() == "":
        raise invalid(field, "a chart reference is required")
    if is_local_path(model):
        return {"chartArchive": base64.b64encode(read_local_chart(model, field=field)).decode("ascii")}
    return {"chart": model}


def split_repo_version(model: str) -> tuple[str, str | None, str | None]:
    """N2VC's ``_split_version`` + ``_split_repo`` for ``repo/chart:version``: (chart, repo, version)."""
    version = None
    if not is_url(model) and ":" in model:
        parts = model.split(":")
        if len(parts) == 2:
            model, version = parts
    repo = None
    if not is_url(model) and "/" in model:
        repo, model = model.split("/", 1)
    return model, repo, version


def read_local_chart(path: str, *, field: str = "kdu_model") -> bytes:
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        return package_dir(path, field=field)
    if os.path.isfile(path):
        size = os.path.getsize(path)
        if size > MAX_ARCHIVE:
            raise invalid(field, f"chart archive {path} is {size} bytes, more than {MAX_ARCHIVE}")
        with open(path, "rb") as f:
            return f.read()
    raise KduException(f"{field}: chart {path} not found: no such directory or file", code="not_found",
                       field=field)


# -- .helmignore, as Helm's pkg/ignore ----------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern:
    """Go's path/filepath.Match as a regular expression: '*' and '?' never match '/'."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                raise ValueError(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1:j]
            neg = body.startswith("^")
            if neg:
                body = body[1:]
            body = body.replace("\\", "\\\\")
            out.append("[" + ("^" if neg else "") + body + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class _Rule:
    regex: re.Pattern
    negate: bool
    must_dir: bool
    basename: bool


class HelmIgnore:
    """The rules of a chart's ``.helmignore`` plus Helm's default (``templates/.?*``), with Helm's semantics
    (including its reading of ``!pattern``: a path that does *not* match it is ignored)."""

    def __init__(self, text: str = ""):
        self.rules: list[_Rule] = []
        for i, line in enumerate(text.lstrip("\ufeff").splitlines()):
            self._add(line, i + 1)
        self._add("templates/.?*", 0)

    def _add(self, line: str, lineno: int) -> None:
        rule = line.strip()
        if not rule or rule.startswith("#"):
            return
        if "**" in rule:
            raise invalid("kdu_model", f".helmignore line {lineno}: double-star (**) syntax is not supported")
        negate = rule.startswith("!")
        if negate:
            rule = rule[1:]
        must_dir = rule.endswith("/")
        if must_dir:
            rule = rule[:-1]
        basename = False
        if rule.startswith("/"):
            rule = rule[1:]
        elif "/" not in rule:
            basename = True
        try:
            regex = _glob_regex(rule)
        except ValueError as e:
            raise invalid("kdu_model", f".helmignore line {lineno}: {e}") from e
        self.rules.append(_Rule(regex, negate, must_dir, basename))

    def ignore(self, path: str, is_dir: bool) -> bool:
        if path in ("", ".", "./"):
            return False
        for r in self.rules:
            name = path.rsplit("/", 1)[-1] if r.basename else path
            if r.negate:
                if r.must_dir and not is_dir:
                    return True
                if not r.regex.match(name):
                    return True
                continue
            if r.must_dir and not is_dir:
                continue
            if r.regex.match(name):
                return True
        return False


def chart_files(top: str) -> list[str]:
    """The chart's files that Helm's loader would read, as '/'-separated paths relative to top, sorted."""
    ignore_file = os.path.join(top, ".helmignore")
    text = ""
    if os.path.isfile(ignore_file):
        with open(ignore_file, encoding="utf-8") as f:
            text = f.read()
    rules = HelmIgnore(text)
    files: list[str] = []

    def walk(rel: str) -> None:
        for entry in sorted(os.listdir(os.path.join(top, rel) if rel else top)):
            p = f"{rel}/{entry}" if rel else entry
            full = os.path.join(top, p)
            st = os.stat(full)  # follows symlinks, as Helm's loader does
            if stat.S_ISDIR(st.st_mode):
                if not rules.ignore(p, True):
                    walk(p)
                continue
            if rules.ignore(p, False):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise invalid("kdu_model", f"cannot load irregular file {full}")
            files.append(p)

    walk("")
    return files


def package_dir(path: str, *, field: str = "kdu_model") -> bytes:
    """A chart directory as a .tgz whose entries are ``<chart name>/<file>``."""
    top = os.path.abspath(path)
    chart_yaml = os.path.join(top, "Chart.yaml")
    if not os.path.isfile(chart_yaml):
        raise invalid(field, f"{path} is not a chart: it has no Chart.yaml")
    with open(chart_yaml, encoding="utf-8") as f:
        try:
            meta = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise invalid(field, f"{path}/Chart.yaml: {e}") from e
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in (".", ".."):
        raise invalid(field, f"{path}/Chart.yaml: name {name!r} is not a chart name")
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in chart_files(top):
            full = os.path.join(top, rel)
            with open(full, "rb") as f:
                data = f.read()
            total += len(data)
            if total > MAX_ARCHIVE:
                raise invalid(field, f"chart {path} is larger than {MAX_ARCHIVE} bytes")
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(os.stat(full).st_mtime)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
