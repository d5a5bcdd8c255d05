"""Cloud sync parity: compare the on-prem and the cloud desired (and live) state (pure, controller side).

Both sides are flat ``key -> value`` dicts (``cloud_sync.onprem_state`` / ``cloud_sync.cloud_state``, or the live
snapshots of ``live_state``). Every key of either side becomes one row: ``ok`` when the values are equal,
``allowed`` when they differ and the inventory declares the difference (``allowed_differences``: key or glob,
and the reason), ``DRIFT`` otherwise. Any ``DRIFT`` row fails the check.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import fnmatch
import gzip
import json

from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync import digest, minor

OK = "ok"
ALLOWED = "allowed"
DRIFT = "DRIFT"
MISSING = "(missing)"
_CELL = 48
_DETAIL_PATHS = 6


def _show(value):
    if value is MISSING or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value) if value else "(none)"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()) and len(value) <= 2:
        return ", ".join("%s=%s" % item for item in sorted(value.items())) or "(none)"
    return digest(value)


def _leaves(value, path=""):
    if isinstance(value, dict) and value:
        for key in sorted(value):
            for leaf in _leaves(value[key], "%s.%s" % (path, key) if path else str(key)):
                yield leaf
    else:
        yield path or ".", value


def differing_paths(onprem, cloud):
    """Dotted paths whose values differ between two documents (values files, configs)."""
    left, right = dict(_leaves(onprem)), dict(_leaves(cloud))
    return [path for path in sorted(set(left) | set(right)) if left.get(path, MISSING) != right.get(path, MISSING)]


def _allowed(key, allowed_differences):
    for entry in allowed_differences or []:
        if fnmatch.fnmatchcase(key, entry["key"]):
            return entry
    return None


def compare(onprem, cloud, allowed_differences=None):
    """Rows ``{key, onprem, cloud, status, detail}`` sorted by key, and the declared differences that matched."""
    rows = []
    used = set()
    for key in sorted(set(onprem) | set(cloud)):
        left, right = onprem.get(key, MISSING), cloud.get(key, MISSING)
        row = {"key": key, "onprem": _show(left), "cloud": _show(right), "status": OK, "detail": ""}
        if left != right:
            if isinstance(left, (dict, list)) and isinstance(right, (dict, list)):
                paths = differing_paths(left, right)
                row["detail"] = "differs at " + ", ".join(paths[:_DETAIL_PATHS]) + (
                    " (+%d more)" % (len(paths) - _DETAIL_PATHS) if len(paths) > _DETAIL_PATHS else "")
            entry = _allowed(key, allowed_differences)
            if entry is not None:
                row["status"] = ALLOWED
                row["detail"] = ("allowed: %s" % entry.get("reason", "")).strip() + (
                    "; " + row["detail"] if row["detail"] else "")
                used.add(entry["key"])
            else:
                row["status"] = DRIFT
        rows.append(row)
    return rows, sorted(used)


def _cell(text, width):
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(rows, title):
    """Side-by-side table: KEY | ON-PREM | CLOUD | STATUS, then one line per difference with its detail."""
    header = ("KEY", "ON-PREM", "CLOUD", "STATUS")
    cells = [header] + [(r["key"], _cell(r["onprem"], _CELL), _cell(r["cloud"], _CELL), r["status"]) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, ""]
    for index, row in enumerate(cells):
        lines.append(" | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths))
    differences = [r for r in rows if r["status"] != OK]
    if differences:
        lines.append("")
        for row in differences:
            lines.append("%s %s: on-prem %s, cloud %s%s" % (row["status"], row["key"], row["onprem"], row["cloud"],
                                                             "; " + row["detail"] if row["detail"] else ""))
    return lines


def summary(rows):
    counts = {OK: 0, ALLOWED: 0, DRIFT: 0}
    for row in rows:
        counts[row["status"]] += 1
    return counts


# -- live state ----------------------------------------------------------------------------------------------

# CustomResourceDefinition groups of the platform components: the live check compares which of these exist.
WATCHED_CRD_GROUPS = ("nvidia.com", "nfd.k8s-sigs.io", "argoproj.io", "istio.io", "velero.io",
                      "monitoring.coreos.com", "serving.kserve.io", "goharbor.io")
GPU_RESOURCE_PREFIX = "nvidia.com/"


def decode_helm_release(data):
    """A Helm 3 release Secret's ``release`` field (base64 of base64 of gzip of JSON) -> release dict."""
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw.decode("utf-8"))


def _quantity(text):
    text = str(text)
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


def live_state(version, crds, release_secrets, nodes):
    """Flat live state of one cluster.

    version: the server's ``major``/``minor`` (or ``git_version``); crds: CRD names; release_secrets: the
    ``data.release`` of every Helm release Secret with ``status=deployed``; nodes: [{"name", "allocatable"}].
    """
    state = {"live.kubernetes.minor": minor(version)}
    watched = sorted(name for name in crds if any(name.endswith("." + group) or name.endswith(group)
                                                  for group in WATCHED_CRD_GROUPS))
    state["live.crds"] = watched
    for secret in release_secrets:
        release = decode_helm_release(secret)
        state["live.release.%s.version" % release["name"]] = str(release["chart"]["metadata"]["version"])
    totals = {}
    for node in nodes:
        for resource, amount in (node.get("allocatable") or {}).items():
            if resource.startswith(GPU_RESOURCE_PREFIX):
                totals[resource] = totals.get(resource, 0) + _quantity(amount)
    for resource, amount in sorted(totals.items()):
        state["live.gpu.%s" % resource] = amount
    return state


def read_live_state(api_client):
    """``live_state`` of the cluster behind a ``kubernetes.client.ApiClient`` (read-only calls)."""
    from kubernetes import client  # only the live check needs the Kubernetes client

    info = client.VersionApi(api_client).get_code()
    crds = [item.metadata.name for item in client.ApiextensionsV1Api(api_client).list_custom_resource_definition().items]
    core = client.CoreV1Api(api_client)
    secrets = core.list_secret_for_all_namespaces(label_selector="owner=helm,status=deployed").items
    nodes = [{"name": n.metadata.name, "allocatable": n.status.allocatable or {}} for n in core.list_node().items]
    return live_state("%s.%s" % (info.major, info.minor.rstrip("+")), crds,
                      [s.data["release"] for s in secrets if s.data and "release" in s.data], nodes)
