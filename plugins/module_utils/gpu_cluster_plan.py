"""Cluster-wide GPU plan: what every GPU worker's GPUs become in Kubernetes (pure, controller side).

Input is the validated GPU intent of each GPU worker (``kiln_gpu``) and the cluster's named MIG layouts
(``kiln_mig_layouts``). Output is one plain dict that the GPU Operator role renders from:

- per node and GPU: whole GPU or MIG, the layout, where each MIG instance sits (``mig_planner.plan_layout``)
  and the extended resources the NVIDIA device plugin advertises for it;
- per node and cluster-wide resource totals;
- the MIG strategy of the device plugin (one per cluster);
- the mig-parted configuration for the GPU Operator's MIG manager, selected per node by the
  ``nvidia.com/mig.config`` label;
- the device plugin's time-slicing configurations, selected per node by the
  ``nvidia.com/device-plugin.config`` label.

Facts about the NVIDIA components were taken from their documentation (nothing copied): the device plugin
config file (``version: v1``, ``sharing.timeSlicing.resources[].name/replicas``), that a MIG profile's resource
is ``nvidia.com/mig-<profile>`` under the ``mixed`` strategy and ``nvidia.com/gpu`` under ``single``, and the
device plugin's config-manager, which fails on a node that has no label when no default config is named.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
from collections import Counter
from xml.sax.saxutils import escape

from ansible_collections.kiln.cluster.plugins.module_utils.inventory_checks import NO_MIG
from ansible_collections.kiln.cluster.plugins.module_utils.mig_planner import (
    MigPlanError,
    advertised_resources,
    find_model,
    mig_parted_entry,
    plan_layout,
)

WHOLE = "whole"
MIG = "mig"
GPU_RESOURCE = "nvidia.com/gpu"

STRATEGY_NONE = "none"
STRATEGY_SINGLE = "single"
STRATEGY_MIXED = "mixed"

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
# The mig-parted config the GPU Operator itself uses for "MIG off"; kept under the same name.
MIG_DISABLED_CONFIG = "all-disabled"
HOST_MIG_CONFIG_PREFIX = "kiln-"
TIME_SLICING_CONFIG_PREFIX = "ts-"
# The device plugin's config-manager fails on an unlabelled node unless a default config is named, and the
# GPU Operator names none by default; this empty config is that default (no sharing).
NO_TIME_SLICING_CONFIG = "no-time-slicing"
DEVICE_PLUGIN_CONFIG_VERSION = "v1"
MIG_PARTED_CONFIG_VERSION = "v1"

# Config names become node label values: at most 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
# Nominal memory slices of a GPU whose model Kiln has no MIG table for (drawn only, never planned).
_DEFAULT_MEMORY_SLICES = 8


class GpuPlanError(Exception):
    """The intent cannot be planned; ``message`` names the host, the GPU(s) and the reason."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _indices(indices):
    return ", ".join(str(index) for index in indices)


def _memory_slices(model):
    try:
        return find_model(model)[1]["memory_slices"]
    except MigPlanError:
        return _DEFAULT_MEMORY_SLICES


def _model_name(model):
    try:
        return find_model(model)[0]
    except MigPlanError:
        return None


def _gpu_layouts(host, intent, layouts):
    """GPU index -> layout name, or None for a whole GPU."""
    count = intent.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise GpuPlanError("%s: kiln_gpu.count is %r, expected a positive integer" % (host, count))
    mig = intent.get("mig") or {}
    chosen = dict((index, mig.get("layout")) for index in range(count))
    for key, name in (mig.get("per_gpu") or {}).items():
        index = int(key) if str(key).isdigit() else -1
        if not 0 <= index < count:
            raise GpuPlanError("%s: kiln_gpu.mig.per_gpu names GPU %s, but the node has %d GPUs" % (host, key, count))
        chosen[index] = name
    result = {}
    for index, name in sorted(chosen.items()):
        if name is None or name == NO_MIG:
            result[index] = None
        elif name not in layouts:
            raise GpuPlanError("%s: GPU %d: layout %r is not defined in kiln_mig_layouts (defined: %s)"
                               % (host, index, name, ", ".join(sorted(layouts)) or "none"))
        else:
            result[index] = name
    return result


def _plan_node_layouts(host, model, gpu_layouts, layouts):
    """Layout name -> placements, for each layout the node uses; fails naming host, GPUs and profile."""
    planned = {}
    for name in sorted(set(n for n in gpu_layouts.values() if n is not None)):
        try:
            planned[name] = plan_layout(model, layouts[name])
        except MigPlanError as err:
            gpus = [index for index, used in sorted(gpu_layouts.items()) if used == name]
            raise GpuPlanError("%s: GPU %s: MIG layout %s %s cannot be created on %s: %s"
                               % (host, _indices(gpus), name, list(layouts[name]), model, err.message))
    return planned


def _strategy(nodes):
    """``single`` only if each MIG node has MIG on every GPU, all of one profile; ``none`` without MIG."""
    mig_nodes = [node for node in nodes.values() if any(gpu["mode"] == MIG for gpu in node["gpus"])]
    if not mig_nodes:
        return STRATEGY_NONE
    for node in mig_nodes:
        if any(gpu["mode"] == WHOLE for gpu in node["gpus"]):
            return STRATEGY_MIXED
        profiles = set(p["profile"] for gpu in node["gpus"] for p in gpu["placements"])
        if len(profiles) > 1:
            return STRATEGY_MIXED
    return STRATEGY_SINGLE


def _mig_resource(model, profile, strategy):
    """The device plugin's resource for one MIG instance of ``profile`` (named as mig_planner names it)."""
    if strategy == STRATEGY_SINGLE:
        return GPU_RESOURCE
    return next(iter(advertised_resources(model, [profile])))


def _add(totals, resources):
    for name, count in resources.items():
        totals[name] = totals.get(name, 0) + count


def _sorted(resources):
    return dict(sorted(resources.items()))


def _gpu_resources(model, gpu, slicing, strategy):
    """Resources advertised for one GPU: each time-sliced device counts once per replica."""
    if gpu["mode"] == WHOLE:
        return {GPU_RESOURCE: slicing.get("replicas") or 1}
    per_profile = slicing.get("per_profile") or {}
    resources = {}
    for profile, count in sorted(Counter(p["profile"] for p in gpu["placements"]).items()):
        _add(resources, {_mig_resource(model, profile, strategy): count * per_profile.get(profile, 1)})
    return _sorted(resources)


def _time_slicing(node, slicing, strategy):
    """(config name, device plugin config) for the sharing this node really has, or (None, None).

    Only resources present on the node are shared: whole-GPU replicas need a whole GPU, a per-profile entry
    needs an instance of that profile.
    """
    shared = []
    parts = []
    if slicing.get("replicas") and any(gpu["mode"] == WHOLE for gpu in node["gpus"]):
        shared.append({"name": GPU_RESOURCE, "replicas": slicing["replicas"]})
        parts.append("gpu-x%d" % slicing["replicas"])
    present = set(p["profile"] for gpu in node["gpus"] for p in gpu["placements"])
    for profile, replicas in sorted((slicing.get("per_profile") or {}).items()):
        if profile in present:
            shared.append({"name": _mig_resource(node["model"], profile, strategy), "replicas": replicas})
            # Label values cannot hold "+" ("1g.10gb+me").
            parts.append("%s-x%d" % (profile.replace("+", "."), replicas))
    if not shared:
        return None, None
    name = TIME_SLICING_CONFIG_PREFIX + "-".join(parts)
    if not _LABEL_VALUE.match(name):
        name = TIME_SLICING_CONFIG_PREFIX + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    config = {"version": DEVICE_PLUGIN_CONFIG_VERSION, "sharing": {"timeSlicing": {"resources": shared}}}
    return name, config


def _mig_config(host, node, layouts):
    """(config name, mig-parted entries) selecting this node's MIG arrangement."""
    by_layout = {}
    for gpu in node["gpus"]:
        by_layout.setdefault(gpu["layout"], []).append(gpu["index"])
    if list(by_layout) == [None]:
        return MIG_DISABLED_CONFIG, [{"devices": "all", "mig-enabled": False}]
    if len(by_layout) == 1:
        name = next(iter(by_layout))
        return name, [mig_parted_entry(node["model"], layouts[name])]
    entries = []
    for name, indices in sorted(by_layout.items(), key=lambda item: item[1][0]):
        if name is None:
            entries.append({"devices": indices, "mig-enabled": False})
        else:
            entries.append(mig_parted_entry(node["model"], layouts[name], indices))
    return HOST_MIG_CONFIG_PREFIX + host, entries


def _register(configs, name, content, what, host):
    if not _LABEL_VALUE.match(name):
        raise GpuPlanError("%s: %s name %r is not a valid node label value (at most 63 letters, digits, '-', '_' "
                           "or '.', starting and ending alphanumeric); rename the layout or host" % (host, what, name))
    if configs.setdefault(name, content) != content:
        raise GpuPlanError("%s: %s %r means two different things in this cluster; rename the layout so it does "
                           "not clash with Kiln's names (%s, %s<host>, %s...)"
                           % (host, what, name, MIG_DISABLED_CONFIG, HOST_MIG_CONFIG_PREFIX,
                              TIME_SLICING_CONFIG_PREFIX))


def plan_cluster(intents, layouts):
    """Plan every GPU worker.

    intents: host name -> ``kiln_gpu`` (as preflight validated it).
    layouts: ``kiln_mig_layouts`` (layout name -> list of MIG profile names).
    Returns the plan dict described in the module docstring; raises GpuPlanError.
    """
    layouts = layouts or {}
    nodes = {}
    for host in sorted(intents):
        intent = intents[host]
        if not isinstance(intent, dict) or not intent.get("model"):
            raise GpuPlanError("%s: kiln_gpu is missing or has no model; run playbooks/preflight.yml --tags inventory"
                               % host)
        model = intent["model"]
        gpu_layouts = _gpu_layouts(host, intent, layouts)
        planned = _plan_node_layouts(host, model, gpu_layouts, layouts)
        gpus = [{
            "index": index,
            "mode": WHOLE if name is None else MIG,
            "layout": name,
            # Copies, so no two GPUs share an object (YAML dumps would turn that into anchors).
            "placements": [dict(p) for p in planned[name]] if name is not None else [],
        } for index, name in sorted(gpu_layouts.items())]
        nodes[host] = {
            "model": model,
            "model_name": _model_name(model),
            "memory_slices": _memory_slices(model),
            "count": len(gpus),
            "nvswitch": bool(intent.get("nvswitch", False)),
            "gpus": gpus,
        }

    strategy = _strategy(nodes)
    totals = {}
    mig_configs = {MIG_DISABLED_CONFIG: [{"devices": "all", "mig-enabled": False}]}
    sharing_configs = {NO_TIME_SLICING_CONFIG: {"version": DEVICE_PLUGIN_CONFIG_VERSION}}
    for host, node in nodes.items():
        slicing = intents[host].get("time_slicing") or {}
        node_totals = {}
        for gpu in node["gpus"]:
            gpu["resources"] = _gpu_resources(node["model"], gpu, slicing, strategy)
            _add(node_totals, gpu["resources"])
        node["resources"] = _sorted(node_totals)
        _add(totals, node_totals)

        node["mig_config"], entries = _mig_config(host, node, layouts)
        _register(mig_configs, node["mig_config"], entries, "mig-parted config", host)
        node["time_slicing_config"], sharing = _time_slicing(node, slicing, strategy)
        node["labels"] = {MIG_CONFIG_LABEL: node["mig_config"]}
        if sharing is not None:
            _register(sharing_configs, node["time_slicing_config"], sharing, "time-slicing config", host)
            node["labels"][DEVICE_PLUGIN_CONFIG_LABEL] = node["time_slicing_config"]

    all_gpus = [gpu for node in nodes.values() for gpu in node["gpus"]]
    return {
        "strategy": strategy,
        "nodes": nodes,
        "totals": _sorted(totals),
        "summary": {
            "nodes": len(nodes),
            "gpus": len(all_gpus),
            "mig_gpus": sum(1 for gpu in all_gpus if gpu["mode"] == MIG),
            "whole_gpus": sum(1 for gpu in all_gpus if gpu["mode"] == WHOLE),
        },
        "mig_parted_config": {"version": MIG_PARTED_CONFIG_VERSION, "mig-configs": dict(sorted(mig_configs.items()))},
        "mig_default_config": MIG_DISABLED_CONFIG,
        "time_slicing_configs": dict(sorted(sharing_configs.items())),
        "time_slicing_default_config": NO_TIME_SLICING_CONFIG,
        "node_labels": dict((host, dict(node["labels"])) for host, node in nodes.items()),
    }


# -- renderers -----------------------------------------------------------------------------------------


def _instances_by_start(gpu):
    return sorted(gpu["placements"], key=lambda placement: placement["start"])


def _slice_span(placement):
    last = placement["start"] + placement["size"] - 1
    return str(placement["start"]) if last == placement["start"] else "%d-%d" % (placement["start"], last)


def _short(resource):
    return resource[len("nvidia.com/"):] if resource.startswith("nvidia.com/") else resource


def _columns(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _gpu_signature(node, gpu):
    return (gpu["mode"], gpu["layout"], tuple((p["start"], p["size"], p["profile"]) for p in gpu["placements"]),
            tuple(sorted(gpu["resources"].items())), node["time_slicing_config"])


def _node_signature(node):
    # Not the mig-parted config's name: a node with its own arrangement gets a config named after it
    # (kiln-<host>), and nodes whose GPUs are arranged alike are alike.
    return (node["model"], node["memory_slices"], node["time_slicing_config"],
            tuple(_gpu_signature(node, gpu) for gpu in node["gpus"]))


def _group_labels(plan, hosts):
    """The node labels of a group: a value every node shares, or kiln-<node> where each has its own config."""
    out = {}
    for key in sorted(set(k for host in hosts for k in plan["nodes"][host]["labels"])):
        values = [plan["nodes"][host]["labels"].get(key) for host in hosts]
        if len(set(values)) == 1:
            out[key] = values[0]
        elif values == [HOST_MIG_CONFIG_PREFIX + host for host in hosts]:
            out[key] = HOST_MIG_CONFIG_PREFIX + "<node>"
        else:
            out[key] = "(differs per node)"
    return out


def _ranges(numbers):
    """[0, 1, 2, 5] -> "0-2, 5"."""
    out = []
    for number in sorted(numbers):
        if out and out[-1][1] == number - 1:
            out[-1][1] = number
        else:
            out.append([number, number])
    return ", ".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in out)


_HOST_NUMBER = re.compile(r"^(.*?)(\d+)$")
# Host names shown in one group's label before "+N more".
_HOSTS_SHOWN = 4


def _host_ranges(hosts):
    """["hgx1", "hgx2", "hgx3", "a100a"] -> "a100a, hgx1-hgx3": runs of one prefix with consecutive numbers."""
    runs = []
    for host in sorted(hosts, key=lambda h: (_HOST_NUMBER.match(h).group(1), int(_HOST_NUMBER.match(h).group(2)))
                       if _HOST_NUMBER.match(h) else (h, -1)):
        match = _HOST_NUMBER.match(host)
        if match and runs and runs[-1][0] == match.group(1) and runs[-1][3] is not None \
                and int(match.group(2)) == runs[-1][3] + 1 and len(match.group(2)) == len(runs[-1][4]):
            runs[-1][2], runs[-1][3] = host, int(match.group(2))
        else:
            runs.append([match.group(1) if match else host, host, host,
                         int(match.group(2)) if match else None, match.group(2) if match else ""])
    parts = [first if first == last else "%s-%s" % (first, last) for _, first, last, _, _ in runs]
    if len(parts) > _HOSTS_SHOWN:
        return "%s +%d more" % (", ".join(parts[:_HOSTS_SHOWN]), len(parts) - _HOSTS_SHOWN)
    return ", ".join(parts)


def plan_groups(plan):
    """Identical nodes grouped, and within a group its identical GPUs: a list of
    {hosts, label, node, gpu_rows: [{indices, gpu}]}, in the plan's node order. A cluster of thousands of
    nodes built from a few designs draws as a few rows."""
    groups = {}
    for host, node in plan["nodes"].items():
        groups.setdefault(_node_signature(node), {"hosts": [], "node": node})["hosts"].append(host)
    out = []
    for group in groups.values():
        rows = {}
        for gpu in group["node"]["gpus"]:
            rows.setdefault(_gpu_signature(group["node"], gpu), {"indices": [], "gpu": gpu})["indices"].append(
                gpu["index"])
        out.append({"hosts": group["hosts"], "label": _host_ranges(group["hosts"]), "node": group["node"],
                    "gpu_rows": list(rows.values())})
    return out


def _sharing(node, gpu):
    """Time-slicing replicas per device of this GPU: {resource: replicas} for the shared ones only."""
    if gpu["mode"] == WHOLE:
        replicas = gpu["resources"].get(GPU_RESOURCE, 1)
        return {GPU_RESOURCE: replicas} if replicas > 1 else {}
    counts = Counter(p["profile"] for p in gpu["placements"])
    shared = {}
    for profile, count in counts.items():
        resource = _mig_resource_of(node, gpu, profile)
        advertised = gpu["resources"].get(resource, 0)
        same = sum(c for other, c in counts.items() if _mig_resource_of(node, gpu, other) == resource)
        if same and advertised > same:
            shared[resource] = advertised // same
    return shared


def _mig_resource_of(node, gpu, profile):
    """The resource one instance of ``profile`` is advertised as on this GPU (single: nvidia.com/gpu)."""
    names = list(gpu["resources"])
    if names == [GPU_RESOURCE]:
        return GPU_RESOURCE
    return next(iter(advertised_resources(node["model"], [profile])))


def total_breakdown(plan):
    """Cluster totals by resource name, each split by where its devices come from (whole GPUs, time-sliced
    replicas, MIG instances of a profile): [(resource, total, [(count, what)])]. Whole, shared and MIG devices
    are never summed into one number without that split."""
    parts = {}

    def add(resource, what, devices, gpus):
        seen = parts.setdefault((resource, what), [0, 0])
        seen[0] += devices
        seen[1] += gpus

    for node in plan["nodes"].values():
        for gpu in node["gpus"]:
            shared = _sharing(node, gpu)
            if gpu["mode"] == WHOLE:
                replicas = shared.get(GPU_RESOURCE)
                add(GPU_RESOURCE, "time-sliced replicas (x%d)" % replicas if replicas else "whole GPUs",
                    gpu["resources"].get(GPU_RESOURCE, 1), 1)
                continue
            for profile, count in Counter(p["profile"] for p in gpu["placements"]).items():
                resource = _mig_resource_of(node, gpu, profile)
                replicas = shared.get(resource)
                add(resource, "MIG %s instances" % profile + (" time-sliced (x%d)" % replicas if replicas else ""),
                    count * (replicas or 1), 1)
    out = []
    for resource, total in plan["totals"].items():
        split = []
        for (name, what), (devices, gpus) in sorted(parts.items(), key=lambda item: item[0][1]):
            if name != resource:
                continue
            if what == "whole GPUs":
                split.append((devices, what))
            else:
                split.append((devices, "%s on %d GPU%s" % (what, gpus, "" if gpus == 1 else "s")))
        out.append((resource, total, split))
    return out


def render_table(plan):
    """The plan as aligned text lines: one row per group of identical GPUs on identical nodes, then the
    node groups and the cluster totals by resource name."""
    summary = plan["summary"]
    groups = plan_groups(plan)
    lines = ["GPU plan: %d nodes, %d GPUs (%d MIG, %d whole), MIG strategy %s"
             % (summary["nodes"], summary["gpus"], summary["mig_gpus"], summary["whole_gpus"], plan["strategy"]), ""]
    rows = [("NODES", "GPUS", "MODE", "LAYOUT", "MEMORY SLICES: INSTANCE", "ADVERTISES (PER GPU)")]
    for group in groups:
        for row in group["gpu_rows"]:
            gpu = row["gpu"]
            if gpu["mode"] == MIG:
                slices = " ".join("%s:%s" % (_slice_span(p), p["profile"]) for p in _instances_by_start(gpu))
            else:
                slices = "whole GPU"
            shared = _sharing(group["node"], gpu)
            advertises = " ".join("%s=%d%s" % (_short(name), count, " (shared x%d)" % shared[name]
                                               if name in shared else "")
                                  for name, count in gpu["resources"].items())
            rows.append((group["label"], _ranges(row["indices"]), gpu["mode"], gpu["layout"] or "-",
                         slices or "(no instances)", advertises))
    lines.extend(_columns(rows))
    lines.append("")
    rows = [("NODES", "COUNT", "MODEL", "NODE LABELS", "ADVERTISES (PER NODE)")]
    for group in groups:
        node = group["node"]
        labels = " ".join("%s=%s" % item for item in sorted(_group_labels(plan, group["hosts"]).items()))
        advertises = " ".join("%s=%d" % (_short(name), count) for name, count in node["resources"].items())
        rows.append((group["label"], str(len(group["hosts"])), node["model_name"] or node["model"], labels,
                     advertises))
    lines.extend(_columns(rows))
    lines.append("")
    rows = [("CLUSTER TOTAL", "COUNT", "FROM")]
    for resource, total, split in total_breakdown(plan):
        rows.append((resource, str(total), " + ".join("%d %s" % part for part in split)))
    lines.extend(_columns(rows))
    return lines


# Fills: one colour per MIG profile (the same on every row, named in the legend), grey for whole GPUs.
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
            "#bab0ac")
_WHOLE_FILL = "#6b7680"
_FREE_FILL = "#eeeeee"
_SVG_SLICE_WIDTH = 64
_SVG_ROW_HEIGHT = 28
_SVG_TOP = 48
_SVG_MARGIN = 12
# Width of a character at the label font size (sans-serif, 11 px), generous so labels never overflow.
_SVG_CHAR_WIDTH = 7


def _svg_text(x, y, text, anchor="start", size=11, fill="#222222", weight=None):
    return '<text x="%d" y="%d" font-size="%d" text-anchor="%s" fill="%s"%s>%s</text>' % (
        x, y, size, anchor, fill, ' font-weight="%s"' % weight if weight else "", escape(text))


def _svg_rect(x, y, width, height, fill, title=None, extra=""):
    inner = "<title>%s</title>" % escape(title) if title else ""
    return '<rect x="%d" y="%d" width="%d" height="%d" fill="%s"%s>%s</rect>' % (x, y, width, height, fill, extra,
                                                                                inner)


def _label_backing(centre, y, height, text, fill, size=11):
    """A solid box behind a label on a hatched block, so the hatching never runs through the text."""
    width = len(text) * _SVG_CHAR_WIDTH * size // 11 + 8
    return _svg_rect(centre - width // 2, y + 4, width, height - 8, fill)


def _profile_fills(plan):
    """MIG profile -> fill, ordered by size then name, so a profile has one colour in the whole picture."""
    profiles = {}
    for node in plan["nodes"].values():
        for gpu in node["gpus"]:
            for placement in gpu["placements"]:
                profiles[placement["profile"]] = placement["size"]
    ordered = sorted(profiles, key=lambda name: (profiles[name], name))
    return dict((name, _PALETTE[i % len(_PALETTE)]) for i, name in enumerate(ordered))


def render_svg(plan):
    """The plan as an SVG: a row per group of identical GPUs on identical nodes (``hgx1-hgx3 x3 nodes,
    GPU 0-5``), one block per MIG instance over the memory slices it takes (labels sit inside their block, no
    grid line crosses them), whole GPUs grey, time-sliced devices hatched; a legend, and the cluster totals by
    resource name with where each comes from."""
    groups = plan_groups(plan)
    rows = [(group, row) for group in groups for row in group["gpu_rows"]]
    columns = max([g["node"]["memory_slices"] for g, _ in rows] or [_DEFAULT_MEMORY_SLICES])
    fills = _profile_fills(plan)
    labels = ["%s  GPU %s" % (g["label"], _ranges(r["indices"])) for g, r in rows]
    counts = ["x%d node%s x %d GPU%s" % (len(g["hosts"]), "" if len(g["hosts"]) == 1 else "s", len(r["indices"]),
                                         "" if len(r["indices"]) == 1 else "s") for g, r in rows]
    label_width = max([len(text) for text in labels] + [10]) * _SVG_CHAR_WIDTH + 16
    count_width = max([len(text) for text in counts] + [10]) * _SVG_CHAR_WIDTH + 16
    x0 = _SVG_MARGIN + label_width
    grid_width = columns * _SVG_SLICE_WIDTH
    breakdown = total_breakdown(plan)
    legend = [(fill, profile, False) for profile, fill in fills.items()]
    legend += [(_WHOLE_FILL, "whole GPU", False), (_WHOLE_FILL, "time-sliced (hatched)", True),
               (_FREE_FILL, "free memory slices", False)]
    totals_lines = ["%s: %d = %s" % (resource, total, " + ".join("%d %s" % part for part in split))
                    for resource, total, split in breakdown]
    width = max(_SVG_MARGIN * 2 + label_width + grid_width + count_width,
                _SVG_MARGIN * 2 + max([len(line) for line in totals_lines] + [0]) * _SVG_CHAR_WIDTH)
    rows_bottom = _SVG_TOP + len(rows) * _SVG_ROW_HEIGHT
    legend_top = rows_bottom + 16
    totals_top = legend_top + 40
    height = totals_top + 22 + len(totals_lines) * 18 + _SVG_MARGIN
    summary = plan["summary"]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif">' % (width, height, width, height),
           '<defs><pattern id="time-sliced" patternUnits="userSpaceOnUse" width="8" height="8" '
           'patternTransform="rotate(45)"><rect width="3" height="8" fill="#ffffff" fill-opacity="0.45"/>'
           '</pattern></defs>',
           _svg_rect(0, 0, width, height, "#ffffff"),
           _svg_text(_SVG_MARGIN, 20, "GPU plan: %d nodes, %d GPUs (%d MIG, %d whole), MIG strategy %s"
                     % (summary["nodes"], summary["gpus"], summary["mig_gpus"], summary["whole_gpus"],
                        plan["strategy"]), size=14, weight="bold")]
    # Slice numbers above the grid only: nothing is drawn across the rows.
    for column in range(columns):
        out.append(_svg_text(x0 + column * _SVG_SLICE_WIDTH + _SVG_SLICE_WIDTH // 2, _SVG_TOP - 8,
                             "slice %d" % column, anchor="middle", size=10, fill="#666666"))
    for number, ((group, row), label, count) in enumerate(zip(rows, labels, counts)):
        node, gpu = group["node"], row["gpu"]
        y = _SVG_TOP + number * _SVG_ROW_HEIGHT
        height_row = _SVG_ROW_HEIGHT - 4
        middle = y + height_row // 2 + 4
        where = "%s GPU %s" % (", ".join(group["hosts"][:_HOSTS_SHOWN]) + (" +%d more" % (len(group["hosts"]) -
                               _HOSTS_SHOWN) if len(group["hosts"]) > _HOSTS_SHOWN else ""), _ranges(row["indices"]))
        out.append(_svg_text(_SVG_MARGIN, middle, label))
        out.append(_svg_text(x0 + grid_width + 10, middle, count, fill="#555555"))
        # A model with fewer memory slices (A30: 4) spreads them over the same width.
        slice_width = grid_width // node["memory_slices"]
        shared = _sharing(node, gpu)
        if gpu["mode"] == WHOLE:
            replicas = shared.get(GPU_RESOURCE)
            text = "whole GPU" + (" time-sliced x%d" % replicas if replicas else "")
            out.append(_svg_rect(x0, y, grid_width - 2, height_row, _WHOLE_FILL, "%s: %s" % (where, text)))
            if replicas:
                out.append(_svg_rect(x0, y, grid_width - 2, height_row, "url(#time-sliced)"))
                out.append(_label_backing(x0 + grid_width // 2, y, height_row, text, _WHOLE_FILL))
            out.append(_svg_text(x0 + grid_width // 2, middle, text, anchor="middle", fill="#ffffff"))
            continue
        taken = set()
        for placement in _instances_by_start(gpu):
            left = x0 + placement["start"] * slice_width
            block = placement["size"] * slice_width - 2
            resource = _mig_resource_of(node, gpu, placement["profile"])
            replicas = shared.get(resource)
            text = placement["profile"] + (" x%d" % replicas if replicas else "")
            out.append(_svg_rect(left, y, block, height_row, fills[placement["profile"]],
                                 "%s: %s on %s" % (where, text, "slice %s" % _slice_span(placement)
                                                   if placement["size"] == 1 else "slices " + _slice_span(placement))))
            if replicas:
                out.append(_svg_rect(left, y, block, height_row, "url(#time-sliced)"))
                out.append(_label_backing(left + block // 2, y, height_row, text, fills[placement["profile"]], 10))
            out.append(_svg_text(left + block // 2, middle, text, anchor="middle", size=10, fill="#ffffff"))
            taken.update(range(placement["start"], placement["start"] + placement["size"]))
        free = [i for i in range(node["memory_slices"]) if i not in taken]
        for start in free:
            out.append(_svg_rect(x0 + start * slice_width, y, slice_width - 2, height_row, _FREE_FILL,
                                 "%s: slice %d free" % (where, start)))
    x = _SVG_MARGIN
    for fill, text, hatched in legend:
        out.append(_svg_rect(x, legend_top, 16, 16, fill, extra=' stroke="#999999"' if fill == _FREE_FILL else ""))
        if hatched:
            out.append(_svg_rect(x, legend_top, 16, 16, "url(#time-sliced)"))
        out.append(_svg_text(x + 22, legend_top + 13, text))
        x += 22 + len(text) * _SVG_CHAR_WIDTH + 18
    out.append(_svg_text(_SVG_MARGIN, totals_top + 14, "Cluster totals by resource name", size=12, weight="bold"))
    for number, line in enumerate(totals_lines):
        out.append(_svg_text(_SVG_MARGIN, totals_top + 32 + number * 18, line))
    out.append("</svg>")
    return "\n".join(out) + "\n"
