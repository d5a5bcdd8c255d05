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


def render_table(plan):
    """The plan as aligned text lines: one row per GPU, then node and cluster totals."""
    summary = plan["summary"]
    lines = ["GPU plan: %d nodes, %d GPUs (%d MIG, %d whole), MIG strategy %s"
             % (summary["nodes"], summary["gpus"], summary["mig_gpus"], summary["whole_gpus"], plan["strategy"]), ""]
    rows = [("NODE", "GPU", "MODE", "LAYOUT", "MEMORY SLICES: INSTANCE", "ADVERTISES")]
    for host, node in plan["nodes"].items():
        for gpu in node["gpus"]:
            if gpu["mode"] == MIG:
                slices = " ".join("%s:%s" % (_slice_span(p), p["profile"]) for p in _instances_by_start(gpu))
            else:
                slices = "whole GPU"
            advertises = " ".join("%s=%d" % (_short(name), count) for name, count in gpu["resources"].items())
            rows.append((host, str(gpu["index"]), gpu["mode"], gpu["layout"] or "-", slices or "(no instances)",
                         advertises))
    lines.extend(_columns(rows))
    lines.append("")
    rows = [("NODE", "MODEL", "NODE LABELS", "ADVERTISES")]
    for host, node in plan["nodes"].items():
        labels = " ".join("%s=%s" % item for item in sorted(node["labels"].items()))
        advertises = " ".join("%s=%d" % (_short(name), count) for name, count in node["resources"].items())
        rows.append((host, node["model_name"] or node["model"], labels, advertises))
    lines.extend(_columns(rows))
    lines.append("")
    rows = [("CLUSTER TOTAL", "COUNT")]
    rows.extend((name, str(count)) for name, count in plan["totals"].items())
    lines.extend(_columns(rows))
    return lines


# Instance fills, in order of the instance's first memory slice on its GPU.
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")
_WHOLE_FILL = "#8c96a0"
_FREE_FILL = "#eeeeee"
_SVG_LABEL_WIDTH = 140
_SVG_SLICE_WIDTH = 64
_SVG_ROW_HEIGHT = 26
_SVG_TOP = 44
_SVG_MARGIN = 10


def _svg_text(x, y, text, anchor="start", size=11, fill="#222222"):
    return '<text x="%d" y="%d" font-size="%d" text-anchor="%s" fill="%s">%s</text>' % (
        x, y, size, anchor, fill, escape(text))


def render_svg(plan):
    """The plan as an SVG: one row per GPU, one rectangle per memory slice, filled by the instance on it."""
    gpus = [(host, node, gpu) for host, node in plan["nodes"].items() for gpu in node["gpus"]]
    columns = max([node["memory_slices"] for _, node, _ in gpus] or [_DEFAULT_MEMORY_SLICES])
    width = _SVG_MARGIN * 2 + _SVG_LABEL_WIDTH + columns * _SVG_SLICE_WIDTH
    height = _SVG_TOP + len(gpus) * _SVG_ROW_HEIGHT + _SVG_MARGIN
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif">' % (width, height, width, height),
           '<rect width="%d" height="%d" fill="#ffffff"/>' % (width, height),
           _svg_text(_SVG_MARGIN, 18, "GPU plan: MIG strategy %s, %d GPUs" % (plan["strategy"], len(gpus)), size=14)]
    for column in range(columns):
        x = _SVG_MARGIN + _SVG_LABEL_WIDTH + column * _SVG_SLICE_WIDTH + _SVG_SLICE_WIDTH // 2
        out.append(_svg_text(x, _SVG_TOP - 6, "slice %d" % column, anchor="middle", size=10, fill="#666666"))
    for row, (host, node, gpu) in enumerate(gpus):
        y = _SVG_TOP + row * _SVG_ROW_HEIGHT
        # A model with fewer memory slices (A30: 4) spreads them over the same width.
        slice_width = columns * _SVG_SLICE_WIDTH // node["memory_slices"]
        x0 = _SVG_MARGIN + _SVG_LABEL_WIDTH
        out.append(_svg_text(_SVG_MARGIN, y + 17, "%s GPU %d" % (host, gpu["index"])))
        owner = {}
        for number, placement in enumerate(_instances_by_start(gpu)):
            for memory_slice in range(placement["start"], placement["start"] + placement["size"]):
                owner[memory_slice] = (number, placement)
        for memory_slice in range(node["memory_slices"]):
            if gpu["mode"] == WHOLE:
                fill, title = _WHOLE_FILL, "whole GPU"
            elif memory_slice in owner:
                number, placement = owner[memory_slice]
                fill, title = _PALETTE[number % len(_PALETTE)], "%s (instance %d)" % (placement["profile"], number)
            else:
                fill, title = _FREE_FILL, "free"
            out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#ffffff" stroke-width="2">'
                       '<title>%s</title></rect>' % (x0 + memory_slice * slice_width, y, slice_width,
                                                     _SVG_ROW_HEIGHT - 2, fill,
                                                     escape("%s GPU %d slice %d: %s" % (host, gpu["index"],
                                                                                       memory_slice, title))))
        if gpu["mode"] == WHOLE:
            label = "whole GPU" + (" x%d" % gpu["resources"][GPU_RESOURCE]
                                   if gpu["resources"].get(GPU_RESOURCE, 1) > 1 else "")
            out.append(_svg_text(x0 + node["memory_slices"] * slice_width // 2, y + 17, label, anchor="middle",
                                 fill="#ffffff"))
        for placement in _instances_by_start(gpu):
            centre = x0 + placement["start"] * slice_width + placement["size"] * slice_width // 2
            out.append(_svg_text(centre, y + 17, placement["profile"], anchor="middle", size=10, fill="#ffffff"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
